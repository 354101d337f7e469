"""Stream a whole source through a speaker session and collect the result.

    result = await stream_file("ws://127.0.0.1:8765", "talk.mp3", realtime=True)
    print(result.transcript())

`realtime=True` paces the audio at its own speed (like a live speaker);
`realtime=False` sends as fast as the server takes it (it reads more only
when it has decoding capacity, so the pace is set by the server).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clients.python.parley_client.audio import BYTES_PER_SECOND, pcm_chunks
from clients.python.parley_client.captions import CaptionTrack
from clients.python.parley_client.client import Event, ParleyClient

EventCallback = Callable[[Event], Awaitable[None] | None]


@dataclass
class StreamResult:
    ready: Event
    events: list[Event] = field(default_factory=list)
    end: Event | None = None
    audio_s: float = 0.0

    def finals(self, kind: str = "transcript", lang: str | None = None) -> list[Event]:
        return [
            e for e in self.events
            if e.get("type") == kind and e.get("final") and (lang is None or e.get("lang") == lang)
        ]

    def transcript(self) -> str:
        return " ".join(str(e.get("text", "")).strip() for e in self.finals()).strip()

    def translation(self, lang: str) -> str:
        return " ".join(
            str(e.get("text", "")).strip() for e in self.finals("translation", lang)
        ).strip()

    def captions(self) -> CaptionTrack:
        track = CaptionTrack()
        for event in self.events:
            track.add(event)
        return track


async def stream_audio(
    url: str,
    chunks: AsyncIterable[bytes],
    *,
    realtime: bool = True,
    source_language: str | None = None,
    targets: Sequence[str] = (),
    room: str | None = None,
    partials: bool = True,
    on_event: EventCallback | None = None,
    latency: str | None = None,
) -> StreamResult:
    """Send 16 kHz mono s16le `chunks`, then stop; return every event until `end`.
    `latency`: the session's latency mode (None: the server's default)."""
    async with ParleyClient(
        url, source_language=source_language, targets=targets, room=room, partials=partials,
        latency=latency,
    ) as client:
        result = StreamResult(ready=client.ready)

        async def send() -> None:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            async for chunk in chunks:
                await client.send_audio(chunk)
                result.audio_s += len(chunk) / BYTES_PER_SECOND
                if realtime:
                    delay = t0 + result.audio_s - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
            await client.stop()

        async def receive() -> None:
            async for event in client.events():
                result.events.append(event)
                if event.get("type") == "end":
                    result.end = event
                if on_event is not None:
                    maybe = on_event(event)
                    if inspect.isawaitable(maybe):
                        await maybe

        tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
        try:
            # Until both finish, or either fails (a bad file, a refused session).
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            exc = None if task.cancelled() else task.exception()
            if exc is not None:
                raise exc
        return result


async def stream_file(
    url: str,
    path: str,
    *,
    realtime: bool = True,
    source_language: str | None = None,
    targets: Sequence[str] = (),
    room: str | None = None,
    partials: bool = True,
    on_event: EventCallback | None = None,
    chunk_s: float = 0.1,
    options: Mapping[str, str] | None = None,
    format: str | None = None,
    latency: str | None = None,
) -> StreamResult:
    """Stream a file (or any URL FFmpeg opens) in any format; see `stream_audio`."""
    chunks = pcm_chunks(path, chunk_s=chunk_s, options=options, format=format)
    return await stream_audio(
        url, chunks, realtime=realtime, source_language=source_language, targets=targets,
        room=room, partials=partials, on_event=on_event, latency=latency,
    )


def stream_file_sync(url: str, path: str, **kwargs: Any) -> StreamResult:
    """`stream_file` for plain scripts. In a notebook (a loop is running) use
    `await stream_file(...)` instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(stream_file(url, path, **kwargs))
    raise RuntimeError("an event loop is running here: use `await stream_file(...)`")
