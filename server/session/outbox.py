"""A bounded queue of events for one consumer (a speaker or listener socket), and its writer.

Overflow policy (docs/protocol.md): partial transcripts/translations and metrics may
be dropped for a slow consumer, finals never silently. When the queue is full
of events that may not be dropped, the consumer is too far behind: `put`
raises `SlowConsumer` and the owner disconnects it with a clear close reason.
"""

from __future__ import annotations

import asyncio
from collections import deque

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server.protocol.events import traits
from server.protocol.messages import Event, dumps


class SlowConsumer(Exception):
    """The consumer fell `capacity` undroppable events behind."""


def droppable(event: Event) -> bool:
    return traits(event).droppable


class Outbox:
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._items: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: Event) -> None:
        if self._closed:
            return
        if len(self._items) >= self.capacity and not self._drop_one():
            raise SlowConsumer(f"{len(self._items)} events waiting")
        self._items.append(event)
        self._ready.set()

    def _drop_one(self) -> bool:
        for i, queued in enumerate(self._items):
            if droppable(queued):
                del self._items[i]
                self.dropped += 1
                return True
        return False

    def close(self) -> None:
        """No more events; `get` returns None once the queue is drained."""
        self._closed = True
        self._ready.set()

    async def get(self) -> Event | None:
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


async def write_loop(conn: ServerConnection, outbox: Outbox) -> None:
    """Send the outbox's events in order until it is closed and drained, or the peer goes."""
    while (event := await outbox.get()) is not None:
        try:
            await conn.send(dumps(event))
        except ConnectionClosed:
            return
