"""Incremental WebM/Matroska demuxer: EBML bytes in any chunking -> audio packets.

Sans-I/O: `feed(bytes)` parses every element completed so far and returns
events; an incomplete element header, or an incomplete element whose content
we need (track headers, blocks), waits in a buffer for the next call. Elements
we do not need (SeekHead, Info, Cues, Tags, video blocks...) are skipped as
their bytes arrive, without buffering them, so memory stays bounded by the
largest element we keep (capped, `max_pending`).

Browsers' MediaRecorder writes a live stream: the Segment and every Cluster
have "unknown size" (all-ones size field), so their end is only known when an
element that cannot be their child appears (a new Cluster ends the previous
one). That rule (Matroska spec, "Unknown-Sized Element") is implemented with a
table of the parent of each element we know.

The first audio track whose codec is Opus (`A_OPUS`) or Vorbis (`A_VORBIS`)
is selected; blocks of other tracks are skipped. An element the Matroska
specification does not allow where it appears is skipped too, but more than
16 of them (or 64 KiB) between two audio packets is garbage: `AudioError`. SimpleBlocks and
Blocks in BlockGroups are read, with all three lacing modes; DiscardPadding of
a BlockGroup becomes `EncodedPacket.trim_end`. Block timestamps are not used:
packets are decoded back to back (a live recorder does not leave gaps).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from server.audio.packets import (
    MAX_PENDING_BYTES,
    OPUS_RATE,
    CodecSetup,
    DemuxEvent,
    EncodedPacket,
    opus_head,
    opus_setup,
    read_xiph_sizes,
    vorbis_setup_from_private,
)
from server.errors import AudioError

logger = logging.getLogger(__name__)

# Element IDs (with their length marker, as written in the stream).
EBML = 0x1A45DFA3
SEGMENT = 0x18538067
SEEK_HEAD = 0x114D9B74
INFO = 0x1549A966
TRACKS = 0x1654AE6B
CLUSTER = 0x1F43B675
CUES = 0x1C53BB6B
ATTACHMENTS = 0x1941A469
CHAPTERS = 0x1043A770
TAGS = 0x1254C367
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
TRACK_TYPE = 0x83
CODEC_ID = 0x86
CODEC_PRIVATE = 0x63A2
CODEC_DELAY = 0x56AA
CONTENT_ENCODINGS = 0x6D80
AUDIO = 0xE1
SAMPLING_FREQUENCY = 0xB5
CHANNELS = 0x9F
TIMECODE = 0xE7
SILENT_TRACKS = 0x5854
POSITION = 0xA7
PREV_SIZE = 0xAB
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
ENCRYPTED_BLOCK = 0xAF
BLOCK = 0xA1
DISCARD_PADDING = 0x75A2
VOID = 0xEC
CRC32 = 0xBF

#: Where each element may appear: used to close unknown-size elements.
#: None means top level. Elements not listed are taken as children of
#: whatever element is open (and skipped unless we need them).
_PARENT: dict[int, int | None] = {
    EBML: None,
    SEGMENT: None,
    **{i: SEGMENT for i in (SEEK_HEAD, INFO, TRACKS, CLUSTER, CUES, ATTACHMENTS, CHAPTERS, TAGS)},
    TRACK_ENTRY: TRACKS,
    **{
        i: CLUSTER
        for i in (
            TIMECODE,
            SILENT_TRACKS,
            POSITION,
            PREV_SIZE,
            SIMPLE_BLOCK,
            BLOCK_GROUP,
            ENCRYPTED_BLOCK,
        )
    },
}
_GLOBAL = frozenset({VOID, CRC32})
#: The children the Matroska specification allows in each element we descend into
#: (None: the top level). Anything else there is unknown data; a few unknown
#: elements are skipped, a run of them is garbage (`_MAX_UNKNOWN`).
_CHILDREN: dict[int | None, frozenset[int]] = {
    None: frozenset({EBML, SEGMENT}),
    SEGMENT: frozenset({SEEK_HEAD, INFO, TRACKS, CLUSTER, CUES, ATTACHMENTS, CHAPTERS, TAGS}),
    TRACKS: frozenset({TRACK_ENTRY}),
    TRACK_ENTRY: frozenset({
        TRACK_NUMBER, 0x73C5, TRACK_TYPE, 0xB9, 0x88, 0x55AA, 0x55AB, 0x55AC, 0x55AD, 0x55AE,
        0x55AF, 0x9C, 0x6DE7, 0x6DF8, 0x23E383, 0x234E7A, 0x23314F, 0x537F, 0x55EE, 0x41E4,
        0x536E, 0x22B59C, 0x22B59D, CODEC_ID, CODEC_PRIVATE, 0x258688, 0x7446, 0x3A9697,
        0x3B4040, 0x26B240, 0xAA, 0x6FAB, CODEC_DELAY, 0x56BB, 0x6624, 0xE0, AUDIO, 0xE2,
        CONTENT_ENCODINGS,
    }),
    AUDIO: frozenset({SAMPLING_FREQUENCY, 0x78B5, CHANNELS, 0x7D7B, 0x6264, 0x52F1}),
    CLUSTER: frozenset({TIMECODE, SILENT_TRACKS, POSITION, PREV_SIZE, SIMPLE_BLOCK, BLOCK_GROUP,
                        ENCRYPTED_BLOCK}),
    BLOCK_GROUP: frozenset({BLOCK, 0xA2, 0x75A1, 0x9B, 0xFA, 0xFB, 0xFD, 0xA4, DISCARD_PADDING,
                            0x8E, 0xC8}),
}
#: Unknown elements (or bytes of them) allowed between two audio packets: garbage
#: after a valid header parses as a stream of such elements, each skipped.
_MAX_UNKNOWN = 16
_MAX_UNKNOWN_BYTES = 64 * 1024
#: Master elements we descend into; every other element is read whole or skipped.
_MASTERS = frozenset({SEGMENT, TRACKS, TRACK_ENTRY, AUDIO, CLUSTER, BLOCK_GROUP})
#: Leaf elements whose content we need; the rest are skipped.
_LEAVES = frozenset(
    {
        TRACK_NUMBER,
        TRACK_TYPE,
        CODEC_ID,
        CODEC_PRIVATE,
        CODEC_DELAY,
        CONTENT_ENCODINGS,
        SAMPLING_FREQUENCY,
        CHANNELS,
        SIMPLE_BLOCK,
        BLOCK,
        DISCARD_PADDING,
    }
)

_UNKNOWN = -1
#: Real streams nest at most 5 deep (Segment/Tracks/TrackEntry/Audio, Segment/Cluster/BlockGroup).
_MAX_DEPTH = 8
_TRACK_TYPE_AUDIO = 2


@dataclass
class _Open:
    """An open master element: its ID and absolute end offset (None: unknown size)."""

    id: int
    end: int | None


@dataclass
class _Track:
    number: int = 0
    type: int = 0
    codec_id: str = ""
    private: bytes = b""
    codec_delay_ns: int = 0
    sampling_frequency: float = 0.0
    channels: int = 1
    encoded: bool = False  # has ContentEncodings (compression / encryption)


def read_vint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """An EBML variable-size integer at `pos` -> (value without marker, length), or
    None if more bytes are needed. Raises on an invalid first byte. The value
    `_UNKNOWN` is returned for the reserved all-ones value (unknown size)."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first == 0:
        raise AudioError("invalid EBML variable-size integer (longer than 8 bytes)")
    length = 9 - first.bit_length()
    if pos + length > len(data):
        return None
    value = first & (0xFF >> length)
    for i in range(1, length):
        value = (value << 8) | data[pos + i]
    if value == (1 << (7 * length)) - 1:
        return _UNKNOWN, length
    return value, length


