"""Resuming a speaker session after a dropped connection: the sans-I/O parts.

A session's events go to a `SessionChannel`, not straight to a socket's
outbox. The channel keeps the events a client must not lose (finals, final
translations, errors, `end`) in a bounded `ReplayBuffer`, and forwards every
event to the outbox of the connection attached right now, if any. When the
connection drops, the gateway detaches it and parks the session; a client that
comes back with the session id and its resume token gets the retained events
with `seq` greater than the last one it saw, then the live stream again.

Invariants:
- Every event passes `put` exactly once, in emission order, and carries its
  final `seq` already (stamped by the session's `Sequencer`), so the replay of
  a resumed connection continues the same numbering with no duplicates.
- Partials and metrics are never retained (a later partial or the final
  supersedes them); so a resumed client may see gaps in `seq`, never repeats.
- The buffer is bounded; `since(last_seq)` raises `ReplayGap` when an event the
  client has not seen was evicted, rather than replaying with a hole.
- The resume token is kept only as its sha256 digest and compared with
  `hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Callable

from server.protocol.events import traits
from server.protocol.messages import Event
from server.session.outbox import Outbox, SlowConsumer

#: Retained events per session: at 1 transcript final + 1-2 translations per
#: sentence this covers hundreds of sentences, far more than a grace period holds.
REPLAY_EVENTS = 1024


def retained(event: Event) -> bool:
    """Whether a resumed client must receive this event again if it missed it."""
    return traits(event).kept_for_resume


class ReplayGap(Exception):
    """Events the client has not seen were evicted from the replay buffer."""


class ReplayBuffer:
    def __init__(self, capacity: int = REPLAY_EVENTS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._events: deque[Event] = deque()
        self._capacity = capacity
        #: highest seq evicted so far (0: nothing evicted)
        self.evicted_through = 0

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: Event) -> None:
        if not retained(event):
            return
        self._events.append(event)
        if len(self._events) > self._capacity:
            old = self._events.popleft()
            self.evicted_through = max(self.evicted_through, int(old.get("seq", 0)))

    def since(self, last_seq: int) -> list[Event]:
        """Retained events with seq > last_seq, oldest first. Raises ReplayGap."""
        if self.evicted_through > last_seq:
            raise ReplayGap(
                f"events after seq {last_seq} are no longer buffered (kept from seq "
                f"{self.evicted_through + 1})"
            )
        return [e for e in self._events if int(e.get("seq", 0)) > last_seq]


class SessionChannel:
    """Where one session's events go: its replay buffer and the attached connection."""

    def __init__(
        self,
        replay: ReplayBuffer | None = None,
        observe: Callable[[Event], None] | None = None,
    ) -> None:
        self.replay = replay if replay is not None else ReplayBuffer()
        #: sees every event once, before delivery (metrics)
        self.observe = observe
        self.outbox: Outbox | None = None
        self._on_slow: Callable[[], None] | None = None

    @property
    def attached(self) -> bool:
        return self.outbox is not None

    def put(self, event: Event) -> None:
        if self.observe is not None:
            self.observe(event)
        self.replay.add(event)
        if self.outbox is None:
            return
        try:
            self.outbox.put(event)
        except SlowConsumer:
            # Never raise into the session (it emits from tasks and callbacks): detach
            # the connection and let its owner close it; the event stays retained.
            on_slow = self._on_slow
            self.detach()
            if on_slow is not None:
                on_slow()

    def attach(
        self, outbox: Outbox, on_slow: Callable[[], None] | None = None,
        replay: list[Event] | None = None,
    ) -> None:
        """Send `replay` (from `replay.since`) to `outbox`, then every new event."""
        for event in replay or ():
            outbox.put(event)
        self.outbox = outbox
        self._on_slow = on_slow

    def detach(self) -> None:
        self.outbox = None
        self._on_slow = None


class ResumeKey:
    """The secret that lets a client resume its session, kept as a digest."""

    def __init__(self, token_digest: bytes) -> None:
        self._digest = token_digest

    @classmethod
    def new(cls) -> tuple[ResumeKey, str]:
        token = secrets.token_urlsafe(24)
        return cls(_digest(token)), token

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(_digest(presented), self._digest)


#: Compared against when the session id is unknown, so both paths do the same work.
UNKNOWN_KEY = ResumeKey(hashlib.sha256(b"parley: no such session").digest())


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
