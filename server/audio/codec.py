"""Packet-level Opus / Vorbis decoding with libavcodec (PyAV), one packet at a time.

PyAV's `CodecContext` is used without any container or I/O: we hand it the
packets our own demuxers cut out, and it returns PCM frames synchronously.
`thread_count = 1` keeps libavcodec from starting worker threads.

Opus pre-skip: libavcodec's Opus decoder reads the pre-skip from the OpusHead
extradata and drops those first samples itself (checked in the unit tests
against ffmpeg's own decoding of the same file), so nothing is trimmed here.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

from server.audio.packets import CodecSetup
from server.audio.resample import Samples, downmix, empty, sanitize
from server.errors import AudioError


class PacketDecoder:
    """Compressed packets of one track -> mono float32 at `sample_rate`."""

    def __init__(self, setup: CodecSetup) -> None:
        self.setup = setup
        self.sample_rate = setup.sample_rate
        try:
            ctx = av.CodecContext.create(setup.codec, "r")
            ctx.extradata = setup.extradata
            ctx.sample_rate = setup.sample_rate
            ctx.thread_count = 1
            ctx.open()
        except (av.FFmpegError, ValueError) as exc:
            raise AudioError(f"cannot open the {setup.codec} decoder: {exc}") from exc
        self._ctx = ctx

    def decode(self, data: bytes) -> Samples:
        return self._run(av.Packet(data))

    def drain(self) -> Samples:
        """End of stream: frames the decoder still holds (none for Opus)."""
        return self._run(None)

    def _run(self, packet: av.Packet[Any] | None) -> Samples:
        try:
            frames = self._ctx.decode(packet)
        except (av.FFmpegError, ValueError) as exc:
            raise AudioError(f"cannot decode {self.setup.codec} audio: {exc}") from exc
        if not frames:
            return empty()
        parts: list[Samples] = []
        for frame in frames:
            if frame.sample_rate != self.sample_rate:
                raise AudioError(
                    f"{self.setup.codec} decoder changed rate to {frame.sample_rate} Hz"
                )
            array = frame.to_ndarray()
            if array.dtype != np.float32:  # Opus and Vorbis decode to float (flt / fltp)
                raise AudioError(f"unexpected {self.setup.codec} sample format {array.dtype}")
            array = array.astype(np.float32, copy=False)  # no-op; narrows the type
            channels = frame.layout.nb_channels
            if frame.format.is_planar:
                if channels > 1:
                    mixed = array.sum(axis=0, dtype=np.float32)
                    mixed *= np.float32(1.0 / channels)
                    parts.append(mixed)
                else:
                    parts.append(array[0])
            else:
                parts.append(downmix(array.reshape(-1), channels))
        # (a copy of one part: it may be the frame's own buffer)
        out = parts[0].copy() if len(parts) == 1 else np.concatenate(parts)
        sanitize(out)  # a decoder fed garbage may write anything: VAD and Whisper get audio
        return out
