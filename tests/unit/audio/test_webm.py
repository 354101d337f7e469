from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest

from server.audio.packets import CodecSetup, DemuxEvent, EncodedPacket, xiph_lace, xiph_unlace
from server.audio.webm import WebmDemuxer, parse_block
from server.errors import AudioError
from tests.unit.audio.conftest import Encoder
from tests.unit.audio.helpers import (
    UNKNOWN_SIZE,
    chunks,
    ebml_element,
    ebml_size,
    to_live_webm,
)

OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)
EBML_HEADER = ebml_element(0x1A45DFA3, ebml_element(0x4282, b"webm"))


def _demux(pieces: list[bytes], demuxer: WebmDemuxer | None = None) -> list[DemuxEvent]:
    demuxer = demuxer or WebmDemuxer()
    events: list[DemuxEvent] = []
    for piece in pieces:
        events += demuxer.feed(piece)
    events += demuxer.finish()
    return events


def _packets(events: list[DemuxEvent]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, EncodedPacket)]


def _reference(data: bytes) -> tuple[bytes, list[bytes]]:
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        return stream.codec_context.extradata or b"", [
            bytes(p) for p in container.demux(stream) if p.size
        ]


def _track(number: int, track_type: int, codec: str, private: bytes = b"", *extra: bytes) -> bytes:
    body = (
        ebml_element(0xD7, bytes([number]))
        + ebml_element(0x83, bytes([track_type]))
        + ebml_element(0x86, codec.encode())
    )
    if private:
        body += ebml_element(0x63A2, private)
    return ebml_element(0xAE, body + b"".join(extra))


def _simple_block(track: int, payload: bytes, flags: int = 0x80) -> bytes:
    return ebml_element(0xA3, ebml_size(track) + b"\x00\x00" + bytes([flags]) + payload)


def _live_stream(tracks: bytes, clusters: list[list[bytes]]) -> bytes:
    """EBML header + unknown-size Segment + Tracks + unknown-size Clusters, as Chrome writes."""
    out = EBML_HEADER + bytes.fromhex("18538067") + UNKNOWN_SIZE
    out += ebml_element(0x1549A966, ebml_element(0x2AD7B1, b"\x0f\x42\x40"))  # Info
    out += ebml_element(0x1654AE6B, tracks)
    for blocks in clusters:
        out += bytes.fromhex("1f43b675") + UNKNOWN_SIZE + ebml_element(0xE7, b"\x00")
        out += b"".join(blocks)
    return out


@pytest.mark.parametrize("live", [False, True], ids=["known-size", "live-unknown-size"])
def test_packets_match_libavformat_for_any_chunking(encoded: Encoder, live: bool) -> None:
    data = encoded("webm", "-c:a", "libopus", "-b:a", "32k")
    extradata, reference = _reference(data)
    if live:
        data = to_live_webm(data)
        assert UNKNOWN_SIZE in data
    rng = np.random.default_rng(11)
    for pieces in ([data], list(chunks(data, rng, 1, 600)), list(chunks(data, rng, 1, 9000))):
        events = _demux(pieces)
        setup = events[0]
        assert isinstance(setup, CodecSetup)
        assert (setup.codec, setup.sample_rate, setup.channels) == ("opus", 48000, 1)
        assert setup.extradata == extradata
        assert _packets(events) == reference
    # ffmpeg ends the stream with a BlockGroup carrying DiscardPadding.
    last = events[-1]
    assert isinstance(last, EncodedPacket) and last.trim_end > 0


def test_vorbis_track(encoded: Encoder) -> None:
    data = encoded("webm", "-c:a", "libvorbis", "-ar", "22050")
    extradata, reference = _reference(data)
    events = _demux(list(chunks(data, np.random.default_rng(2), 1, 2000)))
    setup = events[0]
    assert isinstance(setup, CodecSetup)
    assert (setup.codec, setup.sample_rate) == ("vorbis", 22050)
    assert setup.extradata == extradata
    assert _packets(events) == reference


