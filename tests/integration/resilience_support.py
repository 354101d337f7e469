"""A raw protocol speaker for the security / limits / resume / shutdown tests.

Unlike `streaming_client.stream_pcm` it can stop half-way, cut its TCP
connection without a close handshake, resume with the session id and token of
`ready`, and keep every event and the close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.integration.rooms_support import (
    in_order_hits,
    librivox_files,
    librivox_text,
    speech,
    words,
)

PCM = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}
START: dict[str, Any] = {"type": "start", "audio": PCM, "source_language": "en",
                         "target_languages": []}
FRAME = 3200  # bytes: 0.1 s of 16 kHz s16le


def speech_pcm(n_files: int = 2, pause_s: float = 0.8) -> bytes:
    return speech(librivox_files()[:n_files], pause_s=pause_s)


def heard_opening(text: str, count: int = 8) -> bool:
    """`text` holds the first recording's opening ("and mister john dashwood had then
    leisure to"), in order, but for the few words tiny.en may hear otherwise ("Mr.",
    and "Dashwood" once as "D'Aishwood" on a busy machine)."""
    reference = words(librivox_text(librivox_files()[0]))[:count]
    return in_order_hits(reference, words(text)) >= count - 3


def heard_share(text: str, n_files: int = 1) -> float:
    """Share of the first `n_files` recordings' reference words found in `text`, in order."""
    reference = [w for f in librivox_files()[:n_files] for w in words(librivox_text(f))]
    return in_order_hits(reference, words(text)) / len(reference)


@dataclass
class Speaker:
    url: str  # ws://host:port (no path)
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/v1/stream"
    ssl_context: ssl.SSLContext | None = None
    origin: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    ws: ClientConnection | None = None
    sent_bytes: int = 0
    _reader: asyncio.Task[None] | None = None
    _got: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self) -> None:
        kwargs: dict[str, Any] = {"max_size": None, "additional_headers": self.headers}
        if self.ssl_context is not None:
            kwargs["ssl"] = self.ssl_context
        if self.origin is not None:
            kwargs["origin"] = self.origin
        self.ws = await connect(self.url + self.path, **kwargs)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                self.events.append(json.loads(message))
                self._got.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            self._got.set()

    async def start(self, **fields: Any) -> dict[str, Any]:
        """Connect, send `start` (START updated with `fields`), return the first event."""
        await self.connect()
        await self.send_json({**START, **fields})
        return await self.wait_for(lambda e: e["type"] in ("ready", "error"))

    async def send_json(self, obj: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(obj))

    async def send_pcm(self, data: bytes, *, realtime: float = 0.0, frame: int = FRAME) -> bool:
        """Send audio frames (at `realtime` x real time; 0: as fast as the server reads).

        Returns False if the connection closed meanwhile.
        """
        assert self.ws is not None
        t0 = time.monotonic()
        for i in range(0, len(data), frame):
            try:
                await self.ws.send(data[i : i + frame])
            except ConnectionClosed:
                return False
            self.sent_bytes += len(data[i : i + frame])
            if realtime > 0:
                due = t0 + (i + frame) / 32000 / realtime
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        return True

    async def wait_for(self, pred: Any, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if pred(event):
                    return event
            seen = len(self.events)
            if self.closed:
                raise AssertionError(f"closed ({self.close_code} {self.close_reason}) before the "
                                     f"event; got {[e['type'] for e in self.events]}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no such event; got {[e['type'] for e in self.events]}")
            self._got.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._got.wait(), timeout=min(left, 1.0))

    @property
    def closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def stop(self, timeout: float = 120.0) -> None:
        """Send `stop` and read until the server closes."""
        await self.send_json({"type": "stop"})
        await self.wait_closed(timeout)

    async def wait_closed(self, timeout: float = 120.0) -> None:
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout=timeout)

    def cut(self) -> None:
        """Drop the TCP connection with no close frame (a network failure)."""
        assert self.ws is not None
        self.ws.transport.abort()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 10)

    # -- views ------------------------------------------------------------------

    def finals(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "transcript" and e["final"]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def last_seq(self) -> int:
        return max((e["seq"] for e in self.events), default=0)


def final_words(finals: list[dict[str, Any]]) -> list[str]:
    return words(" ".join(e["text"] for e in finals))


def http_get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def metric(text: str, name: str) -> float:
    """One sample of a /metrics exposition (0 when absent)."""
    from server.metrics import parse_text

    return parse_text(text).get(name, 0.0)
