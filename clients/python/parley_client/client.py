"""Async clients: a speaker (`ParleyClient`) and a room listener (`ParleyListener`).

Both are async context managers and assume nothing about the event loop
(they work under `asyncio.run`, in a notebook's running loop, or in any
task). Events are the server's JSON objects as dicts (see docs/protocol.md).

    async with ParleyClient("ws://127.0.0.1:8765", source_language="en", targets=["zh"]) as c:
        await c.send_audio(pcm_bytes)        # 16 kHz mono s16le by default
        await c.stop()                       # finals are still delivered, then `end`
        async for event in c.events():
            print(event["type"], event.get("text"))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from clients.python.parley_client.errors import ParleyClientError
from clients.python.parley_client.urls import listen_url, stream_url

Event = dict[str, Any]

#: Events buffered for a caller that reads slower than they arrive. When full, the
#: reader stops reading the socket (the server then sees a slow consumer).
_QUEUE_EVENTS = 10_000


@dataclass(frozen=True)
class AudioFormat:
    encoding: str = "pcm_s16le"
    sample_rate: int = 16000
    channels: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"encoding": self.encoding, "sample_rate": self.sample_rate,
                "channels": self.channels}


class _EventStream:
    """Reads JSON events off a connection into a bounded queue; remembers how it ended."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(_QUEUE_EVENTS)
        self.error: ParleyClientError | None = None
        self.ended = False
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        last_error: Event | None = None
        try:
            async for message in self.conn:
                if isinstance(message, bytes):
                    continue
                event = json.loads(message)
                if isinstance(event, dict):
                    if event.get("type") == "error" and event.get("fatal"):
                        last_error = event
                    await self.queue.put(event)
        except ConnectionClosed:
            pass
        finally:
            code = self.conn.close_code
            if code not in (None, 1000, 1001):
                reason = self.conn.close_reason or ""
                msg = (last_error or {}).get("message") or f"closed by the server ({code} {reason})"
                self.error = ParleyClientError(str(msg), code=reason or "connection")
            self.ended = True  # if the queue is full, the reader of it sees this once it drains
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)

    async def first(self, types: tuple[str, ...], timeout: float) -> Event:
        """Wait for the first event of one of `types`; raise on an error event or close."""
        async with asyncio.timeout(timeout):
            while True:
                event = None if self.ended and self.queue.empty() else await self.queue.get()
                if event is None:
                    raise self.error or ParleyClientError("the server closed the connection")
                if event.get("type") == "error":
                    raise ParleyClientError(str(event.get("message")), str(event.get("code")))
                if event.get("type") in types:
                    return event

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = None if self.ended and self.queue.empty() else await self.queue.get()
            if event is None:
                if self.error is not None:
                    raise self.error
                return
            yield event

    async def aclose(self) -> None:
        await self.conn.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def _open(url: str, timeout: float) -> ClientConnection:
    try:
        # ping_interval=None: the server reads late under backpressure by design
        # (flow control); a client keepalive timeout would cut a session that is slow.
        return await connect(url, open_timeout=timeout, max_size=1 << 22, ping_interval=None)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
        raise ParleyClientError(f"cannot connect to {url}: {exc}") from exc


