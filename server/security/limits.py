"""Per-connection and per-token limits, sans-I/O: every check takes `now`.

Nothing here sleeps, reads a clock or touches a socket; the gateway passes
`time.monotonic()` (tests pass a fake clock) and turns the exceptions into
`error` events. Each breach raises a `ParleyError` with its own stable code:

    MessageRateLimiter   token bucket on client messages       -> rate_limited
    SessionDeadline      maximum session duration              -> session_too_long
    IdleTimer            no audio for too long                 -> idle_timeout
    SessionCounter       sessions per token / in total         -> forbidden / overloaded
    AddressCounter       unauthenticated connections per peer  -> rate_limited
    ConnectionGuard      rate + start deadline + session deadline + idle, and the
                         allowance of refused messages before `start`, for one
                         speaker connection

All of these errors are fatal (the connection is closed after the error event).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Self

from server.errors import LimitError, OverloadedError, ParleyError

#: Defaults. A browser sends 4-50 audio frames a second (MediaRecorder
#: timeslices of 20-250 ms); 10 ms PCM frames are 100 a second. The bucket
#: leaves room for twice that plus a burst (a client catching up after a stall).
DEFAULT_MESSAGE_RATE = 200.0
DEFAULT_MESSAGE_BURST = 400.0
#: A client sends `start` as soon as the socket is open; a few seconds covers a slow
#: network and a slow token lookup on its side.
DEFAULT_START_TIMEOUT_S = 5.0
#: Messages refused with a (non-fatal) error before `start` (audio or control too
#: early, bad JSON...) that a connection may send; the next one closes it.
PRE_START_ALLOWANCE = 3
#: Concurrent connections from one address that have not been admitted yet.
DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS = 16
_EPSILON = 1e-9


class RateLimitedError(LimitError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class MessageRateLimiter:
    """Token bucket: `rate` messages a second on average, bursts up to `burst`.

    The bucket starts full. `take(now, cost)` removes `cost` tokens or raises
    `rate_limited` (the message is not counted). `cost` lets a caller limit
    bytes instead of messages with a second instance.
    """

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def available(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def take(self, now: float, cost: float = 1.0) -> None:
        self._refill(now)
        if cost > self._tokens + _EPSILON:  # float clocks: 50 x 0.02 s is not quite 1 s
            wait_s = (cost - self._tokens) / self.rate
            raise RateLimitedError(
                f"more than {self.rate:g} messages a second (burst {self.burst:g})",
                retry_after_ms=max(1, math.ceil(wait_s * 1000)),
            )
        self._tokens = max(0.0, self._tokens - cost)

    def _refill(self, now: float) -> None:
        # A clock that steps back (it should not: monotonic) refills nothing.
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)


class SessionDeadline:
    """A session may last at most `max_s` seconds from `started`."""

    def __init__(self, max_s: float, started: float) -> None:
        self.max_s = max_s
        self.started = started

    @property
    def deadline(self) -> float:
        return self.started + self.max_s

    def remaining(self, now: float) -> float:
        return self.deadline - now

    def check(self, now: float) -> None:
        if now >= self.deadline:
            raise LimitError(
                f"session reached its maximum duration of {_duration(self.max_s)}",
                code="session_too_long",
            )


class IdleTimer:
    """Fails when no audio arrived for `timeout_s` (counted from creation, then each audio)."""

    def __init__(self, timeout_s: float, now: float) -> None:
        self.timeout_s = timeout_s
        self.last_activity = now

    def touch(self, now: float) -> None:
        self.last_activity = max(self.last_activity, now)

    @property
    def deadline(self) -> float:
        return self.last_activity + self.timeout_s

    def remaining(self, now: float) -> float:
        return self.deadline - now

    def check(self, now: float) -> None:
        if now >= self.deadline:
            raise LimitError(
                f"no audio for {_duration(self.timeout_s)}; closing the session",
                code="idle_timeout",
            )


class AddressCounter:
    """Concurrent connections per peer address that no token admitted yet.

    `enter(address)` counts one (or raises `rate_limited` at `limit`); the
    returned callable gives the slot back (idempotent). The connection leaves as
    soon as it is admitted (or closes), so only the unauthenticated are counted:
    an address cannot hold more than `limit` sockets open by never authenticating.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._count: dict[str, int] = {}

    def count(self, address: str) -> int:
        return self._count.get(address, 0)

    def enter(self, address: str) -> AddressSlot:
        if self.count(address) >= self.limit:
            raise RateLimitedError(
                f"more than {self.limit} connections from {address} that have not "
                "authenticated yet; send `start` (or close) before opening more",
                retry_after_ms=1000,
            )
        self._count[address] = self.count(address) + 1
        return AddressSlot(self, address)

    def _leave(self, address: str) -> None:
        left = self._count.get(address, 0) - 1
        if left > 0:
            self._count[address] = left
        else:
            self._count.pop(address, None)


@dataclass
class AddressSlot:
    """One counted connection of an `AddressCounter`; `release()` is idempotent."""

    counter: AddressCounter
    address: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.counter._leave(self.address)


