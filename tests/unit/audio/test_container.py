"""Container streams (WebM / Ogg with Opus or Vorbis) decoded through make_decoder."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest

from server.audio.container import MAX_BYTES_WITHOUT_AUDIO
from server.audio.decode import AudioSpec, make_decoder
from server.errors import AudioError
from tests.unit.audio.conftest import Encoder
from tests.unit.audio.helpers import (
    F32,
    SPEECH_WAV,
    UNKNOWN_SIZE,
    best_lag,
    chunks,
    ebml_element,
    ogg_page,
    to_live_webm,
)

OPUS = ("-c:a", "libopus", "-b:a", "32k")
LIVE_OGG = ("-page_duration", "100000")  # 100 ms pages, as a live recorder flushes them
CASES = {
    "webm-opus": ("webm", "webm", OPUS),
    "ogg-opus": ("ogg", "ogg", (*OPUS, *LIVE_OGG)),
    "webm-opus-stereo": ("webm", "webm", (*OPUS, "-ac", "2")),
    "ogg-vorbis-44k-stereo": (
        "ogg",
        "ogg",
        ("-c:a", "libvorbis", "-ar", "44100", "-ac", "2", *LIVE_OGG),
    ),
    "webm-vorbis-22k": ("webm", "webm", ("-c:a", "libvorbis", "-ar", "22050")),
}


def _decode(encoding: str, pieces: list[bytes]) -> tuple[F32, list[int]]:
    """All samples, and the sample count out after each piece."""
    decoder = make_decoder(AudioSpec.parse({"encoding": encoding}))
    outs = []
    counts = []
    for piece in pieces:
        outs.append(decoder.feed(piece))
        counts.append(sum(len(o) for o in outs))
    outs.append(decoder.flush())
    for out in outs:
        assert out.dtype == np.float32 and out.ndim == 1
    return np.concatenate(outs), counts


@pytest.mark.parametrize("case", list(CASES))
def test_decodes_real_speech_incrementally(encoded: Encoder, speech: F32, case: str) -> None:
    ext, encoding, args = CASES[case]
    data = encoded(ext, *args)
    rng = np.random.default_rng(99)
    pieces = list(chunks(data, rng, 1, 1500))
    out, counts = _decode(encoding, pieces)

    # Duration: within 60 ms of the original.
    assert abs(len(out) - len(speech)) <= 0.060 * 16000
    # Waveform: the same speech, in time with it (Opus pre-skip handled).
    lag, r = best_lag(out, speech, 80)
    assert abs(lag) <= 2, lag
    assert r > 0.9
    # Incremental: samples come out while bytes go in, in step with them.
    half = len(pieces) // 2
    assert counts[len(pieces) // 10] > 0
    assert 0.3 * len(out) < counts[half] < 0.7 * len(out)
    # Chunking does not change the result.
    whole, _ = _decode(encoding, [data])
    np.testing.assert_allclose(whole, out, atol=1e-6)


def test_ogg_opus_length_is_exact(encoded: Encoder) -> None:
    """Pre-skip and the end-of-stream granule trim give exactly ffmpeg's sample count."""
    data = encoded("ogg", *OPUS)
    with av.open(io.BytesIO(data), "r") as container:
        samples_48k = sum(int(frame.samples) for frame in container.decode(audio=0))
    out, _ = _decode("ogg", [data])
    assert len(out) == round(samples_48k / 3)


@pytest.mark.parametrize("ext", ["webm", "ogg"])
def test_opus_trimming_restores_the_exact_length(encoded: Encoder, speech: F32, ext: str) -> None:
    """Pre-skip at the start, and DiscardPadding (WebM) or the final granule position
    (Ogg) at the end, give back exactly the encoder's input length."""
    out, _ = _decode(ext, [encoded(ext, *OPUS)])
    assert len(out) == len(speech)


def test_live_webm_with_unknown_sizes_decodes_the_same(encoded: Encoder) -> None:
    data = encoded("webm", *OPUS)
    live = to_live_webm(data)
    known, _ = _decode("webm", [data])
    unknown, _ = _decode("webm", list(chunks(live, np.random.default_rng(1), 1, 300)))
    np.testing.assert_allclose(unknown, known, atol=1e-6)


