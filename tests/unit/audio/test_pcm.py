from __future__ import annotations

import numpy as np
import pytest
import soxr

from server.audio.decode import AudioSpec, make_decoder
from server.errors import AudioError
from tests.unit.audio.helpers import F32, best_lag, chunks

RATES = [8000, 16000, 44100, 48000]


def _signal(speech: F32, rate: int, channels: int) -> F32:
    """Speech at `rate`, shape (n, channels): channel k is the speech scaled by 1/(k+1)
    plus a little channel-specific noise (so a wrong interleave would show)."""
    mono = speech if rate == 16000 else soxr.resample(speech, 16000, rate).astype(np.float32)
    rng = np.random.default_rng(rate + channels)
    cols = [mono / (k + 1) + rng.normal(0, 0.003, len(mono)) for k in range(channels)]
    frames: F32 = np.clip(np.stack(cols, axis=1), -1, 1).astype(np.float32)
    return frames


def _encode(frames: F32, encoding: str) -> bytes:
    if encoding == "pcm_s16le":
        return (np.round(frames * 32767).astype("<i2")).tobytes()
    return frames.astype("<f4").tobytes()


def _decode(spec: AudioSpec, pieces: list[bytes]) -> tuple[F32, list[F32]]:
    decoder = make_decoder(spec)
    outs = [decoder.feed(p) for p in pieces]
    outs.append(decoder.flush())
    for out in outs:
        assert out.dtype == np.float32 and out.ndim == 1
    return np.concatenate(outs), outs


@pytest.mark.parametrize("encoding", ["pcm_s16le", "pcm_f32le"])
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_pcm_any_rate_and_chunking_gives_16k_mono(
    speech: F32, encoding: str, rate: int, channels: int
) -> None:
    frames = _signal(speech, rate, channels)
    data = _encode(frames, encoding)
    spec = AudioSpec.parse({"encoding": encoding, "sample_rate": rate, "channels": channels})

    whole, _ = _decode(spec, [data])
    # Random sizes, most not a multiple of the frame size: samples and frames split.
    rng = np.random.default_rng(1234)
    split, outs = _decode(spec, list(chunks(data, rng, 1, 4099)))

    assert len(whole) == round(len(frames) * 16000 / rate)
    np.testing.assert_allclose(split, whole, atol=1e-6)
    # Mono is the mean of the channels, resampled to 16 kHz.
    expected_mono = frames.mean(axis=1)
    expected = expected_mono if rate == 16000 else soxr.resample(expected_mono, rate, 16000, "HQ")
    tolerance = 1.0 / 32768 if encoding == "pcm_s16le" else 1e-6
    np.testing.assert_allclose(whole, expected, atol=tolerance + 2e-5)
    # And it is still the speech, in time with it.
    lag, r = best_lag(whole, speech * np.mean([1 / (k + 1) for k in range(channels)]), 40)
    assert lag == 0 and r > 0.99
    # Streaming: output arrives while feeding, not only at the end.
    assert sum(len(o) for o in outs[: len(outs) // 2]) > 0.4 * len(whole)


def test_pcm_16k_mono_s16_is_exact(speech: F32) -> None:
    ints = np.round(speech * 32768).clip(-32768, 32767).astype("<i2")
    out, _ = _decode(AudioSpec("pcm_s16le", 16000, 1), [ints.tobytes()])
    np.testing.assert_array_equal(out, ints.astype(np.float32) / 32768)


def test_one_byte_at_a_time_keeps_every_sample() -> None:
    frames = np.array([[0.5, -0.25], [0.125, 1.0], [-1.0, 0.0]], dtype=np.float32)
    spec = AudioSpec("pcm_f32le", 16000, 2)
    data = frames.astype("<f4").tobytes()
    decoder = make_decoder(spec)
    outs = [decoder.feed(data[i : i + 1]) for i in range(len(data))]
    # Nothing until a whole 8-byte frame is in; then exactly one sample per frame.
    assert [len(o) for o in outs] == ([0] * 7 + [1]) * 3
    np.testing.assert_array_equal(np.concatenate(outs), frames.mean(axis=1))


def test_float_input_is_sanitized() -> None:
    values = np.array([np.nan, np.inf, -np.inf, 1.5, -1.9, 0.25], dtype="<f4")
    out, _ = _decode(AudioSpec("pcm_f32le", 16000, 1), [values.tobytes()])
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 1.0, -1.0, 0.25])


def test_absurd_float_samples_are_silence_not_a_full_scale_square() -> None:
    values = np.array([1e30, -1e30, 3.0, -7.0, 2.0, 0.5, np.finfo(np.float32).max],
                      dtype="<f4")
    out, _ = _decode(AudioSpec("pcm_f32le", 16000, 1), [values.tobytes()])
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 0.0, 1.0, 0.5, 0.0])


def test_garbage_floats_at_another_rate_reach_the_pipeline_as_silence() -> None:
    """Through the resampler and a stereo downmix: nothing but finite zeros comes out."""
    rng = np.random.default_rng(7)
    garbage = (rng.standard_normal(48000 * 2) * 1e30).astype("<f4")
    garbage[::7] = np.nan
    garbage[::11] = np.inf
    both, _ = _decode(AudioSpec("pcm_f32le", 48000, 2), [garbage.tobytes()])
    assert len(both) == 16000 and np.isfinite(both).all() and np.abs(both).max() < 1e-6


def test_s16_extremes_map_into_minus_one_to_one() -> None:
    data = np.array([-32768, 32767, 0], dtype="<i2").tobytes()
    out, _ = _decode(AudioSpec("pcm_s16le", 16000, 1), [data])
    assert out[0] == -1.0 and 0.9999 < out[1] < 1.0 and out[2] == 0.0


def test_incomplete_trailing_frame_is_dropped_at_flush() -> None:
    decoder = make_decoder(AudioSpec("pcm_s16le", 16000, 2))
    assert len(decoder.feed(b"\x00\x01\x00\x02\x00")) == 1  # one frame + 1 byte
    assert len(decoder.flush()) == 0


def test_resampler_drains_at_flush(speech: F32) -> None:
    data = _encode(_signal(speech[:4800], 48000, 1), "pcm_f32le")
    decoder = make_decoder(AudioSpec("pcm_f32le", 48000, 1))
    first = decoder.feed(data)
    tail = decoder.flush()
    assert len(tail) > 0  # the filter held some samples back
    assert len(first) + len(tail) == 4800


def test_empty_feed_and_end_of_stream() -> None:
    decoder = make_decoder(AudioSpec("pcm_s16le", 44100, 1))
    empty = decoder.feed(b"")
    assert empty.dtype == np.float32 and empty.shape == (0,)
    decoder.flush()
    assert len(decoder.flush()) == 0  # idempotent
    with pytest.raises(AudioError, match="after the end"):
        decoder.feed(b"\x00\x00")
