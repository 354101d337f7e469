from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest

from server.audio.ogg import OggDemuxer
from server.audio.packets import CodecSetup, DemuxEvent, EncodedPacket
from server.errors import AudioError
from tests.unit.audio.conftest import Encoder
from tests.unit.audio.helpers import chunks, ogg_page

OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
OPUS_TAGS = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)


def _demux(data: bytes, pieces: list[bytes] | None = None) -> list[DemuxEvent]:
    demuxer = OggDemuxer()
    events: list[DemuxEvent] = []
    for piece in pieces if pieces is not None else [data]:
        events += demuxer.feed(piece)
    events += demuxer.finish()
    return events


def _packets(events: list[DemuxEvent]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, EncodedPacket)]


def _opus_stream(serial: int, packets: list[bytes], granule: int = 0) -> bytes:
    return (
        ogg_page(serial, 0, [OPUS_HEAD], bos=True)
        + ogg_page(serial, 1, [OPUS_TAGS])
        + ogg_page(serial, 2, packets, granule=granule, eos=True)
    )


def test_packets_match_libavformat_for_any_chunking(encoded: Encoder) -> None:
    data = encoded("ogg", "-c:a", "libopus", "-b:a", "32k")
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        extradata = stream.codec_context.extradata
        reference = [bytes(p) for p in container.demux(stream) if p.size]

    rng = np.random.default_rng(7)
    for pieces in ([data], list(chunks(data, rng, 1, 700)), list(chunks(data, rng, 1, 9000))):
        events = _demux(data, pieces)
        setup = events[0]
        assert isinstance(setup, CodecSetup)
        assert (setup.codec, setup.sample_rate, setup.channels) == ("opus", 48000, 1)
        assert setup.extradata == extradata
        assert _packets(events) == reference
        # Only the last packet of the end-of-stream page carries the true length.
        ends = [e.end_at for e in events if isinstance(e, EncodedPacket) and e.end_at]
        assert len(ends) == 1


def test_packet_spanning_pages_and_255_multiples() -> None:
    big = bytes(range(256)) * 3  # 768 bytes: laced as 255, 255, 255, 3
    exact = b"\x07" * 510  # a multiple of 255 needs a terminating 0 lacing value
    head, tail = big[:510], big[510:]
    data = (
        ogg_page(1, 0, [OPUS_HEAD], bos=True)
        + ogg_page(1, 1, [OPUS_TAGS])
        + ogg_page(1, 2, [b"a", head], last_continues=True)
        + ogg_page(1, 3, [tail, exact, b"z"], continued=True, granule=960 * 4, eos=True)
    )
    events = _demux(data, [data[i : i + 5] for i in range(0, len(data), 5)])
    assert _packets(events) == [b"a", big, exact, b"z"]
    last = events[-1]
    assert isinstance(last, EncodedPacket) and last.end_at == 960 * 4 - 312


def test_other_logical_streams_are_skipped() -> None:
    other = ogg_page(9, 0, [b"\x80theora" + b"\x00" * 40], bos=True)
    data = (
        other
        + ogg_page(1, 0, [OPUS_HEAD], bos=True)
        + ogg_page(9, 1, [b"video" * 10])
        + ogg_page(1, 1, [OPUS_TAGS])
        + ogg_page(9, 2, [b"more video"])
        + ogg_page(1, 2, [b"p1", b"p2"], granule=1920, eos=True)
    )
    events = _demux(data)
    assert isinstance(events[0], CodecSetup)
    assert _packets(events) == [b"p1", b"p2"]


def test_chained_streams_give_a_new_setup() -> None:
    data = _opus_stream(1, [b"one"], granule=1272) + _opus_stream(2, [b"two"], granule=1272)
    events = _demux(data)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["CodecSetup", "EncodedPacket", "CodecSetup", "EncodedPacket"]
    assert _packets(events) == [b"one", b"two"]


def test_stream_joined_mid_packet_drops_the_orphan_tail() -> None:
    data = (
        ogg_page(1, 0, [OPUS_HEAD], bos=True)
        + ogg_page(1, 1, [OPUS_TAGS])
        + ogg_page(1, 5, [b"orphan tail", b"whole"], continued=True)
    )
    assert _packets(_demux(data)) == [b"whole"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "not an Ogg stream"),
        (b"Og\x00", "not an Ogg stream"),
        (struct.pack("<4sBBqIIIB", b"OggS", 1, 2, 0, 1, 0, 0, 0), "page version 1"),
        (
            ogg_page(1, 0, [b"\x7fFLAC" + b"\x00" * 40], bos=True) + ogg_page(1, 1, [b"x"]),
            "no Opus or Vorbis",
        ),
        (ogg_page(1, 0, [b"OpusHead\x01"], bos=True), "valid OpusHead"),
        (ogg_page(1, 0, [OPUS_HEAD], bos=True) + ogg_page(1, 1, [b"NotTags"]), "OpusTags"),
    ],
)
def test_malformed_streams_raise_bad_audio(data: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message) as info:
        _demux(data)
    assert info.value.code == "bad_audio"


def test_garbage_is_rejected_at_once() -> None:
    demuxer = OggDemuxer()
    rng = np.random.default_rng(3)
    with pytest.raises(AudioError):
        demuxer.feed(rng.bytes(100))


def test_bytes_after_a_valid_page_must_be_a_page() -> None:
    demuxer = OggDemuxer()
    demuxer.feed(ogg_page(1, 0, [OPUS_HEAD], bos=True))
    with pytest.raises(AudioError, match="byte 47"):
        demuxer.feed(b"garbage!")


def test_an_endless_packet_is_bounded() -> None:
    demuxer = OggDemuxer(max_pending=4096)
    demuxer.feed(ogg_page(1, 0, [OPUS_HEAD], bos=True) + ogg_page(1, 1, [OPUS_TAGS]))
    piece = b"\x00" * 255 * 8
    demuxer.feed(ogg_page(1, 2, [piece], last_continues=True))
    demuxer.feed(ogg_page(1, 3, [piece], continued=True, last_continues=True))
    with pytest.raises(AudioError, match="larger than 4096"):
        demuxer.feed(ogg_page(1, 4, [piece], continued=True, last_continues=True))


def test_vorbis_headers_become_one_setup(encoded: Encoder) -> None:
    data = encoded("ogg", "-c:a", "libvorbis", "-ac", "2", "-ar", "44100")
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        reference = [bytes(p) for p in container.demux(stream) if p.size]
    events = _demux(data, list(chunks(data, np.random.default_rng(5), 1, 3000)))
    setup = events[0]
    assert isinstance(setup, CodecSetup)
    assert (setup.codec, setup.sample_rate, setup.channels) == ("vorbis", 44100, 2)
    assert _packets(events) == reference