class ParleyClient:
    """A speaker session: send audio, receive transcript/translation events."""

    def __init__(
        self,
        url: str,
        *,
        source_language: str | None = None,
        targets: Sequence[str] = (),
        room: str | None = None,
        partials: bool = True,
        audio: AudioFormat | None = None,
        token: str | None = None,
        open_timeout: float = 10.0,
        latency: str | None = None,
    ) -> None:
        self.url = stream_url(url)
        self.source_language = source_language
        self.targets = list(targets)
        self.room = room
        self.partials = partials
        self.audio = audio or AudioFormat()
        self.token = token
        self.open_timeout = open_timeout
        #: `start.latency`: "fast", "balanced" or "accurate" (None: the server's default)
        self.latency = latency
        #: the server's `ready` event, once connected
        self.ready: Event = {}
        self.max_frame_bytes = 256 * 1024
        self._stream: _EventStream | None = None
        self._stopped = False

    @property
    def session_id(self) -> str:
        return str(self.ready.get("session_id", ""))

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> Event:
        conn = await _open(self.url, self.open_timeout)
        self._stream = _EventStream(conn)
        start: Event = {
            "type": "start",
            "audio": self.audio.as_dict(),
            "source_language": self.source_language,
            "target_languages": self.targets,
            "room": self.room,
            "partials": self.partials,
        }
        if self.token is not None:
            start["token"] = self.token
        if self.latency is not None:
            start["latency"] = self.latency
        try:
            await conn.send(json.dumps(start))
            self.ready = await self._stream.first(("ready",), self.open_timeout)
        except BaseException:
            await self._stream.aclose()
            raise
        limits = self.ready.get("limits") or {}
        self.max_frame_bytes = int(limits.get("max_frame_bytes", self.max_frame_bytes))
        return self.ready

    def _conn(self) -> ClientConnection:
        if self._stream is None:
            raise ParleyClientError("not connected: use `async with ParleyClient(...)`")
        return self._stream.conn

    async def send_audio(self, data: bytes | np.ndarray) -> None:
        """Send audio in the announced format. A float array is taken as samples in [-1, 1]
        (converted to s16le when that is the format); frames are split to the server limit."""
        if isinstance(data, np.ndarray):
            data = _array_bytes(data, self.audio.encoding)
        conn = self._conn()
        step = self.max_frame_bytes
        try:
            for i in range(0, len(data), step):
                await conn.send(data[i:i + step])
        except ConnectionClosed as exc:
            raise self._closed_error() from exc

    async def flush(self) -> None:
        """End the current utterance now (its final comes soon after)."""
        await self._send_control({"type": "flush"})

    async def stop(self) -> None:
        """Finish: the server sends every pending final, then `end`, then closes."""
        if not self._stopped:
            self._stopped = True
            await self._send_control({"type": "stop"})

    async def _send_control(self, message: Event) -> None:
        try:
            await self._conn().send(json.dumps(message))
        except ConnectionClosed as exc:
            raise self._closed_error() from exc

    def _closed_error(self) -> ParleyClientError:
        stream = self._stream
        if stream is not None and stream.error is not None:
            return stream.error
        return ParleyClientError("the connection is closed")

    async def events(self) -> AsyncIterator[Event]:
        """Every event after `ready`, until `end` and the close (raises if closed on error)."""
        if self._stream is None:
            raise ParleyClientError("not connected")
        async for event in self._stream.events():
            yield event

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()


class ParleyListener:
    """Follow a room: the transcript, and the translation into `lang` if given."""

    def __init__(self, url: str, room: str, lang: str | None = None, *,
                 open_timeout: float = 10.0) -> None:
        self.url = listen_url(url, room, lang)
        self.room = room
        self.lang = lang
        self.open_timeout = open_timeout
        #: the server's `joined` event
        self.joined: Event = {}
        self._stream: _EventStream | None = None

    async def __aenter__(self) -> Self:
        conn = await _open(self.url, self.open_timeout)
        self._stream = _EventStream(conn)
        try:
            self.joined = await self._stream.first(("joined",), self.open_timeout)
        except BaseException:
            await self._stream.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()

    async def events(self) -> AsyncIterator[Event]:
        """Room events after `joined` (speaker, transcript, translation, end...) until closed."""
        if self._stream is None:
            raise ParleyClientError("not connected: use `async with ParleyListener(...)`")
        async for event in self._stream.events():
            yield event


def _array_bytes(samples: np.ndarray, encoding: str) -> bytes:
    if encoding == "pcm_s16le":
        if samples.dtype == np.int16:
            return samples.astype("<i2").tobytes()
        clipped = np.clip(samples.astype(np.float32), -1.0, 1.0)
        return (clipped * 32767.0).astype("<i2").tobytes()
    if encoding == "pcm_f32le":
        if samples.dtype == np.int16:
            return (samples.astype(np.float32) / 32768.0).astype("<f4").tobytes()
        return samples.astype("<f4").tobytes()
    raise ParleyClientError(f"send encoded {encoding} audio as bytes, not an array")