@dataclass
class SessionLease:
    """One admitted session; `release()` (idempotent) gives its slot back."""

    counter: SessionCounter
    key: str | None
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.counter._release(self.key)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class SessionCounter:
    """Concurrent sessions in total (`max_total`) and per key (a token id).

    `acquire` checks the per-key cap first: a client over its own quota gets
    `forbidden` (retrying will not help until it closes a session) rather
    than `overloaded` (which tells clients to come back later).
    """

    max_total: int | None = None
    _per_key: dict[str, int] = field(default_factory=dict)
    _total: int = 0

    @property
    def total(self) -> int:
        return self._total

    def count(self, key: str) -> int:
        return self._per_key.get(key, 0)

    def acquire(
        self, key: str | None = None, limit: int | None = None, *, label: str | None = None
    ) -> SessionLease:
        """Admit one session for `key` (cap `limit`; None: no per-key cap)."""
        if key is not None and limit is not None and self.count(key) >= limit:
            raise ParleyError(
                f"token {label or key} already has {limit} session(s), its maximum",
                code="forbidden",
            )
        if self.max_total is not None and self._total >= self.max_total:
            raise OverloadedError(f"server is at its limit of {self.max_total} sessions")
        self._total += 1
        if key is not None:
            self._per_key[key] = self.count(key) + 1
        return SessionLease(self, key)

    def _release(self, key: str | None) -> None:
        self._total -= 1
        if key is not None:
            left = self._per_key.get(key, 0) - 1
            if left > 0:
                self._per_key[key] = left
            else:
                self._per_key.pop(key, None)


@dataclass(frozen=True)
class Limits:
    """Every per-connection and per-address limit (`ServerConfig.limits`)."""

    max_frame_bytes: int = 256 * 1024
    max_session_s: float = 4 * 3600.0
    idle_timeout_s: float = 60.0
    #: A speaker connection must send `start` within this many seconds of opening;
    #: nothing it sends before `start` extends it.
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    #: Connections from one address that no token admitted yet (speakers before
    #: `start`), at once; one more is refused (`rate_limited`).
    max_unauthenticated_per_address: int = DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS
    max_sessions: int = 64
    outbox_events: int = 512
    #: Client messages (audio frames and control) a second per connection, on average,
    #: and the burst above it (a token bucket).
    message_rate: float = DEFAULT_MESSAGE_RATE
    message_burst: float = DEFAULT_MESSAGE_BURST
    #: Messages refused before `start` that a connection may send; the next one closes it.
    pre_start_allowance: int = PRE_START_ALLOWANCE


class ConnectionGuard:
    """Every time-based limit of one speaker connection, in one place.

    Use in the reader loop:

        guard = ConnectionGuard(policy, now=time.monotonic())
        while True:
            try:
                message = await asyncio.wait_for(conn.recv(), guard.time_left(time.monotonic()))
            except TimeoutError:
                guard.check(time.monotonic())   # raises idle_timeout / session_too_long
                continue
            guard.on_message(time.monotonic(), audio=isinstance(message, bytes))

    Before `start` the connection has `start_timeout_s` from its opening, and
    nothing it sends extends that (audio before `start` is refused, so it is no
    activity); each message refused before `start` counts toward
    `pre_start_allowance` (`refused_before_start`). From `start_session` the
    session deadline and the idle timer (reset by each audio message) apply.
    """

    def __init__(self, policy: Limits, now: float) -> None:
        self.policy = policy
        self.rate = MessageRateLimiter(policy.message_rate, policy.message_burst, now)
        self.idle = IdleTimer(policy.idle_timeout_s, now)
        self._start_timeout_s = min(policy.start_timeout_s, policy.idle_timeout_s)
        self.start_by: float | None = now + self._start_timeout_s
        self.deadline: SessionDeadline | None = None
        self.refused = 0

    @property
    def started(self) -> bool:
        return self.start_by is None

    def start_session(self, now: float, started: float | None = None) -> None:
        """A session started (or was resumed: `started` is its first start)."""
        self.start_by = None
        self.deadline = SessionDeadline(self.policy.max_session_s,
                                        now if started is None else started)
        self.idle.touch(now)

    def on_message(self, now: float, *, audio: bool) -> None:
        """Count one client message; audio in a session also resets the idle timer. May raise."""
        self.check(now)
        self.rate.take(now)
        if audio and self.started:
            self.idle.touch(now)

    def refused_before_start(self, error: ParleyError) -> ParleyError:
        """A message before `start` was refused with `error` (not fatal): the error to
        send, made fatal once the connection is over its allowance."""
        self.refused += 1
        if self.refused <= self.policy.pre_start_allowance:
            return error
        return LimitError(
            f"{error.message} ({self.refused} messages refused before `start`; closing)",
            code=error.code,
        )

    def check(self, now: float) -> None:
        """Raise if `start` is overdue, or the session is over its duration or idle."""
        if self.start_by is not None and now >= self.start_by:
            raise LimitError(
                f"no `start` within {_duration(self._start_timeout_s)} "
                "of connecting; closing",
                code="idle_timeout",
            )
        if self.deadline is not None:
            self.deadline.check(now)
        self.idle.check(now)

    def time_left(self, now: float) -> float:
        """Seconds until the next limit expires (>= 0): the timeout for the next read."""
        left = self.idle.remaining(now)
        if self.start_by is not None:
            left = min(left, self.start_by - now)
        if self.deadline is not None:
            left = min(left, self.deadline.remaining(now))
        return max(0.0, left)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
