"""One speaker WebSocket connection (/v1/stream): the reader loop and its limits.

The connection reads client messages under a `ConnectionGuard` (message rate,
the deadline for `start`, session duration, idle time: each breach an error
with its own code, then close 1008; a few messages refused before `start` are
answered with their error, the next one closes the connection), admits the
session through the `Gatekeeper`, and attaches the session's `SessionChannel`
to its own `Outbox` (a writer task drains it to the socket). The session itself lives in the gateway's `SessionRegistry` and may
outlive this connection (resume). How a connection ends decides the session's
fate:

    client `stop`             -> finish ("stop"): finals, `end`, close 1000
    server shutdown           -> finish ("shutdown"): finals, `end`, close 1001
    session_too_long / idle   -> error, finish (finals, `end`), close 1008
    other fatal error         -> error, close 1008 (1013 overloaded); the session
                                 finishes in the background (rooms get its finals)
    connection lost           -> parked for the resume grace period (a client that
                                 closed cleanly, 1000/1001, is finished instead)
    too slow to read          -> close 1008 "slow_consumer", parked
    resumed elsewhere         -> close 1000, the session carries on there
    bug                       -> error `internal`, close 1011, session aborted
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server.errors import LimitError, OverloadedError, ParleyError, ProtocolError
from server.metrics import ServerMetrics
from server.protocol.close_codes import (
    CLOSE_AWAY,
    CLOSE_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_RETRY,
)
from server.protocol.events import AudioInfo
from server.protocol.messages import (
    Event,
    FlushMessage,
    Sequencer,
    StartMessage,
    StopMessage,
    parse_client_text,
)
from server.security import Gatekeeper, redact_path, token_from_request
from server.security.limits import AddressSlot, ConnectionGuard
from server.services import Services
from server.session.driver import Session, error_event
from server.session.live import LiveSession, SessionRegistry, not_found
from server.session.outbox import Outbox, SlowConsumer, write_loop
from server.session.resume import ReplayGap, ResumeKey, SessionChannel
from server.transport.closing import close_bounded

log = logging.getLogger(__name__)

#: Limits after which the session's pending finals are still worth delivering.
_FINISH_IN_BAND = frozenset({"session_too_long", "idle_timeout"})
#: How long the writer may take to deliver the last events before the close.
_WRITER_DRAIN_S = 10.0


class ConnLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes `[conn/session]` and adds `session_id` to every record (`extra`)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"[{extra.get('session_id') or extra.get('conn')}] {msg}", kwargs


class SpeakerHost(Protocol):
    """What a speaker connection needs of the server that accepted it (the `Gateway`)."""

    @property
    def services(self) -> Services: ...
    @property
    def accepting(self) -> bool: ...
    @property
    def metrics(self) -> ServerMetrics: ...
    @property
    def registry(self) -> SessionRegistry: ...
    @property
    def connections(self) -> set[SpeakerConnection]: ...
    @property
    def gatekeeper(self) -> Gatekeeper: ...

    def open_session(
        self, session_id: str, msg: StartMessage, put: Callable[[Event], None], seq: Sequencer
    ) -> Session: ...


class SpeakerConnection:
    def __init__(
        self, gateway: SpeakerHost, conn: ServerConnection, pending: AddressSlot | None = None
    ) -> None:
        self.gw = gateway
        #: this connection's place among its address's unauthenticated ones (until `start`)
        self.pending = pending
        self.conn = conn
        limits = gateway.services.config.limits
        self.limits = limits
        self.outbox = Outbox(limits.outbox_events)
        self.local_seq = Sequencer()
        self.guard = ConnectionGuard(limits, time.monotonic())
        request = conn.request
        path = request.path if request is not None else ""
        self.header_token = (
            token_from_request(request.headers, path) if request is not None else None
        )
        self.live: LiveSession | None = None
        self.close_code, self.close_reason = CLOSE_NORMAL, "done"
        #: set when something outside the reader loop ends this connection
        self._interrupted = asyncio.Event()
        self._interrupt_reason = ""
        #: how the session (if any) was left: None means not yet decided
        self._fate: str | None = None
        self._clean_close = False
        self.log = ConnLog(log, {"conn": uuid.uuid4().hex[:8], "session_id": None})
        peer = conn.remote_address[0] if conn.remote_address else "?"
        self.log.info("speaker connected from %s (%s)", peer, redact_path(path))

    # -- called by others -----------------------------------------------------

    def interrupt(self, reason: str) -> None:
        """Stop reading: "drain" (server shutdown), "superseded", "slow"."""
        if not self._interrupted.is_set():
            self._interrupt_reason = reason
            self._interrupted.set()

    def supersede(self) -> None:
        self.interrupt("superseded")

    # -- the connection ----------------------------------------------------------

    @property
    def seq(self) -> Sequencer:
        return self.live.session.seq if self.live is not None else self.local_seq

    async def run(self) -> None:
        writer = asyncio.create_task(write_loop(self.conn, self.outbox))
        try:
            if not self.gw.accepting:
                raise OverloadedError("server is shutting down; connect again",
                                      retry_after_ms=1000)
            await self._serve()
        except ParleyError as exc:  # refused before the loop
            self._send_error(exc)
            self._set_fatal_close(exc)
        except SlowConsumer:
            self.close_code, self.close_reason = CLOSE_POLICY, "slow_consumer"
            self._fate = self._fate or "slow"
        except Exception:
            self.log.exception("speaker connection failed")
            with contextlib.suppress(SlowConsumer):
                self._send_error(ParleyError("internal server error"))
            self.close_code, self.close_reason = CLOSE_ERROR, "internal"
            self._fate = "internal"
        finally:
            if self.pending is not None:
                self.pending.release()
            if self.outbox.dropped:
                self.gw.metrics.speaker_dropped.inc(self.outbox.dropped)
            if self.close_reason == "slow_consumer":
                self.gw.metrics.rejected("slow_consumer")
            self._leave_session()
            self.outbox.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, timeout=_WRITER_DRAIN_S)
            writer.cancel()
            await close_bounded(self.conn, self.close_code, self.close_reason)
            self.gw.connections.discard(self)
            self.log.info("speaker connection closed (%s %s)", self.conn.close_code,
                          self.close_reason)

    async def _serve(self) -> None:
        interrupted = asyncio.create_task(self._interrupted.wait())
        try:
            while True:
                try:
                    message = await self._next(interrupted)
                    if message is None:
                        if self._fate == "drain":
                            await self._finish("shutdown")
                        return
                    now = time.monotonic()
                    self.guard.on_message(now, audio=isinstance(message, bytes))
                    if isinstance(message, bytes):
                        await self._audio(message, now, interrupted)
                        continue
                    if await self._control(parse_client_text(message)):
                        return
                except ParleyError as exc:
                    if not exc.fatal and self.live is None:
                        exc = self.guard.refused_before_start(exc)
                    self._send_error(exc)
                    if exc.fatal:
                        await self._fatal(exc)
                        return
        finally:
            interrupted.cancel()

    async def _next(self, interrupted: asyncio.Task[Any]) -> str | bytes | None:
        """The next client message; None when the connection ends or is interrupted.

        Raises LimitError (idle_timeout / session_too_long) when a limit expires.
        """
        while True:
            if interrupted.done():
                self._on_interrupt()
                return None
            recv = asyncio.create_task(self.conn.recv())
            done, _ = await asyncio.wait(
                {recv, interrupted},
                timeout=self.guard.time_left(time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if recv in done:
                try:
                    return recv.result()
                except ConnectionClosed as exc:
                    rcvd = exc.rcvd
                    self._clean_close = rcvd is not None and rcvd.code in (CLOSE_NORMAL, CLOSE_AWAY)
                    self._fate = "gone"
                    self.close_reason = "closed by the client" if rcvd else "connection lost"
                    return None
            recv.cancel()  # websockets: recv() is cancel-safe (nothing is lost)
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await recv
            if interrupted.done():
                continue  # handled at the top
            self.guard.check(time.monotonic())

    def _on_interrupt(self) -> None:
        reason = self._interrupt_reason
        if reason == "drain":
            self._fate = "drain"
            self.close_code, self.close_reason = CLOSE_AWAY, "server shutting down"
        elif reason == "superseded":
            self._fate = "superseded"
            self.close_code, self.close_reason = CLOSE_NORMAL, "resumed on another connection"
        else:
            self._fate = "slow"
            self.close_code, self.close_reason = CLOSE_POLICY, "slow_consumer"

    async def _audio(self, data: bytes, arrival: float, interrupted: asyncio.Task[Any]) -> None:
        live = self.live
        if live is None:
            raise ProtocolError("audio before start", code="not_started")
        if len(data) > self.limits.max_frame_bytes:
            raise LimitError(
                f"audio frame of {len(data)} bytes exceeds the limit of "
                f"{self.limits.max_frame_bytes}",
                code="frame_too_large",
            )
        live.session.on_audio(data, arrival)
        live.audio_bytes += len(data)
        await _until(live.session.wait_capacity(), interrupted)

    async def _control(self, msg: StartMessage | FlushMessage | StopMessage) -> bool:
        """Handle a control message; True when the connection is done."""
        if isinstance(msg, StartMessage):
            if self.live is not None:
                raise ProtocolError("session already started", code="already_started")
            if msg.resume is not None:
                self._resume(msg)
            else:
                self._start(msg)
            return False
        live = self.live
        if live is None:
            raise ProtocolError(f"{msg.type} before start", code="not_started")
        if isinstance(msg, FlushMessage):
            live.session.flush()
            return False
        await self._finish("stop")
        return True

    # -- start and resume ---------------------------------------------------------

    def _start(self, msg: StartMessage) -> None:
        gw = self.gw
        admission = gw.gatekeeper.admit(self.header_token or msg.token, "speak", msg.room)
        try:
            session_id = uuid.uuid4().hex[:16]
            channel = SessionChannel()
            session = gw.open_session(session_id, msg, channel.put, self.local_seq)
        except BaseException:
            admission.release()
            raise
        key, token = ResumeKey.new()
        now = time.monotonic()
        live = LiveSession(session, admission, channel, key, gw.metrics, started=now)
        channel.observe = live.observe
        gw.registry.add(live, self)
        self._attach(live)
        self.guard.start_session(now)
        ready = session.ready_event()
        grace = gw.registry.grace_s
        if grace > 0:
            ready = replace(ready, resume_token=token, resume_grace_s=grace)
        self.outbox.put(ready.to_wire())  # per connection: never replayed
        self.log.info("session started (%s, %s -> %s, room %s, as %s)", msg.audio.encoding,
                      msg.source_language or "auto", ",".join(msg.target_languages) or "-",
                      msg.room or "-", admission.principal.name)

    def _resume(self, msg: StartMessage) -> None:
        gw = self.gw
        req = msg.resume
        assert req is not None
        principal = gw.gatekeeper.store.identify(self.header_token or msg.token)
        if not principal.may("speak"):
            raise ParleyError(f"token {principal.name} ({principal.role}) may not speak",
                              code="forbidden")
        live = gw.registry.find(req.session_id, req.resume_token)
        if live.principal_id != principal.id:
            raise not_found(req.session_id)
        try:
            replay = live.channel.replay.since(req.last_seq)
        except ReplayGap as exc:
            raise not_found(req.session_id, f"cannot resume session {req.session_id}: {exc}")
        gw.registry.claim(live, self)
        live.session.continue_audio(msg.audio)
        self._attach(live)
        self.guard.start_session(time.monotonic(), started=live.started)
        ready = replace(
            live.session.ready_event(),
            audio=AudioInfo(msg.audio.encoding, msg.audio.sample_rate, msg.audio.channels),
            resumed=True,
            resume_grace_s=gw.registry.grace_s,
            audio_bytes=live.audio_bytes,
            audio_s=live.session.audio_s,
            replayed=len(replay),
        )
        # The replay (bounded by the replay buffer) goes out before anything new: it must
        # not count against the room this connection has for falling behind.
        self.outbox.capacity = max(self.outbox.capacity, len(replay) + self.limits.outbox_events)
        self.outbox.put(ready.to_wire())
        live.channel.attach(self.outbox, self._on_slow, replay)
        self.log.info("session resumed (%d events replayed after seq %d, %d audio bytes so far)",
                      len(replay), req.last_seq, live.audio_bytes)

    def _attach(self, live: LiveSession) -> None:
        self.live = live
        if self.pending is not None:  # admitted: no longer unauthenticated
            self.pending.release()
        self.log.extra = {**(self.log.extra or {}), "session_id": live.id}
        if not live.channel.attached:
            live.channel.attach(self.outbox, self._on_slow)

    def _on_slow(self) -> None:
        self.log.warning("client too far behind reading events; disconnecting")
        self.interrupt("slow")

    # -- the end of a connection --------------------------------------------------

    def _owns(self) -> LiveSession | None:
        live = self.live
        return live if live is not None and live.owner is self else None

    async def _finish(self, reason: str) -> None:
        """Finish the session while this connection still delivers its events."""
        live = self._owns()
        if live is None:
            return
        self._fate = "finished"
        task = self.gw.registry.finish(live, reason)
        try:
            await asyncio.shield(task)  # this connection going away must not stop it
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this handler is being cancelled
            # else: the registry cut the session (drain deadline): close as usual

    async def _fatal(self, exc: ParleyError) -> None:
        self._set_fatal_close(exc)
        if exc.code in _FINISH_IN_BAND:
            await self._finish(exc.code)
        else:
            self._fate = "fatal:" + exc.code

    def _set_fatal_close(self, exc: ParleyError) -> None:
        self.close_code = CLOSE_RETRY if exc.code == "overloaded" else CLOSE_POLICY
        self.close_reason = exc.code
        self.gw.metrics.rejected(exc.code)

    def _leave_session(self) -> None:
        """Decide what happens to the session when the loop is over (no awaiting)."""
        live = self._owns()
        if live is None:
            return
        registry = self.gw.registry
        fate = self._fate or "gone"
        if fate == "drain":
            registry.finish(live, "shutdown")
        elif fate == "internal":
            registry.abort(live, "internal")
            return
        elif fate.startswith("fatal:"):
            registry.finish(live, fate.removeprefix("fatal:"))
        elif fate in ("gone", "slow") and not self._clean_close:
            registry.park(live)
            return
        else:
            registry.finish(live, "disconnected")
        # Finishing in the background: nobody to deliver to but the room.
        live.owner = None
        live.channel.detach()

    def _send_error(self, exc: ParleyError) -> None:
        self.outbox.put(self.seq.stamp(error_event(exc)))
        self.gw.metrics.errors.inc(code=exc.code)


async def _until(aw: Awaitable[Any], interrupted: asyncio.Task[Any]) -> None:
    """Await `aw` unless the connection is interrupted first."""
    task = asyncio.ensure_future(aw)
    if task.done():
        return
    await asyncio.wait({task, interrupted}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
