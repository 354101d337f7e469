"""Raw PCM (`pcm_s16le`, `pcm_f32le`) -> float32 mono 16 kHz, for any chunking.

A WebSocket message may end in the middle of a sample or of a multi-channel
frame; the incomplete frame's bytes wait for the next message. At `flush()` an
incomplete trailing frame (a client bug) is dropped.

Float input is sanitized before anything else sees it (`resample.sanitize`):
NaN, +-inf and absurd magnitudes (over 2, e.g. 1e30) become 0, everything else
is clipped to [-1, 1] (one bad sample must not poison the resampler, VAD and
Whisper, and a run of garbage must not sound like a full-scale square wave).
Channels are averaged into mono before resampling.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from server.audio.resample import Quality, Resampler, Samples, downmix, empty, sanitize
from server.errors import AudioError

logger = logging.getLogger(__name__)

SampleFormat = Literal["s16le", "f32le"]

_DTYPES: dict[SampleFormat, np.dtype[np.int16] | np.dtype[np.float32]] = {
    "s16le": np.dtype("<i2"),
    "f32le": np.dtype("<f4"),
}


class PcmDecoder:
    """Interleaved little-endian PCM at any rate and channel count -> 16 kHz mono."""

    def __init__(
        self,
        sample_format: SampleFormat,
        sample_rate: int,
        channels: int,
        *,
        quality: Quality = "HQ",
    ) -> None:
        self._dtype = _DTYPES[sample_format]
        self._float = sample_format == "f32le"
        self._channels = channels
        self._frame_bytes = self._dtype.itemsize * channels
        self._rest = b""  # bytes of an incomplete frame
        self._resampler = Resampler(sample_rate, quality=quality)
        self._finished = False
        self._warned = False

    def feed(self, data: bytes) -> Samples:
        if self._finished:
            raise AudioError("audio received after the end of the stream")
        if self._rest:
            data = self._rest + data
        whole = len(data) - len(data) % self._frame_bytes
        self._rest = bytes(data[whole:])
        if whole == 0:
            return empty()
        raw = np.frombuffer(data, dtype=self._dtype, count=whole // self._dtype.itemsize)
        if self._float:
            samples = raw.astype(np.float32)  # a copy we own (the buffer is read-only)
            zeroed = sanitize(samples)
            if zeroed and not self._warned:
                self._warned = True
                logger.info("float PCM: %d samples not finite or beyond +-2 became silence",
                            zeroed)
        else:
            samples = raw.astype(np.float32)
            samples *= np.float32(1.0 / 32768.0)
        return self._resampler.process(downmix(samples, self._channels))

    def flush(self) -> Samples:
        if self._finished:
            return empty()
        self._finished = True
        if self._rest:
            logger.debug("PCM stream ended inside a frame; dropping %d bytes", len(self._rest))
            self._rest = b""
        return self._resampler.flush()
