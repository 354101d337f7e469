"""Silero VAD (the real ONNX model from the faster-whisper wheel), streamed."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.vad import SileroVADModel

from server.audio.vad import SileroVadModel, VadStream, default_model_path
from server.errors import ModelError
from tests.unit.audio.helpers import F32, SHORT_WAV, read_wav

W = 512


@pytest.fixture(scope="module")
def model() -> SileroVadModel:
    return SileroVadModel.shared()


def _batch(audio: F32) -> F32:
    """faster-whisper's own one-call scoring. Its call zeroes the last 64 samples of
    the final window in place, so a spare zero window is appended and its score dropped."""
    n = len(audio) // W * W
    padded = np.concatenate([audio[:n], np.zeros(W, dtype=np.float32)])
    probs = SileroVADModel(str(default_model_path()))(padded)
    return np.asarray(probs, dtype=np.float32).reshape(-1)[:-1]


def _stream(model: SileroVadModel, pieces: list[F32]) -> F32:
    stream = model.stream()
    out = [stream.feed(p) for p in pieces]
    return np.concatenate(out)


def test_streaming_equals_the_batch_call_for_any_chunking(
    model: SileroVadModel, speech: F32
) -> None:
    expected = _batch(speech)
    assert len(expected) == len(speech) // W
    rng = np.random.default_rng(17)
    sizes = [1, 100, 511, 512, 513, 1000, 5000, 20000]
    pieces: list[F32] = []
    pos = 0
    while pos < len(speech):
        n = int(rng.choice(sizes))
        pieces.append(speech[pos : pos + n])
        pos += n
    np.testing.assert_allclose(_stream(model, pieces), expected, atol=1e-6)
    np.testing.assert_allclose(_stream(model, [speech]), expected, atol=1e-6)


def test_speech_is_high_silence_and_noise_are_low(model: SileroVadModel, speech: F32) -> None:
    short = read_wav(SHORT_WAV)
    rng = np.random.default_rng(0)
    silence = np.zeros(2 * 16000, dtype=np.float32)
    noise = rng.normal(0, 0.05, 2 * 16000).astype(np.float32)  # about -26 dBFS white noise
    signal = np.concatenate([speech, silence, short, noise])
    probs = _stream(model, _float_chunks(signal, rng))

    def window(start_s: float, end_s: float) -> F32:
        return probs[int(start_s * 16000) // W : int(end_s * 16000) // W]

    t_speech = len(speech) / 16000
    t_short = t_speech + 2
    t_noise = t_short + len(short) / 16000
    # Inside the utterances (away from their edges): clearly speech.
    assert np.median(window(1.0, t_speech - 1.0)) > 0.9
    assert np.median(window(t_short + 0.5, t_noise - 0.5)) > 0.9
    # Digital silence (after a 300 ms hangover) and moderate white noise: not speech.
    assert window(t_speech + 0.3, t_short).max() < 0.2
    noise_probs = window(t_noise + 0.3, t_noise + 2)
    assert noise_probs.mean() < 0.15 and np.quantile(noise_probs, 0.9) < 0.3


def _float_chunks(signal: F32, rng: np.random.Generator) -> list[F32]:
    out = []
    pos = 0
    while pos < len(signal):
        n = int(rng.integers(1, 3000))
        out.append(signal[pos : pos + n])
        pos += n
    return out


def test_windows_and_remainder(model: SileroVadModel) -> None:
    stream = model.stream()
    assert stream.window_samples == 512 and SileroVadModel.window_samples == 512
    empty = stream.feed(np.zeros(0, dtype=np.float32))
    assert empty.dtype == np.float32 and empty.shape == (0,)
    assert len(stream.feed(np.zeros(511, dtype=np.float32))) == 0
    assert stream.pending_samples == 511
    one = stream.feed(np.zeros(1, dtype=np.float32))
    assert one.shape == (1,) and 0.0 <= one[0] <= 1.0
    assert len(stream.feed(np.zeros(512 * 3 + 7))) == 3  # float64 accepted, converted
    assert stream.windows_done == 4 and stream.pending_samples == 7
    with pytest.raises(ValueError, match="1-D"):
        stream.feed(np.zeros((2, 512), dtype=np.float32))


def test_reset_starts_over(model: SileroVadModel, speech: F32) -> None:
    stream = model.stream()
    first = stream.feed(speech[:16000])
    stream.feed(speech[16000:40000])
    stream.reset()
    assert stream.windows_done == 0
    np.testing.assert_array_equal(stream.feed(speech[:16000]), first)


def test_one_model_per_process_shared_by_streams_in_threads(
    model: SileroVadModel, speech: F32
) -> None:
    assert SileroVadModel.shared() is model
    expected = _stream(model, [speech])
    results: dict[int, F32] = {}

    def run(k: int) -> None:
        stream = VadStream(model)
        pieces = [speech[i : i + 1600] for i in range(0, len(speech), 1600)]
        results[k] = np.concatenate([stream.feed(p) for p in pieces])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        np.testing.assert_allclose(results[k], expected, atol=1e-6)


def test_missing_model_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        SileroVadModel(tmp_path / "nope.onnx")