def test_chained_ogg_streams_play_one_after_the_other(encoded: Encoder, speech: F32) -> None:
    data = encoded("ogg", *OPUS)
    out, _ = _decode("ogg", [data + data])
    assert abs(len(out) - 2 * len(speech)) <= 0.060 * 16000
    second = out[len(out) // 2 :]
    lag, r = best_lag(second, speech, 80)
    assert abs(lag) <= 2 and r > 0.9


def test_truncated_stream_gives_what_it_has(encoded: Encoder, speech: F32) -> None:
    data = encoded("webm", *OPUS)
    out, _ = _decode("webm", [data[: len(data) // 2]])
    assert 0.3 * len(speech) < len(out) < 0.7 * len(speech)


@pytest.mark.parametrize("encoding", ["webm", "ogg"])
def test_garbage_is_bad_audio(encoding: str) -> None:
    decoder = make_decoder(AudioSpec.parse({"encoding": encoding}))
    with pytest.raises(AudioError) as info:
        decoder.feed(np.random.default_rng(5).bytes(2000))
    assert info.value.code == "bad_audio"


@pytest.mark.parametrize("encoding", ["webm", "ogg"])
def test_wav_bytes_announced_as_a_container_are_bad_audio(encoding: str) -> None:
    decoder = make_decoder(AudioSpec.parse({"encoding": encoding}))
    with pytest.raises(AudioError, match=f"not an? {'WebM' if encoding == 'webm' else 'Ogg'}"):
        decoder.feed(SPEECH_WAV.read_bytes()[:4096])


def test_webm_announced_as_ogg_is_bad_audio(encoded: Encoder) -> None:
    decoder = make_decoder(AudioSpec.parse({"encoding": "ogg"}))
    with pytest.raises(AudioError, match="not an Ogg stream"):
        decoder.feed(encoded("webm", *OPUS)[:100])


def test_corrupt_opus_packet_is_bad_audio(encoded: Encoder) -> None:
    data = bytearray(encoded("ogg", *OPUS))
    # Scribble over a page body in the middle: page structure intact, packets garbage.
    start = data.find(b"OggS", len(data) // 2)
    body = start + 27 + data[start + 26]
    data[body : body + 200] = b"\xff" * 200
    decoder = make_decoder(AudioSpec.parse({"encoding": "ogg"}))
    with pytest.raises(AudioError, match="cannot decode opus"):
        decoder.feed(bytes(data))


def test_stream_ending_inside_the_header_is_reported(encoded: Encoder) -> None:
    decoder = make_decoder(AudioSpec.parse({"encoding": "webm"}))
    assert len(decoder.feed(encoded("webm", *OPUS)[:40])) == 0
    with pytest.raises(AudioError, match="ended before its audio track header"):
        decoder.flush()


def test_empty_stream_and_end_of_stream() -> None:
    decoder = make_decoder(AudioSpec.parse({"encoding": "ogg"}))
    assert decoder.feed(b"").shape == (0,)
    assert decoder.flush().shape == (0,)
    assert decoder.flush().shape == (0,)
    with pytest.raises(AudioError, match="after the end"):
        decoder.feed(b"OggS")


def _webm_head() -> bytes:
    opus_head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    track = ebml_element(0xAE, ebml_element(0xD7, b"\x01") + ebml_element(0x83, b"\x02")
                         + ebml_element(0x86, b"A_OPUS") + ebml_element(0x63A2, opus_head))
    return (ebml_element(0x1A45DFA3, ebml_element(0x4282, b"webm")) + bytes.fromhex("18538067")
            + UNKNOWN_SIZE + ebml_element(0x1654AE6B, track) + bytes.fromhex("1f43b675")
            + UNKNOWN_SIZE)


def _other_track_blocks(n: int) -> bytes:
    block = ebml_element(0xA3, b"\x82\x00\x00\x80" + b"v" * 4000)  # track 2: skipped
    return block * n


@pytest.mark.parametrize("encoding", ["webm", "ogg"])
def test_a_stream_of_anything_but_audio_is_bad_audio_after_a_bound(
    encoded: Encoder, encoding: str,
) -> None:
    """Bytes that are not the track's audio (another track's packets, another logical
    stream's pages) are skipped, but at most MAX_BYTES_WITHOUT_AUDIO of them in a row."""
    decoder = make_decoder(AudioSpec.parse({"encoding": encoding}))
    if encoding == "webm":
        decoder.feed(_webm_head())
        more = _other_track_blocks(16)
    else:
        real = encoded("ogg", *OPUS, *LIVE_OGG)
        decoder.feed(real[:real.rfind(b"OggS", 0, 4096)])  # its headers and some audio
        more = b"".join(ogg_page(0x5EED, seq, [b"t" * 4000]) for seq in range(16))
    fed = 0
    with pytest.raises(AudioError, match="without an audio packet") as info:
        while fed < 4 * MAX_BYTES_WITHOUT_AUDIO:
            decoder.feed(more)
            fed += len(more)
    assert info.value.code == "bad_audio"
    assert MAX_BYTES_WITHOUT_AUDIO - len(more) <= fed <= MAX_BYTES_WITHOUT_AUDIO + len(more)
