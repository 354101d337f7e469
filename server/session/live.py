"""Live speaker sessions: owned by a connection, parked, resumed, finished, dropped.

A `LiveSession` outlives the connection that started it: when the connection
drops unexpectedly the session is *parked* (it keeps decoding what it has; its
events go to its replay buffer) for `grace_s`, and a new connection presenting
the session id and resume token *claims* it. Every session ends exactly once
through `finish` (pending finals and translations emitted, then `end`; bounded
in time, else aborted) or `abort` (nothing more emitted), both ending in `drop`,
which frees its admission slot and tells its room it is gone.

States: owned (`owner` set) -> parked (`owner` None, `expiry` set) -> owned again
(resume) ... -> finishing (`finishing` set; no resume any more) -> dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from server.errors import ParleyError
from server.metrics import ServerMetrics
from server.protocol.messages import Event
from server.security import Admission
from server.session.driver import Session
from server.session.resume import UNKNOWN_KEY, ResumeKey, SessionChannel

log = logging.getLogger(__name__)


class Owner(Protocol):
    """The connection a session is attached to."""

    def supersede(self) -> None:
        """Another connection resumed this session: stop serving it (do not end it)."""


@dataclass(eq=False)
class LiveSession:
    session: Session
    admission: Admission
    channel: SessionChannel
    key: ResumeKey
    metrics: ServerMetrics
    #: time.monotonic() at start: the session duration limit spans its connections
    started: float
    #: audio bytes received over all connections (a resuming PCM client continues from here)
    audio_bytes: int = 0
    owner: Owner | None = None
    parked_since: float | None = None
    expiry: asyncio.TimerHandle | None = None
    finishing: asyncio.Task[None] | None = None
    #: audio seconds already counted in parley_audio_seconds_total
    audio_counted: float = 0.0

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def room(self) -> str | None:
        return self.session.start.room

    @property
    def principal_id(self) -> str:
        return self.admission.principal.id

    def observe(self, event: Event) -> None:
        """The channel's observer: metrics from every event, once."""
        self.metrics.observe_event(event)
        if event.get("type") == "metrics":
            self.count_audio(float(event.get("audio_s") or 0.0))

    def count_audio(self, audio_s: float) -> None:
        if audio_s > self.audio_counted:
            self.metrics.audio_seconds(audio_s - self.audio_counted)
            self.audio_counted = audio_s


def not_found(session_id: str, why: str = "") -> ParleyError:
    shown = session_id[:40]
    return ParleyError(
        why or f"no session {shown!r} to resume: it ended, its resume grace period expired, "
        "or the resume token is wrong. Start a new session.",
        code="session_not_found",
    )


