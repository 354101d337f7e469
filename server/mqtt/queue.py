"""The publisher's bounded, ordered queue with replay (sans-I/O).

Messages leave in the order they were queued. A message stays queued until
the broker has acknowledged it (QoS 1) or it was written (QoS 0); after a
disconnect everything unacknowledged is sent again, in order, on the next
connection (`rewind`), so a broker restart loses no final (subscribers may
see a duplicate: payloads carry the speaker's `seq` to drop it).

Bounds: at most `capacity` messages. When full, the oldest unsent partial is
dropped; if there is none, the oldest unsent message is (counted in
`dropped_finals` and logged by the owner). Partials older than their expiry
are dropped instead of sent.
"""

from __future__ import annotations

from collections import deque

from server.mqtt.messages import Outgoing


class PublishQueue:
    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._items: deque[Outgoing] = deque()
        #: items at the head handed to the client and not yet acknowledged
        self._sent = 0
        self.dropped_partials = 0
        self.dropped_finals = 0
        self.acked = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def in_flight(self) -> int:
        return self._sent

    @property
    def unsent(self) -> int:
        return len(self._items) - self._sent

    def put(self, msg: Outgoing) -> None:
        if len(self._items) >= self.capacity:
            self._make_room()
        self._items.append(msg)

    def _make_room(self) -> None:
        # Only unsent items may go: in-flight ones are acknowledged by position.
        for i in range(self._sent, len(self._items)):
            if not self._items[i].final:
                del self._items[i]
                self.dropped_partials += 1
                return
        if self._sent < len(self._items):
            del self._items[self._sent]
            self.dropped_finals += 1
            return
        raise OverflowError("every queued message is in flight")  # capacity < window

    def take(self, now: float) -> Outgoing | None:
        """The next message to send, or None; expired partials are dropped on the way."""
        while self._sent < len(self._items):
            msg = self._items[self._sent]
            if not msg.final and now - msg.created > msg.expiry_s:
                del self._items[self._sent]
                self.dropped_partials += 1
                continue
            self._sent += 1
            return msg
        return None

    def ack(self) -> Outgoing:
        """The oldest in-flight message is done (acknowledged or written)."""
        if self._sent == 0:
            raise RuntimeError("nothing in flight")
        self._sent -= 1
        self.acked += 1
        return self._items.popleft()

    def rewind(self) -> int:
        """Disconnected: everything in flight will be sent again. Returns how many."""
        count, self._sent = self._sent, 0
        return count