def test_audio_track_is_picked_among_others_and_other_blocks_skipped() -> None:
    tracks = _track(1, 1, "V_VP8") + _track(2, 2, "A_OPUS", OPUS_HEAD)
    data = _live_stream(
        tracks,
        [[_simple_block(1, b"frame1"), _simple_block(2, b"a1")], [_simple_block(2, b"a2")]],
    )
    events = _demux([data])
    assert isinstance(events[0], CodecSetup) and events[0].channels == 2
    assert _packets(events) == [b"a1", b"a2"]


def test_many_unknown_size_clusters_end_each_other() -> None:
    """Each unknown-size Cluster is closed by the next one (not nested in it)."""
    clusters = [[_simple_block(1, b"p%d" % i)] for i in range(100)]
    data = _live_stream(_track(1, 2, "A_OPUS", OPUS_HEAD), clusters)
    data += ebml_element(0x1254C367, b"\x00" * 10)  # Tags after the last Cluster
    assert _packets(_demux([data])) == [b"p%d" % i for i in range(100)]


def test_opus_track_without_codec_private_gets_a_synthesized_head() -> None:
    audio = ebml_element(0xE1, ebml_element(0x9F, b"\x01"))
    delay = ebml_element(0x56AA, (6_500_000).to_bytes(4, "big"))
    data = _live_stream(_track(1, 2, "A_OPUS", b"", audio, delay), [[_simple_block(1, b"a")]])
    setup = _demux([data])[0]
    assert isinstance(setup, CodecSetup) and setup.channels == 1
    assert setup.extradata[:8] == b"OpusHead" and setup.extradata[10:12] == (312).to_bytes(
        2, "little"
    )


def test_lacing_modes() -> None:
    frames = [b"a" * 300, b"b" * 5, b"c" * 1000]
    # Block header: track 1 (vint 0x81), timecode 0, then flags.
    assert parse_block(b"\x81\x00\x00\x80" + b"one") == (1, [b"one"])  # no lacing
    # Xiph lacing (flags 0x02): count - 1, then 300 = 255 + 45, 5; the last is implied.
    xiph = bytes([2]) + b"\xff\x2d" + b"\x05"
    assert parse_block(b"\x81\x00\x00\x02" + xiph + b"".join(frames)) == (1, frames)
    # EBML lacing: flags 0x06; first size 300 as a vint, then 5 - 300 = -295 signed
    first = ebml_size(300)
    diff = (-295 + (1 << 13) - 1) | (1 << 14)  # 2-byte signed vint
    ebml = bytes([2]) + first + diff.to_bytes(2, "big")
    assert parse_block(b"\x81\x00\x00\x06" + ebml + b"".join(frames)) == (1, frames)
    # Fixed-size lacing: flags 0x04
    same = [b"x" * 7, b"y" * 7, b"z" * 7]
    assert parse_block(b"\x81\x00\x00\x04" + bytes([2]) + b"".join(same)) == (1, same)
    with pytest.raises(AudioError):
        parse_block(b"\x81\x00\x00\x04" + bytes([2]) + b"x" * 20)  # 20 / 3 is not whole
    with pytest.raises(AudioError):
        parse_block(b"\x81\x00\x00\x02" + bytes([1]) + b"\xff\xff\x10" + b"x")  # sizes > block


def test_blockgroup_discard_padding_becomes_trim() -> None:
    group = ebml_element(
        0xA0,
        ebml_element(0xA1, b"\x81\x00\x00\x00" + b"last")
        + ebml_element(0x75A2, (10_000_000).to_bytes(4, "big")),  # 10 ms
    )
    data = _live_stream(_track(1, 2, "A_OPUS", OPUS_HEAD), [[_simple_block(1, b"p"), group]])
    events = _demux([data])
    packets = [e for e in events if isinstance(e, EncodedPacket)]
    assert [(p.data, p.trim_end) for p in packets] == [(b"p", 0), (b"last", 480)]