def _read_id(data: bytearray, pos: int) -> tuple[int, int] | None:
    if pos >= len(data):
        return None
    first = data[pos]
    length = 9 - first.bit_length() if first else 9
    if length > 4:
        raise AudioError(f"invalid EBML element ID byte 0x{first:02x}")
    if pos + length > len(data):
        return None
    return int.from_bytes(data[pos : pos + length], "big"), length


def _uint(data: memoryview | bytes) -> int:
    if len(data) > 8:
        raise AudioError("EBML unsigned integer longer than 8 bytes")
    return int.from_bytes(data, "big")


def _sint(data: memoryview | bytes) -> int:
    if len(data) > 8:
        raise AudioError("EBML signed integer longer than 8 bytes")
    return int.from_bytes(data, "big", signed=True)


def _float(data: memoryview | bytes) -> float:
    if len(data) == 4:
        return float(struct.unpack(">f", data)[0])
    if len(data) == 8:
        return float(struct.unpack(">d", data)[0])
    if len(data) == 0:
        return 0.0
    raise AudioError(f"EBML float of invalid length {len(data)}")


def parse_block(data: bytes) -> tuple[int, list[bytes]]:
    """A SimpleBlock / Block body -> (track number, frames), handling lacing."""
    vint = read_vint(data, 0)
    if vint is None or vint[0] == _UNKNOWN or len(data) < vint[1] + 3:
        raise AudioError("truncated Matroska block header")
    track, n = vint
    flags = data[n + 2]
    pos = n + 3
    lacing = (flags >> 1) & 0x03
    if lacing == 0:
        return track, [data[pos:]]
    if pos >= len(data):
        raise AudioError("truncated Matroska block lacing")
    count = data[pos] + 1
    pos += 1
    sizes: list[int] = []
    if lacing == 1:  # Xiph
        sizes, pos = read_xiph_sizes(data, pos, count - 1, "Matroska block")
    elif lacing == 3:  # EBML: first size, then signed differences
        first = read_vint(data, pos)
        if first is None or first[0] == _UNKNOWN:
            raise AudioError("truncated EBML lacing in Matroska block")
        sizes.append(first[0])
        pos += first[1]
        for _ in range(count - 2):
            diff = read_vint(data, pos)
            if diff is None:
                raise AudioError("truncated EBML lacing in Matroska block")
            raw, length = diff
            if raw == _UNKNOWN:
                raw = (1 << (7 * length)) - 1
            sizes.append(sizes[-1] + raw - ((1 << (7 * length - 1)) - 1))
            pos += length
    else:  # fixed size
        rest = len(data) - pos
        if rest % count:
            raise AudioError("Matroska fixed-size lacing does not divide the block")
        sizes = [rest // count] * (count - 1)
    last = len(data) - pos - sum(sizes)
    if last < 0 or any(s < 0 for s in sizes):
        raise AudioError("Matroska block lacing sizes exceed the block")
    sizes.append(last)
    frames = []
    for size in sizes:
        frames.append(data[pos : pos + size])
        pos += size
    return track, frames


class WebmDemuxer:
    """WebM / Matroska bytes -> `CodecSetup` + `EncodedPacket` events for one audio track."""

    def __init__(self, max_pending: int = MAX_PENDING_BYTES) -> None:
        self._max_pending = max_pending
        self._buf = bytearray()
        self._base = 0  # absolute stream offset of _buf[0]
        self._skip = 0  # bytes of a skipped element still to discard
        self._stack: list[_Open] = []
        self._started = False
        self._track: _Track | None = None  # TrackEntry being read
        self._tracks: list[_Track] = []  # TrackEntries of the current Tracks element
        self._selected: _Track | None = None
        self._setup: CodecSetup | None = None
        self._group: list[bytes] = []  # frames of the Block in the open BlockGroup
        self._discard_ns = 0
        self._unknown = 0  # unknown elements since the last audio packet
        self._unknown_bytes = 0

    def feed(self, data: bytes) -> list[DemuxEvent]:
        events: list[DemuxEvent] = []
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            self._base += n
            data = data[n:]
        self._buf += data
        consumed = self._parse(events)
        if consumed:
            del self._buf[:consumed]
            self._base += consumed
        if len(self._buf) > self._max_pending:
            raise AudioError(
                f"WebM element larger than {self._max_pending} bytes: not an audio stream"
            )
        return events

    def finish(self) -> list[DemuxEvent]:
        """End of input: close what is open (emitting a pending BlockGroup)."""
        events: list[DemuxEvent] = []
        if self._buf or self._skip:
            logger.debug("WebM stream ended inside an element; dropping the tail")
        while self._stack:
            self._close(self._stack.pop(), events)
        self._buf.clear()
        self._skip = 0
        return events

    # -- parsing --------------------------------------------------------------

    def _parse(self, events: list[DemuxEvent]) -> int:
        """Parse whole elements from the buffer; returns the bytes consumed."""
        buf = self._buf
        pos = 0
        if not self._started:
            magic = b"\x1a\x45\xdf\xa3"
            head = bytes(buf[:4])
            if not magic.startswith(head):
                raise AudioError("not a WebM stream: it does not start with an EBML header")
            if len(head) < 4:
                return 0
            self._started = True
        while True:
            self._close_finished(self._base + pos, events)
            id_ = _read_id(buf, pos)
            if id_ is None:
                return pos
            eid, id_len = id_
            size_ = read_vint(buf, pos + id_len)
            if size_ is None:
                return pos
            size, size_len = size_
            header = id_len + size_len
            self._close_unknown(eid, events)
            self._check_known(eid, header + (0 if size == _UNKNOWN else size))
            start = self._base + pos + header
            if eid in _MASTERS:
                if size == _UNKNOWN and eid not in (SEGMENT, CLUSTER):
                    raise AudioError(f"WebM element 0x{eid:X} cannot have unknown size")
                self._open(eid, None if size == _UNKNOWN else start + size)
                pos += header
                continue
            if size == _UNKNOWN:
                raise AudioError(f"WebM element 0x{eid:X} has unknown size")
            parent = self._stack[-1] if self._stack else None
            if (
                parent is not None
                and parent.id in (CLUSTER, BLOCK_GROUP)
                and (size > self._max_pending)
            ):
                # No real child of a Cluster comes near this: garbage, not audio.
                raise AudioError(
                    f"WebM element larger than {self._max_pending} bytes: not an audio stream"
                )
            if parent is not None and parent.end is not None and start + size > parent.end:
                raise AudioError(f"WebM element 0x{eid:X} overruns its parent 0x{parent.id:X}")
            if eid in _LEAVES and self._wanted(eid):
                if size > self._max_pending:
                    raise AudioError(
                        f"WebM element larger than {self._max_pending} bytes: not an audio stream"
                    )
                if len(buf) - pos - header < size:
                    return pos
                body = bytes(buf[pos + header : pos + header + size])
                self._leaf(eid, body, events)
                pos += header + size
                continue
            # Skip: drop what we have, remember what is still to come.
            avail = len(buf) - pos - header
            if avail >= size:
                pos += header + size
                continue
            self._skip = size - avail
            return len(buf)

    def _check_known(self, eid: int, length: int) -> None:
        """Count an element the specification does not allow where it is; too many
        since the last audio packet: not a WebM audio stream."""
        parent = self._stack[-1].id if self._stack else None
        if eid in _GLOBAL or eid in _CHILDREN.get(parent, frozenset()):
            return
        self._unknown += 1
        self._unknown_bytes += length
        if self._unknown > _MAX_UNKNOWN or self._unknown_bytes > _MAX_UNKNOWN_BYTES:
            where = f"0x{parent:X}" if parent is not None else "the top level"
            raise AudioError(
                f"WebM stream holds {self._unknown} unknown elements ({self._unknown_bytes} "
                f"bytes) in {where} since its last audio packet: not an audio stream"
            )

    def _wanted(self, eid: int) -> bool:
        """Whether this leaf's content matters where it appears."""
        top = self._stack[-1].id if self._stack else None
        if eid in (SIMPLE_BLOCK,):
            return top == CLUSTER
        if eid in (BLOCK, DISCARD_PADDING):
            return top == BLOCK_GROUP
        if eid in (SAMPLING_FREQUENCY, CHANNELS):
            return top == AUDIO
        return top == TRACK_ENTRY

    def _close_finished(self, offset: int, events: list[DemuxEvent]) -> None:
        while self._stack:
            end = self._stack[-1].end
            if end is None or offset < end:
                return
            if offset > end:
                raise AudioError("WebM element overruns its parent")
            self._close(self._stack.pop(), events)

    def _close_unknown(self, eid: int, events: list[DemuxEvent]) -> None:
        """An element that cannot live inside an open unknown-size element ends it."""
        if eid in _GLOBAL or eid not in _PARENT:
            return
        parent = _PARENT[eid]
        while self._stack and self._stack[-1].end is None:
            top = self._stack[-1].id
            if parent == top:
                return
            if parent is not None and all(o.id != parent for o in self._stack):
                return  # misplaced element; let the normal rules deal with it
            self._close(self._stack.pop(), events)

    def _open(self, eid: int, end: int | None) -> None:
        if eid == SEGMENT:
            self._selected = None  # a new segment: new tracks to come
        elif eid == TRACKS:
            self._tracks = []
        elif eid == TRACK_ENTRY:
            self._track = _Track()
        elif eid == BLOCK_GROUP:
            self._group = []
            self._discard_ns = 0
        elif eid == CLUSTER and self._selected is None:
            raise AudioError("WebM Cluster before any usable audio track (Tracks missing?)")
        if len(self._stack) >= _MAX_DEPTH:
            raise AudioError("WebM elements nested too deep: not an audio stream")
        self._stack.append(_Open(eid, end))

    def _close(self, element: _Open, events: list[DemuxEvent]) -> None:
        if element.id == TRACK_ENTRY and self._track is not None:
            self._tracks.append(self._track)
            self._track = None
        elif element.id == TRACKS:
            self._select_track(events)
        elif element.id == BLOCK_GROUP and self._group:
            self._emit(self._group, self._discard_ns, events)
            self._group = []

    def _leaf(self, eid: int, body: bytes, events: list[DemuxEvent]) -> None:
        if eid == SIMPLE_BLOCK:
            self._block(body, events, group=False)
            return
        if eid == BLOCK:
            self._block(body, events, group=True)
            return
        if eid == DISCARD_PADDING:
            self._discard_ns = _sint(body)
            return
        track = self._track
        if track is None:
            return
        if eid == TRACK_NUMBER:
            track.number = _uint(body)
        elif eid == TRACK_TYPE:
            track.type = _uint(body)
        elif eid == CODEC_ID:
            track.codec_id = body.rstrip(b"\x00").decode("ascii", "replace")
        elif eid == CODEC_PRIVATE:
            track.private = body
        elif eid == CODEC_DELAY:
            track.codec_delay_ns = _uint(body)
        elif eid == CONTENT_ENCODINGS:
            track.encoded = True
        elif eid == SAMPLING_FREQUENCY:
            track.sampling_frequency = _float(body)
        elif eid == CHANNELS:
            track.channels = _uint(body)

    def _select_track(self, events: list[DemuxEvent]) -> None:
        audio = [t for t in self._tracks if t.type == _TRACK_TYPE_AUDIO]
        usable = [t for t in audio if t.codec_id in ("A_OPUS", "A_VORBIS")]
        if not usable:
            found = ", ".join(t.codec_id or "?" for t in audio) or "none"
            raise AudioError(
                f"WebM stream has no Opus or Vorbis audio track (audio tracks: {found})"
            )
        track = usable[0]
        if track.encoded:
            raise AudioError("WebM audio track is compressed or encrypted (ContentEncodings)")
        if track.codec_id == "A_OPUS":
            private = track.private or opus_head(
                track.channels, track.codec_delay_ns * OPUS_RATE // 1_000_000_000
            )
            setup = opus_setup(private)
        else:
            setup = vorbis_setup_from_private(track.private)
        self._selected = track
        self._setup = setup
        events.append(setup)

    def _block(self, body: bytes, events: list[DemuxEvent], *, group: bool) -> None:
        selected = self._selected
        if selected is None:
            return
        vint = read_vint(body, 0)
        if vint is None or vint[0] != selected.number:
            return  # another track, or a truncated header parse_block would reject anyway
        _, frames = parse_block(body)
        if group:
            self._group = frames
        else:
            self._emit(frames, 0, events)

    def _emit(self, frames: list[bytes], discard_ns: int, events: list[DemuxEvent]) -> None:
        setup = self._setup
        trim = 0
        if discard_ns > 0 and setup is not None:
            trim = round(discard_ns * setup.sample_rate / 1_000_000_000)
        for i, frame in enumerate(frames):
            if frame:
                events.append(EncodedPacket(frame, trim_end=trim if i == len(frames) - 1 else 0))
        self._unknown = self._unknown_bytes = 0