class SessionRegistry:
    def __init__(
        self,
        *,
        grace_s: float,
        finish_timeout_s: float,
        metrics: ServerMetrics,
        on_drop: Callable[[LiveSession], None] | None = None,
    ) -> None:
        self.grace_s = grace_s
        self.finish_timeout_s = finish_timeout_s
        self.metrics = metrics
        self._on_drop = on_drop
        self.live: dict[str, LiveSession] = {}
        self._empty = asyncio.Event()
        self._empty.set()
        #: loop time by which every session must be finished (set by `drain`)
        self._deadline: float | None = None

    def __len__(self) -> int:
        return len(self.live)

    @property
    def parked(self) -> int:
        return sum(1 for s in self.live.values() if s.owner is None and s.finishing is None)

    def add(self, live: LiveSession, owner: Owner) -> None:
        live.owner = owner
        self.live[live.id] = live
        self._empty.clear()

    # -- park / resume --------------------------------------------------------

    def park(self, live: LiveSession) -> None:
        """The connection dropped: keep the session for the grace period (or finish it)."""
        live.owner = None
        live.channel.detach()
        if live.finishing is not None or live.id not in self.live:
            return
        if self.grace_s <= 0 or self._deadline is not None:
            self.finish(live, "disconnected")
            return
        live.parked_since = time.monotonic()
        loop = asyncio.get_running_loop()
        live.expiry = loop.call_later(self.grace_s, self._expire, live)
        log.info("session %s parked for %g s (connection lost)", live.id, self.grace_s)

    def _expire(self, live: LiveSession) -> None:
        live.expiry = None
        if live.owner is None and live.finishing is None:
            log.info("session %s: resume grace period expired", live.id)
            self.finish(live, "expired")

    def find(self, session_id: str, resume_token: str) -> LiveSession:
        """The resumable session with this id and token. Raises `session_not_found`."""
        live = self.live.get(session_id)
        # Compare even when the id is unknown: the answer's timing tells nothing.
        matches = (live.key if live is not None else UNKNOWN_KEY).matches(resume_token)
        if live is None or not matches or live.finishing is not None or self.grace_s <= 0:
            raise not_found(session_id)
        return live

    def claim(self, live: LiveSession, owner: Owner) -> None:
        """`owner` takes over `live` (found with `find`), from its parked state or a
        connection the client gave up on."""
        if live.expiry is not None:
            live.expiry.cancel()
            live.expiry = None
        previous, live.owner = live.owner, owner
        live.channel.detach()
        live.parked_since = None
        if previous is not None and previous is not owner:
            previous.supersede()
        self.metrics.resumes.inc()

    # -- the end ----------------------------------------------------------------

    def finish(self, live: LiveSession, reason: str) -> asyncio.Task[None]:
        """End the session: pending finals out, then `end` (idempotent; bounded in time)."""
        if live.finishing is None:
            if live.expiry is not None:
                live.expiry.cancel()
                live.expiry = None
            live.finishing = asyncio.create_task(self._finish(live, reason),
                                                 name=f"finish-{live.id}")
        return live.finishing

    async def _finish(self, live: LiveSession, reason: str) -> None:
        timeout = self.finish_timeout_s
        if self._deadline is not None:
            timeout = min(timeout, self._deadline - asyncio.get_running_loop().time())
        outcome = reason
        try:
            await asyncio.wait_for(live.session.stop(reason), timeout=max(0.0, timeout))
        except TimeoutError:
            log.warning("session %s: pending finals not done within %.1f s; cut", live.id,
                        timeout)
            live.session.abort()
            outcome = "cut"
        except ParleyError as exc:  # e.g. the tail of a broken audio stream
            log.info("session %s: finishing stopped early (%s)", live.id, exc.code)
            live.session.abort()
        except Exception:
            log.exception("session %s: finishing failed", live.id)
            live.session.abort()
            outcome = "internal"
        finally:
            self.drop(live, outcome)

    def abort(self, live: LiveSession, reason: str) -> None:
        """End the session now: nothing more is emitted."""
        if live.finishing is not None and not live.finishing.done():
            live.finishing.cancel()
        if not live.session.closed:
            live.session.abort()
        self.drop(live, reason)

    def drop(self, live: LiveSession, reason: str) -> None:
        if self.live.get(live.id) is not live:
            return
        del self.live[live.id]
        if live.expiry is not None:
            live.expiry.cancel()
            live.expiry = None
        live.owner = None
        live.channel.detach()
        live.count_audio(live.session.audio_s)
        live.admission.release()
        self.metrics.session_ended(reason)
        if self._on_drop is not None:
            try:
                self._on_drop(live)
            except Exception:
                log.exception("session %s: on_drop failed", live.id)
        log.info("session %s ended (%s, %.1f s of audio)", live.id, reason, live.session.audio_s)
        if not self.live:
            self._empty.set()

    async def drain(self, timeout_s: float) -> None:
        """Shutdown: finish every session within `timeout_s`; cut those that are late.

        Parked sessions are finished here; connected ones by their connections, which
        the gateway interrupts (so that they can close with 1001 once done).
        """
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + timeout_s
        for live in list(self.live.values()):
            if live.owner is None:
                self.finish(live, "shutdown")
        with contextlib.suppress(TimeoutError):
            # Connections finish their sessions with the same deadline; a little slack
            # lets them record the outcome before the stragglers are cut here.
            await asyncio.wait_for(self._empty.wait(), timeout=timeout_s + 0.5)
        for live in list(self.live.values()):
            log.warning("session %s: still running at the drain deadline; cut", live.id)
            self.abort(live, "cut")

    @property
    def deadline(self) -> float | None:
        return self._deadline
