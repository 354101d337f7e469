"""build_stream: fixed order, exact silent pauses, offsets, and a WAV that matches the array."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.data.audio import load_audio_16k, to_pcm16, write_wav16
from benchmarks.data.clips import SAMPLE_RATE, Clip
from benchmarks.data.streams import build_stream


def _tone_clip(folder: Path, name: str, seconds: float, freq: float, rate: int) -> Clip:
    t = np.arange(int(seconds * rate)) / rate
    pcm = to_pcm16((0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
    path = folder / f"{name}.wav"
    write_wav16(path, pcm, sample_rate=rate)
    return Clip(
        id=f"t/{name}",
        path=path,
        text=f"text {name}",
        language="nl",
        translation_en=f"english {name}",
    )


@pytest.fixture
def clips(tmp_path: Path) -> list[Clip]:
    return [
        _tone_clip(tmp_path, "a", 1.0, 440.0, 16000),
        _tone_clip(tmp_path, "b", 0.5, 660.0, 22050),  # resampled on the way in
    ]


def test_layout_offsets_and_silence(tmp_path: Path, clips: list[Clip]) -> None:
    stream = build_stream(clips, pause_s=0.25, name="two", out_dir=tmp_path / "out")
    a, b = stream.offsets
    assert (a.clip_id, a.start_s, a.end_s) == ("t/a", 0.0, 1.0)
    assert b.start_s == pytest.approx(1.25) and b.end_s == pytest.approx(1.75, abs=1e-3)
    assert stream.duration_s == pytest.approx(2.0, abs=1e-3)  # trailing pause included
    gap = stream.audio[int(1.0 * SAMPLE_RATE) : int(1.25 * SAMPLE_RATE)]
    assert gap.size == 4000 and not gap.any()  # digital silence, not noise
    assert not stream.audio[int(b.end_s * SAMPLE_RATE) + 1 :].any()
    assert np.abs(stream.audio[:SAMPLE_RATE]).max() > 0.25
    assert stream.reference == "text a text b"
    assert stream.reference_en == "english a english b"
    assert stream.audio.dtype == np.float32


def test_wav_and_sidecar_match(tmp_path: Path, clips: list[Clip]) -> None:
    stream = build_stream(clips, pause_s=0.5, name="s", out_dir=tmp_path)
    assert stream.wav_path == tmp_path / "s.wav"
    np.testing.assert_allclose(load_audio_16k(stream.wav_path), stream.audio, atol=1e-4)
    side = json.loads((tmp_path / "s.json").read_text())
    assert side["reference"] == stream.reference
    assert [p["clip_id"] for p in side["parts"]] == ["t/a", "t/b"]
    assert side["duration_s"] == pytest.approx(stream.duration_s)


def test_deterministic(tmp_path: Path, clips: list[Clip]) -> None:
    one = build_stream(clips, out_dir=tmp_path / "1")
    two = build_stream(clips, out_dir=tmp_path / "2")
    assert one.name == two.name and one.name.startswith("stream-")
    assert one.wav_path.read_bytes() == two.wav_path.read_bytes()
    other = build_stream(clips[::-1], out_dir=tmp_path / "3")
    assert other.name != one.name


def test_rejects_bad_input(tmp_path: Path, clips: list[Clip]) -> None:
    with pytest.raises(ValueError, match="at least one clip"):
        build_stream([], out_dir=tmp_path)
    with pytest.raises(ValueError, match="pause_s"):
        build_stream(clips, pause_s=-1, out_dir=tmp_path)
