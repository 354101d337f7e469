"""Property tests of the audio decoders: any bytes -> finite samples or AudioError.

`make_decoder(AudioSpec)`, `.feed(bytes)`, `.flush()` must never raise anything
but AudioError, never hang, and never return more audio from one feed than
`MAX_FEED_SECONDS` (a bounded-memory guard against decompression bombs). The
oracle is tests/fuzz/targets.py, shared with the atheris fuzzer
(tests/fuzz/fuzz_audio.py, scripts/fuzz.sh).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.audio.decode import AudioSpec, make_decoder
from server.audio.packets import opus_head
from server.errors import AudioError
from tests.fuzz.targets import (
    ENCODINGS,
    check_audio_bytes,
    check_audio_stream,
    seed_streams,
    split,
)

SEEDS = list(seed_streams())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_with_any_spec(data: bytes) -> None:
    check_audio_bytes(data)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["webm", "ogg"]), st.binary(max_size=1024), st.integers(0, 255))
def test_container_magic_then_garbage(encoding: str, tail: bytes, chunking: int) -> None:
    magic = b"OggS\x00\x02" if encoding == "ogg" else bytes.fromhex("1a45dfa3")
    check_audio_stream(AudioSpec(encoding), split(magic + tail, chunking))  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, len(SEEDS) - 1),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
    st.integers(0, 1 << 16),
    st.integers(0, 255),
)
def test_mutated_real_streams(
    index: int, flips: list[tuple[int, int]], cut: int, chunking: int
) -> None:
    """Real Opus / Vorbis / PCM streams with bytes changed and the end cut off."""
    spec, payload = SEEDS[index]
    data = bytearray(payload)
    for pos, value in flips:
        data[pos % len(data)] = value
    check_audio_stream(spec, split(bytes(data[: max(1, len(data) - cut % len(data))]), chunking))


@pytest.mark.parametrize("index", range(len(SEEDS)))
def test_real_streams_decode_whole_and_chunked(index: int) -> None:
    spec, payload = SEEDS[index]
    whole = check_audio_stream(spec, [payload])
    assert whole > 0.04 * 16000  # the seeds hold 50-250 ms of tone
    assert check_audio_stream(spec, split(payload, 7)) == whole


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(["pcm_s16le", "pcm_f32le"]),
    st.sampled_from([8000, 16000, 44100, 48000]),
    st.integers(1, 3),
    st.binary(min_size=0, max_size=4096),
    st.integers(1, 255),
)
def test_pcm_output_does_not_depend_on_chunking(
    encoding: str, rate: int, channels: int, data: bytes, chunking: int
) -> None:
    spec = AudioSpec(encoding, rate, channels)  # type: ignore[arg-type]

    def run(chunks: list[bytes]) -> np.ndarray:
        dec = make_decoder(spec)
        parts = [dec.feed(c) for c in chunks] + [dec.flush()]
        return np.concatenate(parts)

    whole, cut = run([data]), run(split(data, chunking))
    assert whole.shape == cut.shape
    assert np.allclose(whole, cut, atol=1e-5)
    assert np.isfinite(whole).all()


# -- decompression bombs --------------------------------------------------------------


def ogg_page(serial: int, seq: int, granule: int, flags: int, packets: list[bytes]) -> bytes:
    """One Ogg page (CRC left 0: the demuxer does not check it, and TCP does)."""
    lacing = bytearray()
    for p in packets:
        lacing += b"\xff" * (len(p) // 255) + bytes([len(p) % 255])
    assert len(lacing) <= 255
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, seq, 0, len(lacing))
    return head + bytes(lacing) + b"".join(packets)


def opus_bomb(pages: int) -> bytes:
    """Ogg Opus whose packets are 2 bytes that each decode to 120 ms (6 x 20 ms CELT
    frames of 0 bytes: packet loss concealment). 255 per page: 30 s per 800 bytes."""
    out = [ogg_page(1, 0, 0, 0x02, [opus_head(1, 0)]),
           ogg_page(1, 1, 0, 0, [b"OpusTags" + struct.pack("<I", 0) + struct.pack("<I", 0)])]
    for i in range(pages):
        out.append(ogg_page(1, 2 + i, (i + 1) * 255 * 5760, 0, [b"\xfb\x06"] * 255))
    return b"".join(out)


def test_opus_bomb_is_refused_or_bounded() -> None:
    """~8 KB that expand to 5 minutes of audio in one feed: AudioError, or bounded output.

    A 256 KiB frame of this would be ~3 hours (660 MB of float32) decoded
    synchronously on the event loop.
    """
    bomb = opus_bomb(10)
    assert len(bomb) < 9000
    check_audio_stream(AudioSpec("ogg"), [bomb])


def test_bomb_fed_in_small_frames_still_decodes_only_what_was_sent() -> None:
    """Cut into page-sized frames each feed stays small; the per-session budget
    (audio seconds vs wall clock) is the gateway's job, not the decoder's."""
    bomb = opus_bomb(3)
    dec = make_decoder(AudioSpec("ogg"))
    total = 0
    try:
        for chunk in split(bomb, 1):
            total += dec.feed(chunk).size
    except AudioError:
        return
    assert total <= 3 * 255 * 1920 + 4096


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_feed_after_flush_is_an_audio_error(encoding: str) -> None:
    spec = AudioSpec(encoding) if encoding in ("webm", "ogg") else AudioSpec(encoding, 16000)  # type: ignore[arg-type]
    dec = make_decoder(spec)
    dec.flush()
    with pytest.raises(AudioError):
        dec.feed(b"\0\0")
