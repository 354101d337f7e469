"""Whisper's log-mel input for short windows, and the choice of window length.

Whisper was trained on 30 s windows (3000 mel frames, 1500 encoder positions) and
faster-whisper always encodes that much, even for 2 s of audio. CTranslate2 accepts
fewer frames: the encoder then uses only the first positional embeddings and costs
roughly in proportion to the window. Padding follows faster-whisper exactly (zeros in
the normalized log-mel domain after the audio's own frames), so a 30 s window here gives
the same encoder input as `WhisperModel.transcribe` on the same audio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
HOP_LENGTH = 160
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100 mel frames per second
#: The window Whisper was trained on; no bucket may exceed it.
MAX_WINDOW_S = 30.0

Features = npt.NDArray[np.float32]


def validate_buckets(buckets_s: Sequence[float]) -> tuple[float, ...]:
    """Window lengths, ascending; each a whole number of frames in (0, 30] s."""
    if not buckets_s:
        raise ValueError("at least one window length is needed")
    out = tuple(sorted(float(b) for b in buckets_s))
    for b in out:
        if not 0.0 < b <= MAX_WINDOW_S:
            raise ValueError(f"window length {b} s is outside (0, {MAX_WINDOW_S:g}] s")
        if abs(b * FRAMES_PER_SECOND - round(b * FRAMES_PER_SECOND)) > 1e-6:
            raise ValueError(f"window length {b} s is not a whole number of 10 ms frames")
    if len(set(out)) != len(out):
        raise ValueError(f"window lengths repeat: {out}")
    return out


def full_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    """`buckets` validated and sorted, with Whisper's native 30 s window added."""
    valid = validate_buckets(tuple(buckets))
    return valid if valid[-1] == MAX_WINDOW_S else (*valid, MAX_WINDOW_S)


def choose_window_s(audio_s: float, buckets_s: Sequence[float], margin_s: float) -> float | None:
    """The smallest bucket that holds `audio_s` plus `margin_s` of padding.

    None when even the largest bucket is too short: the audio needs more than one window
    (the caller decodes it the long way). `buckets_s` must be ascending.
    """
    if audio_s < 0:
        raise ValueError(f"negative audio length {audio_s}")
    need = audio_s + margin_s
    for bucket in buckets_s:
        # A hair of tolerance: 10.0 s of audio fits a 10 s window with margin 0.
        if need <= bucket + 1e-9:
            return bucket
    return None


def window_frames(window_s: float) -> int:
    return round(window_s * FRAMES_PER_SECOND)


def content_frames(num_samples: int) -> int:
    """Mel frames that carry audio, as faster-whisper counts them (its last frame is
    padding and is dropped)."""
    return num_samples // HOP_LENGTH


class MelExtractor:
    """Log-mel features of one request's audio, the way faster-whisper computes them."""

    def __init__(self, extractor: Any) -> None:
        # faster_whisper.feature_extractor.FeatureExtractor (untyped upstream).
        self._extractor = extractor

    @property
    def n_mels(self) -> int:
        return int(self._extractor.mel_filters.shape[0])

    def __call__(self, audio: npt.NDArray[np.float32]) -> Features:
        mel = self._extractor(np.asarray(audio, dtype=np.float32))
        # faster-whisper: content_frames = features.shape[-1] - 1 (the last frame comes from
        # its own 160-sample padding).
        return np.asarray(mel[:, :-1], dtype=np.float32)


def pad_features(features: Features, frames: int) -> Features:
    """Trim or zero-pad (n_mels, n) features to (n_mels, frames), as `pad_or_trim` does."""
    n_mels, have = features.shape
    out = np.zeros((n_mels, frames), dtype=np.float32)
    keep = min(have, frames)
    out[:, :keep] = features[:, :keep]
    return out


def stack_window(features: Sequence[Features], frames: int) -> Features:
    """One contiguous (batch, n_mels, frames) array for the encoder."""
    if not features:
        raise ValueError("no features to stack")
    return np.ascontiguousarray(np.stack([pad_features(f, frames) for f in features]))


def seconds(num_samples: int) -> float:
    return num_samples / SAMPLE_RATE


def token_budget(audio_s: float, per_second: float, extra: int, ceiling: int) -> int:
    """Most tokens a decode of `audio_s` may produce: bounds hallucination loops.

    Fast English speech is ~4 tokens/s with punctuation; 8/s + 10 is far above any real
    transcript, yet stops a repetition loop long before Whisper's 448-token limit.
    """
    return max(1, min(ceiling, math.ceil(audio_s * per_second) + extra))
