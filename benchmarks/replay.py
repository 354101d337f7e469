"""Replay audio at real-time pace over the v1 WebSocket protocol and record everything.

Frame i (pcm_s16le, 16 kHz, `frame_s` long) is sent at t0 + i * frame_s on an
absolute schedule (no drift), its send time recorded just before the send.
After the last frame: `stop`, then wait for `end` (or the connection to
close) at most `drain_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks.recording import Received, Recording

SAMPLE_RATE = 16000


def start_message(
    source_language: str | None, targets: list[str], partials: bool = True,
    latency: str | None = None,
) -> dict[str, Any]:
    extra = {} if latency is None else {"latency": latency}
    return {
        **extra,
        "type": "start",
        "audio": {"encoding": "pcm_s16le", "sample_rate": SAMPLE_RATE, "channels": 1},
        "source_language": source_language,
        "target_languages": targets,
        "room": None,
        "partials": partials,
    }


async def _receive(ws: ClientConnection, rec: Recording, ready: asyncio.Event,
                   ended: asyncio.Event) -> None:
    try:
        async for message in ws:
            at = time.monotonic()
            if isinstance(message, bytes):
                continue
            event = json.loads(message)
            rec.events.append(Received(at, event))
            kind = event.get("type")
            if kind == "ready":
                rec.ready_at = at
                ready.set()
            elif kind == "end":
                rec.end_at = at
                ended.set()
            elif kind == "error":
                if rec.error is None:
                    rec.error = f"{event.get('code')}: {event.get('message')}"
                if event.get("fatal"):
                    ready.set()
    except ConnectionClosed as exc:
        if rec.end_at is None and rec.error is None and exc.rcvd is not None \
                and exc.rcvd.code != 1000:
            rec.error = f"closed {exc.rcvd.code}: {exc.rcvd.reason}"
    finally:
        ready.set()
        ended.set()


async def replay(
    url: str,
    pcm: npt.NDArray[np.int16],
    *,
    system: str,
    stream: str,
    start: dict[str, Any],
    frame_s: float = 0.1,
    start_delay_s: float = 0.0,
    ready_timeout_s: float = 120.0,
    drain_timeout_s: float = 120.0,
) -> Recording:
    frame = max(1, round(frame_s * SAMPLE_RATE))
    rec = Recording(system=system, stream=stream, sample_rate=SAMPLE_RATE,
                    frame_samples=frame, audio_samples=int(pcm.size))
    if start_delay_s > 0:
        await asyncio.sleep(start_delay_s)
    data = pcm.astype("<i2").tobytes()
    ready, ended = asyncio.Event(), asyncio.Event()
    rec.connect_at = time.monotonic()
    try:
        async with connect(url, max_size=1 << 24, open_timeout=30, ping_interval=None) as ws:
            receiver = asyncio.create_task(_receive(ws, rec, ready, ended))
            await ws.send(json.dumps(start))
            try:
                await asyncio.wait_for(ready.wait(), ready_timeout_s)
            except TimeoutError:
                rec.error = "no ready event"
            if rec.ready_at is None:
                receiver.cancel()
                return rec
            t0 = time.monotonic()
            step = frame * 2
            for i, off in enumerate(range(0, len(data), step)):
                delay = t0 + i * frame_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if ended.is_set():
                    break  # the server gave up on us (fatal error or close)
                rec.sent_at.append(time.monotonic())
                await ws.send(data[off: off + step])
            if not ended.is_set():
                rec.stop_at = time.monotonic()
                await ws.send(json.dumps({"type": "stop"}))
                try:
                    await asyncio.wait_for(ended.wait(), drain_timeout_s)
                except TimeoutError:
                    rec.error = rec.error or f"no end within {drain_timeout_s:.0f} s of stop"
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
    except (OSError, ConnectionClosed, TimeoutError) as exc:
        rec.error = rec.error or f"{type(exc).__name__}: {exc}"
    return rec


async def replay_many(
    url: str,
    pcm: npt.NDArray[np.int16],
    count: int,
    *,
    system: str,
    stream: str,
    start: dict[str, Any],
    frame_s: float = 0.1,
    stagger_s: float = 0.618,
    drain_timeout_s: float = 120.0,
) -> list[Recording]:
    """`count` simultaneous replays of the same audio, start k delayed by k * stagger_s
    modulo 1 s (golden-ratio spread) so frames of different clients do not arrive in
    lockstep, as they would not from real speakers."""
    tasks = [
        replay(url, pcm, system=system, stream=f"{stream}#{k}", start=start, frame_s=frame_s,
               start_delay_s=(k * stagger_s) % 1.0, drain_timeout_s=drain_timeout_s)
        for k in range(count)
    ]
    return list(await asyncio.gather(*tasks))
