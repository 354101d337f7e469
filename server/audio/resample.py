"""Streaming resampling to the pipeline rate, and channel downmixing.

The whole pipeline after the decoder works on float32 mono at `TARGET_RATE`
(16 kHz, what Whisper and Silero VAD take).

Resampling uses soxr's streaming resampler. Quality "HQ" (20-bit, the soxr
default) is the default: it costs about 0.35 ms per audio second at
48 kHz -> 16 kHz here, and holds back at most about 30 ms of output
(soxr works in blocks; the held-back samples come out with later input or at
`flush()`). The total output length is exact: round(n_in * 16000 / rate).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import soxr

TARGET_RATE = 16000

Quality = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]
Samples = npt.NDArray[np.float32]

EMPTY: Samples = np.zeros(0, dtype=np.float32)
EMPTY.flags.writeable = False


def empty() -> Samples:
    """A fresh empty float32 array (callers may own what they get)."""
    return np.zeros(0, dtype=np.float32)


#: Float samples of a larger magnitude are not audio (garbage, or integers sent as
#: float by a client bug): they become silence rather than a full-scale clipped square,
#: which VAD takes for speech and Whisper for words.
MAX_FLOAT_MAGNITUDE = 2.0


def sanitize(samples: npt.NDArray[np.float32]) -> int:
    """In place: NaN, +-inf and magnitudes over `MAX_FLOAT_MAGNITUDE` -> 0, the rest
    clipped to [-1, 1]. Returns how many samples were not audio (zeroed)."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(samples) | (np.abs(samples) > MAX_FLOAT_MAGNITUDE)
    count = int(np.count_nonzero(bad))
    if count:
        samples[bad] = 0.0
    np.clip(samples, -1.0, 1.0, out=samples)
    return count


def downmix(frames: npt.NDArray[np.float32], channels: int) -> Samples:
    """Interleaved float32 samples (n * channels) -> mono, by averaging channels."""
    if channels == 1:
        return frames
    mixed: Samples = frames.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return mixed


class Resampler:
    """Mono float32 at `in_rate` -> mono float32 at `out_rate`, chunk by chunk."""

    def __init__(self, in_rate: int, out_rate: int = TARGET_RATE, quality: Quality = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(
                in_rate, out_rate, 1, dtype="float32", quality=quality
            )

    def process(self, samples: Samples) -> Samples:
        if self._stream is None:
            return samples
        if samples.size == 0:
            return empty()
        out: Samples = self._stream.resample_chunk(samples)
        return out

    def flush(self) -> Samples:
        """End of signal: return what the filter still holds; ready for a new signal."""
        if self._stream is None:
            return empty()
        out: Samples = self._stream.resample_chunk(EMPTY, last=True)
        self._stream.clear()
        return out
