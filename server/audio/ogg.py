"""Incremental Ogg demuxer (RFC 3533): bytes in any chunking -> Opus/Vorbis packets.

Sans-I/O: `feed(bytes)` returns the events of every page completed so far;
a partial page waits in a buffer for the next call. A page is at most
27 + 255 + 255 * 255 = 65,307 bytes, so the buffer stays small for valid input.

What it handles:
- Packets laced across segments and pages (continued-packet flag).
- Several logical streams: the first Opus or Vorbis stream is selected and the
  pages of any other serial number are skipped without assembling them.
- Chained streams (a new beginning-of-stream page after the selected stream's
  end): the new stream's headers produce a new `CodecSetup`.
- End trimming: the granule position of the end-of-stream page says how many
  samples the stream really has; it is passed on as `EncodedPacket.end_at`.
  (Opus pre-skip is applied by libavcodec itself, from the OpusHead extradata.)

What it does not do: verify page CRCs. The bytes arrive over TCP (WebSocket),
so corruption in transit is not a concern; structural checks (capture
pattern, version, sizes, header magic) still reject garbage at once.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field

from server.audio.packets import (
    MAX_PENDING_BYTES,
    Codec,
    DemuxEvent,
    EncodedPacket,
    opus_pre_skip,
    opus_setup,
    vorbis_setup,
)
from server.errors import AudioError

logger = logging.getLogger(__name__)

_CAPTURE = b"OggS"
_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, nsegs
_FLAG_CONTINUED = 0x01
_FLAG_BOS = 0x02
_FLAG_EOS = 0x04


@dataclass
class _Stream:
    """The selected logical stream."""

    serial: int
    codec: Codec
    headers: list[bytes] = field(default_factory=list)  # header packets still being collected
    header_count: int = 0  # header packets seen so far
    pre_skip: int = 0
    partial: bytearray = field(default_factory=bytearray)  # a packet continued on the next page
    ended: bool = False

    @property
    def headers_needed(self) -> int:
        return 2 if self.codec == "opus" else 3  # OpusHead + OpusTags / ident + comment + setup


class OggDemuxer:
    """Ogg pages -> `CodecSetup` + `EncodedPacket` events for one Opus or Vorbis stream."""

    def __init__(self, max_pending: int = MAX_PENDING_BYTES) -> None:
        self._max_pending = max_pending
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0], for error messages
        self._stream: _Stream | None = None
        self._pages = 0

    def feed(self, data: bytes) -> list[DemuxEvent]:
        self._buf += data
        events: list[DemuxEvent] = []
        pos = 0
        buf = self._buf
        while True:
            page_len = self._page_length(buf, pos)
            if page_len is None:
                break
            self._page(memoryview(buf)[pos : pos + page_len], events)
            pos += page_len
        if pos:
            del buf[:pos]
            self._offset += pos
        if len(buf) > self._max_pending:
            raise AudioError(f"Ogg stream holds more than {self._max_pending} undecodable bytes")
        return events

    def finish(self) -> list[DemuxEvent]:
        """End of input: whatever partial page or packet remains is dropped."""
        if self._buf or (self._stream is not None and self._stream.partial):
            logger.debug("Ogg stream ended inside a page or packet; dropping the tail")
        self._buf.clear()
        return []

    # -- pages ----------------------------------------------------------------

    def _page_length(self, buf: bytearray, pos: int) -> int | None:
        """Total length of the page at `pos`, or None if it is not complete yet."""
        avail = len(buf) - pos
        if avail <= 0:
            return None
        head = bytes(buf[pos : pos + 4])
        if not _CAPTURE.startswith(head[: min(4, avail)]):
            raise AudioError(
                f"not an Ogg stream: no 'OggS' page at byte {self._offset + pos}"
                + (" (page length mismatch?)" if self._pages else "")
            )
        if avail < 27:
            return None
        if buf[pos + 4] != 0:
            raise AudioError(f"unsupported Ogg page version {buf[pos + 4]}")
        nsegs = buf[pos + 26]
        if avail < 27 + nsegs:
            return None
        body = sum(buf[pos + 27 : pos + 27 + nsegs])
        total = 27 + nsegs + body
        return total if avail >= total else None

    def _page(self, page: memoryview, events: list[DemuxEvent]) -> None:
        _, _, flags, granule, serial, _, _, nsegs = _HEADER.unpack_from(page)
        self._pages += 1
        lacing = page[27 : 27 + nsegs]
        body = page[27 + nsegs :]

        stream = self._stream
        if flags & _FLAG_BOS and (stream is None or stream.ended):
            stream = self._begin(serial, body, lacing)
            if stream is None:
                return
        if stream is None or serial != stream.serial:
            if stream is None and not flags & _FLAG_BOS:
                raise AudioError("Ogg stream has no Opus or Vorbis logical stream")
            return  # another logical stream (video, metadata): skipped

        packets: list[bytes] = []
        start = 0
        size = 0
        continued = bool(flags & _FLAG_CONTINUED)
        if not continued and stream.partial:
            logger.debug("Ogg packet continuation missing; dropping a partial packet")
            stream.partial.clear()
        drop_first = continued and not stream.partial and stream.header_count > 0
        for seg in lacing:
            size += seg
            if seg < 255:
                chunk = body[start : start + size]
                if drop_first:  # tail of a packet whose beginning we never saw
                    drop_first = False
                elif stream.partial:
                    stream.partial += chunk
                    packets.append(bytes(stream.partial))
                    stream.partial.clear()
                else:
                    packets.append(bytes(chunk))
                start += size
                size = 0
        if size and not drop_first:  # packet continues on the next page
            stream.partial += body[start : start + size]
            if len(stream.partial) > self._max_pending:
                raise AudioError(f"Ogg packet larger than {self._max_pending} bytes: not audio")

        for i, packet in enumerate(packets):
            end_at = None
            if flags & _FLAG_EOS and i == len(packets) - 1 and granule >= 0:
                end_at = max(0, granule - stream.pre_skip)
            self._packet(stream, packet, end_at, events)
        if flags & _FLAG_EOS:
            stream.ended = True

    def _begin(self, serial: int, body: memoryview, lacing: memoryview) -> _Stream | None:
        """A beginning-of-stream page: select the stream if it is Opus or Vorbis."""
        first = bytes(body[: lacing[0]]) if len(lacing) else b""
        codec: Codec
        if first.startswith(b"OpusHead"):
            codec = "opus"
        elif first.startswith(b"\x01vorbis"):
            codec = "vorbis"
        else:
            logger.debug("skipping Ogg logical stream %08x: not Opus or Vorbis", serial)
            return None
        self._stream = _Stream(serial=serial, codec=codec)
        return self._stream

    def _packet(
        self, stream: _Stream, packet: bytes, end_at: int | None, events: list[DemuxEvent]
    ) -> None:
        if stream.header_count < stream.headers_needed:
            stream.header_count += 1
            if stream.codec == "opus":
                if stream.header_count == 1:
                    setup = opus_setup(packet)
                    stream.pre_skip = opus_pre_skip(packet)
                    events.append(setup)
                elif not packet.startswith(b"OpusTags"):
                    raise AudioError("Opus stream: second packet is not OpusTags")
            else:
                stream.headers.append(packet)
                if stream.header_count == 3:
                    setup = vorbis_setup(stream.headers)
                    stream.headers = []
                    events.append(setup)
            return
        if packet:
            events.append(EncodedPacket(packet, end_at=end_at))
