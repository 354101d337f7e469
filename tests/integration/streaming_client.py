"""A minimal protocol client for tests: stream audio, collect every event with its time."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

SAMPLE_RATE = 16000


@dataclass
class Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    def of(self, kind: str, final: bool | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if e["type"] == kind and (final is None or e.get("final") == final)
        ]

    def final_text(self) -> str:
        return " ".join(e["text"] for e in self.of("transcript", final=True))


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


async def stream_pcm(
    url: str,
    audio: np.ndarray,
    *,
    source_language: str | None = "en",
    targets: tuple[str, ...] = (),
    realtime: float = 1.0,
    chunk_s: float = 0.1,
    tail_silence_s: float = 1.0,
    extra: dict[str, Any] | None = None,
) -> Received:
    """Stream 16 kHz float audio as pcm_s16le (real time / `realtime` pace), then stop."""
    data = pcm16(np.concatenate([audio, np.zeros(int(tail_silence_s * SAMPLE_RATE), np.float32)]))
    out = Received()
    step = int(chunk_s * SAMPLE_RATE) * 2
    # No client keepalive: under backpressure the server reads (and answers pings)
    # late by design; a 20 s ping timeout would cut a session that is only slow.
    async with connect(url + "/v1/stream", max_size=None, ping_interval=None) as ws:
        start = {
            "type": "start",
            "audio": {"encoding": "pcm_s16le", "sample_rate": SAMPLE_RATE, "channels": 1},
            "source_language": source_language,
            "target_languages": list(targets),
            **(extra or {}),
        }
        await ws.send(json.dumps(start))

        async def receive() -> None:
            async for message in ws:
                out.events.append(json.loads(message))
                out.times.append(time.monotonic())

        rx = asyncio.create_task(receive())
        t0 = time.monotonic()
        for i in range(0, len(data), step):
            await ws.send(data[i : i + step])
            if realtime > 0:
                due = t0 + (i + step) / 2 / SAMPLE_RATE / realtime
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(rx, timeout=120)
        out.close_code = ws.close_code
        out.close_reason = ws.close_reason or ""
    return out
