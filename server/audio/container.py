"""Browser container streams (WebM or Ogg, Opus or Vorbis) -> float32 mono 16 kHz.

Pipeline per session, all synchronous and thread-free:
    bytes -> OggDemuxer | WebmDemuxer -> EncodedPacket
          -> PacketDecoder (libavcodec via PyAV) -> mono PCM at the codec rate
          -> Resampler (soxr) -> 16 kHz
Every `feed()` decodes every packet completed by the bytes so far, so output
follows input with no more delay than the container's own packetization
(MediaRecorder's timeslice) plus the resampler's block (<= ~30 ms).

Why our own demuxers rather than `av.open()`: libavformat pulls bytes through
a blocking read callback and probes ahead, so feeding it from an event loop
needs a thread per session or the whole file up front. The demuxers here are
a few hundred lines of pure Python, push-driven, with bounded buffers.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from server.audio.codec import PacketDecoder
from server.audio.ogg import OggDemuxer
from server.audio.packets import MAX_PENDING_BYTES, CodecSetup, DemuxEvent, EncodedPacket
from server.audio.resample import Quality, Resampler, Samples, empty
from server.audio.webm import WebmDemuxer
from server.errors import AudioError

logger = logging.getLogger(__name__)

ContainerKind = Literal["webm", "ogg"]

#: Most audio (16 kHz samples) one `feed` may decode to. Real frames hold a
#: MediaRecorder timeslice (<= a few seconds); a hostile stream of 2-byte Opus
#: packets that each decode to 120 ms would otherwise expand 256 KiB into hours
#: of audio decoded synchronously on the event loop.
MAX_FEED_SECONDS = 60.0
#: Most bytes a stream may carry between two audio packets of its track (or before
#: the first): headers, other tracks' packets and skipped elements. A live recorder
#: sends an audio packet every 20-60 ms; a stream of anything else is not audio.
MAX_BYTES_WITHOUT_AUDIO = 1 << 20


class ContainerDecoder:
    """One session's container stream -> 16 kHz mono samples, incrementally."""

    def __init__(
        self,
        kind: ContainerKind,
        *,
        quality: Quality = "HQ",
        max_pending: int = MAX_PENDING_BYTES,
    ) -> None:
        self.kind = kind
        self._demuxer: OggDemuxer | WebmDemuxer = (
            OggDemuxer(max_pending) if kind == "ogg" else WebmDemuxer(max_pending)
        )
        self._quality: Quality = quality
        self._codec: PacketDecoder | None = None
        self._resampler: Resampler | None = None
        self._decoded = 0  # samples (codec rate) decoded for the current track
        self._end_at: int | None = None  # the current track's true length, once known
        self._fed = 0
        self._since_audio = 0  # bytes fed since the last audio packet of the track
        self._finished = False

    def feed(self, data: bytes) -> Samples:
        if self._finished:
            raise AudioError("audio received after the end of the stream")
        self._fed += len(data)
        self._since_audio += len(data)
        events = self._demuxer.feed(data)
        if any(isinstance(e, EncodedPacket) for e in events):
            self._since_audio = 0
        elif self._since_audio > MAX_BYTES_WITHOUT_AUDIO:
            raise AudioError(
                f"{self.kind} stream: {self._since_audio} bytes without an audio packet of its "
                "track: not an audio stream"
            )
        return self._run(events)

    def flush(self) -> Samples:
        if self._finished:
            return empty()
        self._finished = True
        out = [self._run(self._demuxer.finish())]
        if self._codec is None:
            if self._fed:
                raise AudioError(
                    f"{self.kind} stream ended before its audio track header was complete"
                )
            return empty()
        out.append(self._end_track())
        return _join(out)

    def _run(self, events: list[DemuxEvent]) -> Samples:
        if not events:
            return empty()
        out: list[Samples] = []
        pcm: list[Samples] = []  # codec-rate samples, resampled in one call per feed
        seconds = 0.0  # decoded by this feed (bounded: MAX_FEED_SECONDS)
        for event in events:
            if isinstance(event, CodecSetup):
                if pcm:
                    out.append(self._resample(pcm))
                    pcm = []
                out.append(self._start_track(event))
            else:
                pcm.append(self._packet(event))
                assert self._codec is not None
                seconds += pcm[-1].size / self._codec.sample_rate
                if seconds > MAX_FEED_SECONDS:
                    raise AudioError(
                        f"{self.kind} frame decodes to more than {MAX_FEED_SECONDS:g} s of "
                        "audio; send smaller frames"
                    )
        if pcm:
            out.append(self._resample(pcm))
        return _join(out)

    def _resample(self, pcm: list[Samples]) -> Samples:
        assert self._resampler is not None
        return self._resampler.process(_join(pcm))

    def _start_track(self, setup: CodecSetup) -> Samples:
        tail = self._end_track() if self._codec is not None else empty()
        logger.debug(
            "%s track: %s, %d Hz, %d channel(s)",
            self.kind,
            setup.codec,
            setup.sample_rate,
            setup.channels,
        )
        self._codec = PacketDecoder(setup)
        self._decoded = 0
        self._end_at = None
        if self._resampler is None or self._resampler.in_rate != setup.sample_rate:
            self._resampler = Resampler(setup.sample_rate, quality=self._quality)
        return tail

    def _end_track(self) -> Samples:
        """Drain the decoder and the resampler (end of stream or of a chained track)."""
        assert self._codec is not None and self._resampler is not None
        pcm = self._limit(self._codec.drain(), None)
        out = [self._resampler.process(pcm), self._resampler.flush()]
        return _join(out)

    def _packet(self, packet: EncodedPacket) -> Samples:
        """Decode one packet; returns samples at the codec rate (not resampled yet)."""
        if self._codec is None:
            raise AudioError(f"{self.kind} audio packet before the codec header")
        pcm = self._codec.decode(packet.data)
        if packet.trim_end > 0:
            pcm = pcm[: max(0, len(pcm) - packet.trim_end)]
        return self._limit(pcm, packet.end_at)

    def _limit(self, pcm: Samples, end_at: int | None) -> Samples:
        if end_at is not None:
            self._end_at = end_at
        if self._end_at is not None and self._decoded + len(pcm) > self._end_at:
            pcm = pcm[: max(0, self._end_at - self._decoded)]
        self._decoded += len(pcm)
        return pcm


def _join(parts: list[Samples]) -> Samples:
    parts = [p for p in parts if p.size]
    if not parts:
        return empty()
    if len(parts) == 1:
        return parts[0]
    joined: Samples = np.concatenate(parts)
    return joined