def test_large_skipped_elements_are_not_buffered() -> None:
    demuxer = WebmDemuxer(max_pending=4096)
    big_void = b"\xec" + ebml_size(10_000_000)
    head = EBML_HEADER + bytes.fromhex("18538067") + UNKNOWN_SIZE + big_void
    events = demuxer.feed(head)
    for _ in range(10_000_000 // 65536):
        events += demuxer.feed(b"\x00" * 65536)
    events += demuxer.feed(b"\x00" * (10_000_000 % 65536))
    rest = ebml_element(0x1654AE6B, _track(1, 2, "A_OPUS", OPUS_HEAD))
    rest += bytes.fromhex("1f43b675") + UNKNOWN_SIZE + _simple_block(1, b"ok")
    events += demuxer.feed(rest)
    assert _packets(events) == [b"ok"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"OggS\x00\x02", "not a WebM stream"),
        (b"\x1a\x45\x00", "not a WebM stream"),
        (
            EBML_HEADER
            + bytes.fromhex("18538067")
            + UNKNOWN_SIZE
            + ebml_element(0x1654AE6B, _track(1, 1, "V_VP8")),
            "no Opus or Vorbis audio track",
        ),
        (
            EBML_HEADER
            + bytes.fromhex("18538067")
            + UNKNOWN_SIZE
            + ebml_element(0x1654AE6B, _track(1, 2, "A_AAC")),
            r"audio tracks: A_AAC",
        ),
        (
            EBML_HEADER
            + bytes.fromhex("18538067")
            + UNKNOWN_SIZE
            + bytes.fromhex("1f43b675")
            + UNKNOWN_SIZE,
            "Cluster before any usable audio track",
        ),
        (
            _live_stream(_track(1, 2, "A_OPUS", OPUS_HEAD), [[]]) + b"\xa3" + ebml_size(5_000_000),
            "larger than",
        ),
        (EBML_HEADER + bytes.fromhex("18538067") + UNKNOWN_SIZE + b"\x00\x81", "invalid EBML"),
        (_live_stream(_track(1, 2, "A_OPUS", b"NotOpusHead" * 2), []), "OpusHead"),
    ],
)
def test_malformed_streams_raise_bad_audio(data: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message) as info:
        _demux([data])
    assert info.value.code == "bad_audio"


def test_random_garbage_is_rejected_at_once() -> None:
    with pytest.raises(AudioError):
        WebmDemuxer().feed(np.random.default_rng(0).bytes(64))


def test_garbage_after_a_valid_header_is_bad_audio_within_a_few_kib(encoded: Encoder) -> None:
    """Valid start, then noise: it parses as elements the specification does not allow
    there, each skipped; a run of them is refused, long before the buffer cap."""
    head = to_live_webm(encoded("webm", "-c:a", "libopus", "-b:a", "32k"))[:400]
    rng = np.random.default_rng(42)
    fed: list[int] = []
    for _ in range(50):
        demuxer = WebmDemuxer(max_pending=65536)
        demuxer.feed(head)
        with pytest.raises(AudioError) as info:
            for n in range(1, 257):
                demuxer.feed(rng.bytes(256))
                fed.append(n * 256)
        assert info.value.code == "bad_audio"
        assert len(demuxer._buf) <= 65536
    assert max(fed) < 64 * 1024


def test_a_few_unknown_elements_between_packets_are_skipped() -> None:
    unknown = ebml_element(0x4DBB, b"xx")  # a SeekHead child: not allowed in a Cluster
    blocks = [unknown] * 16 + [_simple_block(1, b"a")] + [unknown] * 16 + [_simple_block(1, b"b")]
    data = _live_stream(_track(1, 2, "A_OPUS", OPUS_HEAD), [blocks])
    assert _packets(_demux([data])) == [b"a", b"b"]
    with pytest.raises(AudioError, match="17 unknown elements"):
        _demux([_live_stream(_track(1, 2, "A_OPUS", OPUS_HEAD), [[unknown] * 17])])


def test_xiph_laced_codec_headers_round_trip_and_truncation() -> None:
    packets = [b"x" * 255, b"y" * 300, b"z" * 7]
    assert xiph_unlace(xiph_lace(packets)) == packets
    with pytest.raises(AudioError, match="truncated Xiph lacing in codec headers"):
        xiph_unlace(bytes([2, 255, 255]))
    with pytest.raises(AudioError, match="empty"):
        xiph_unlace(b"")


def test_truncated_xiph_lacing_in_a_block_is_an_audio_error() -> None:
    with pytest.raises(AudioError, match="truncated Xiph lacing in Matroska block"):
        parse_block(b"\x81\x00\x00\x02" + bytes([2]) + b"\xff")
