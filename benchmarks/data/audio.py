"""Decode any clip to float32 mono 16 kHz, and write 16-bit WAV files."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.data.clips import SAMPLE_RATE


def load_audio_16k(path: Path | str) -> npt.NDArray[np.float32]:
    """Float32 mono samples at 16 kHz of any file FFmpeg (PyAV) can read."""
    from faster_whisper.audio import decode_audio

    audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    return np.asarray(audio, dtype=np.float32)


def to_pcm16(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """Clip to [-1, 1] and quantize to 16-bit integers (round to nearest)."""
    scaled = np.clip(audio, -1.0, 1.0) * 32767.0
    return np.round(scaled).astype(np.int16)


def from_pcm16(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    return (pcm.astype(np.float32) / 32767.0).astype(np.float32)


def write_wav16(path: Path, pcm: npt.NDArray[np.int16], sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM WAV atomically (temp file + rename: readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(sample_rate)
        wf.writeframes(pcm.astype("<i2").tobytes())
    os.replace(tmp, path)
