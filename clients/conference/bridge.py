"""The bridge: source audio -> a speaker session in a room -> caption sinks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from clients.conference.ingest import source_chunks
from clients.conference.sinks import CaptionSink
from clients.python.parley_client.client import Event
from clients.python.parley_client.stream import stream_audio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BridgeConfig:
    source: str
    url: str
    room: str | None = None
    source_language: str | None = None
    targets: tuple[str, ...] = ()
    partials: bool = False
    open_timeout_s: float = 60.0
    idle_s: float = 5.0
    #: extra FFmpeg options for the source (e.g. {"listen": "1"} for an RTMP push)
    options: dict[str, str] = field(default_factory=dict)
    #: how long sinks may take to deliver what is queued when the call ends
    drain_s: float = 30.0


@dataclass
class BridgeResult:
    audio_s: float
    finals: int
    end: Event | None


async def run_bridge(config: BridgeConfig, sinks: Sequence[CaptionSink]) -> BridgeResult:
    """Run until the source ends (or goes quiet for `idle_s`), then deliver what is left."""
    chunks = source_chunks(
        config.source, open_timeout_s=config.open_timeout_s, idle_s=config.idle_s,
        extra_options=config.options,
    )

    def on_event(event: Event) -> None:
        for sink in sinks:
            sink.offer(event)

    try:
        result = await stream_audio(
            config.url, chunks, realtime=False,  # a live source is paced by itself
            source_language=config.source_language, targets=config.targets, room=config.room,
            partials=config.partials, on_event=on_event,
        )
    finally:
        for sink in sinks:
            await sink.aclose(config.drain_s)
    finals = len(result.finals())
    log.info("bridge: %.1f s of audio, %d final captions", result.audio_s, finals)
    return BridgeResult(audio_s=result.audio_s, finals=finals, end=result.end)
