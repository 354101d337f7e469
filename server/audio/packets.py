"""What a container demuxer hands to the codec stage, and the codec headers it reads.

A demuxer (`server.audio.ogg`, `server.audio.webm`) turns container bytes into
a flat list of events: one `CodecSetup` when a track's headers are complete,
then that track's `EncodedPacket`s in decode order. A second `CodecSetup` means
a new stream starts (chained Ogg, a second WebM segment); the codec stage
drains the old decoder and opens a new one.

Only the two codecs browsers record are accepted: Opus (every browser) and
Vorbis (older recorders and most `.ogg` files). Both are decoded by libavcodec
through PyAV, which takes their headers as `extradata`:
- Opus: the 19+ byte `OpusHead` packet (RFC 7845 section 5.1), which is also
  the Matroska `CodecPrivate` of `A_OPUS`.
- Vorbis: the three header packets in Xiph lacing, which is also the Matroska
  `CodecPrivate` of `A_VORBIS`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from server.errors import AudioError

Codec = Literal["opus", "vorbis"]

#: Default cap on bytes a demuxer may hold while waiting for the rest of an
#: element, page or packet. Real Opus/Vorbis packets are a few hundred bytes,
#: Ogg pages at most 65,307 bytes; anything near this is garbage or abuse.
MAX_PENDING_BYTES = 1 << 20

#: Opus always decodes at 48 kHz (RFC 7845 section 5.1: the header's input
#: sample rate is informational only).
OPUS_RATE = 48000


@dataclass(frozen=True)
class CodecSetup:
    """A track's codec and the headers its decoder needs."""

    codec: Codec
    extradata: bytes
    sample_rate: int  # the rate the decoder outputs (48000 for Opus)
    channels: int


@dataclass(frozen=True)
class EncodedPacket:
    """One compressed packet of the selected track."""

    data: bytes
    #: Samples (per channel, at the codec's rate) to drop from the end of this
    #: packet's decoded output (Matroska DiscardPadding).
    trim_end: int = 0
    #: If set, the track's total decoded sample count must not exceed this
    #: after this packet (the granule position of an Ogg end-of-stream page).
    end_at: int | None = None


DemuxEvent = CodecSetup | EncodedPacket


def opus_setup(head: bytes) -> CodecSetup:
    """Validate an `OpusHead` packet and describe the decoder it needs."""
    if len(head) < 19 or not head.startswith(b"OpusHead"):
        raise AudioError("Opus stream does not start with a valid OpusHead header")
    version = head[8]
    if version >> 4 != 0:  # RFC 7845: major version 0 only; minor versions are compatible
        raise AudioError(f"unsupported OpusHead version {version}")
    channels = head[9]
    mapping_family = head[18]
    if channels == 0:
        raise AudioError("OpusHead announces 0 channels")
    if mapping_family == 0 and channels > 2:
        raise AudioError(f"OpusHead mapping family 0 allows 1 or 2 channels, got {channels}")
    if mapping_family != 0 and len(head) < 21 + channels:
        raise AudioError("OpusHead channel mapping table is truncated")
    return CodecSetup("opus", bytes(head), OPUS_RATE, channels)


def opus_head(channels: int, pre_skip: int) -> bytes:
    """A minimal `OpusHead` (mapping family 0) for a WebM track without CodecPrivate."""
    if not 1 <= channels <= 2:
        raise AudioError(
            f"Opus track without CodecPrivate must have 1 or 2 channels, got {channels}"
        )
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, OPUS_RATE, 0, 0)


def opus_pre_skip(head: bytes) -> int:
    """Samples at 48 kHz the decoder drops at the start (already validated head)."""
    return int.from_bytes(head[10:12], "little")


def vorbis_setup(headers: list[bytes]) -> CodecSetup:
    """Validate the three Vorbis header packets and lace them into extradata."""
    if len(headers) != 3:
        raise AudioError(f"Vorbis needs 3 header packets, got {len(headers)}")
    ident, comment, setup = headers
    if len(ident) < 30 or not ident.startswith(b"\x01vorbis"):
        raise AudioError("Vorbis stream does not start with a valid identification header")
    if not comment.startswith(b"\x03vorbis") or not setup.startswith(b"\x05vorbis"):
        raise AudioError("Vorbis comment or setup header is missing or out of order")
    channels = ident[11]
    sample_rate = int.from_bytes(ident[12:16], "little")
    if channels == 0 or not 1000 <= sample_rate <= 384000:
        raise AudioError(
            f"Vorbis identification header is invalid ({channels} channels, {sample_rate} Hz)"
        )
    return CodecSetup("vorbis", xiph_lace(headers), sample_rate, channels)


def vorbis_setup_from_private(private: bytes) -> CodecSetup:
    """`CodecPrivate` of a Matroska `A_VORBIS` track: the three headers, Xiph-laced."""
    return vorbis_setup(xiph_unlace(private))


def xiph_lace(packets: list[bytes]) -> bytes:
    """Xiph lacing: count-1, then the size of every packet but the last in 255-runs."""
    out = bytearray([len(packets) - 1])
    for packet in packets[:-1]:
        size = len(packet)
        out += b"\xff" * (size // 255)
        out.append(size % 255)
    for packet in packets:
        out += packet
    return bytes(out)


def read_xiph_sizes(data: bytes, pos: int, count: int, where: str) -> tuple[list[int], int]:
    """`count` Xiph-laced sizes (runs of 255 plus a last byte) from `pos` -> (sizes, end)."""
    sizes: list[int] = []
    for _ in range(count):
        size = 0
        while True:
            if pos >= len(data):
                raise AudioError(f"truncated Xiph lacing in {where}")
            byte = data[pos]
            pos += 1
            size += byte
            if byte != 255:
                break
        sizes.append(size)
    return sizes, pos


def xiph_unlace(data: bytes) -> list[bytes]:
    if not data:
        raise AudioError("empty Xiph-laced codec headers")
    sizes, pos = read_xiph_sizes(data, 1, data[0], "codec headers")
    sizes.append(len(data) - pos - sum(sizes))
    if sizes[-1] < 0:
        raise AudioError("Xiph lacing sizes exceed the codec headers")
    packets = []
    for size in sizes:
        packets.append(bytes(data[pos : pos + size]))
        pos += size
    return packets
