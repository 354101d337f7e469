"""The asyncio layer: WebSocket endpoints and HTTP routes on one port.

Each speaker connection gets a `Session` and an `Outbox`; a writer task drains
the outbox to the socket so a slow client never blocks the pipeline, and the
reader waits on the session's backpressure before taking more audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from server import http
from server.errors import LimitError, ParleyError, ProtocolError
from server.outbox import Outbox, SlowConsumer
from server.protocol.messages import (
    FlushMessage,
    Sequencer,
    StartMessage,
    StopMessage,
    dumps,
    parse_client_text,
)
from server.rooms.hub import RoomHub  # [rooms/mqtt, issue 5]
from server.services import Services
from server.session import Session, error_event
from server.translation import plan_translations

log = logging.getLogger(__name__)

# Close codes (RFC 6455): 1000 normal, 1008 policy violation, 1011 server error,
# 1013 try again later.
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_ERROR, CLOSE_RETRY = 1000, 1008, 1011, 1013


@dataclass
class Gateway:
    services: Services
    sessions: dict[str, Session] = field(default_factory=dict)
    accepting: bool = True
    rooms: RoomHub | None = None  # [rooms/mqtt, issue 5] set by running()

    # -- HTTP ---------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = http.route_path(request)
        if path in http.WS_PATHS:
            return None  # WebSocket handshake (websockets answers 426 if not an upgrade)
        if path == "/healthz":
            return http.text_response("ok\n")
        if path == "/readyz":
            if self.accepting and len(self.sessions) < self.services.config.limits.max_sessions:
                return http.text_response("ready\n")
            return http.text_response("not ready: at capacity\n", 503)
        if path == "/v1/models":
            return http.json_response(self._models())
        static = http.static_response(path)
        if static is not None:
            return static
        return http.text_response(f"not found: {path}\n", 404)

    def _models(self) -> dict[str, object]:
        svc = self.services
        return {
            **svc.describe_models(),
            "source_languages": list(svc.asr_info.languages),
            "translation_pairs": svc.describe_pairs(),
            "targets": sorted(
                {t for m in svc.describe_models()["mt"] for _, t in m["pairs"]}
                | ({"en"} if svc.asr_info.can_translate_to_english else set())
            ),
            "protocol": 1,
        }

    # -- WebSocket ----------------------------------------------------------

    async def handler(self, conn: ServerConnection) -> None:
        path = http.route_path(conn.request) if conn.request else ""
        if path == "/v1/stream":
            await self._speaker(conn)
        elif path == "/v1/listen" and self.rooms is not None:  # [rooms/mqtt, issue 5]
            from server.rooms.listener import serve_listener

            await serve_listener(conn, self.rooms)
        else:
            await conn.close(CLOSE_POLICY, "listening is not available on this server yet")

    async def _speaker(self, conn: ServerConnection) -> None:
        limits = self.services.config.limits
        outbox = Outbox(limits.outbox_events)
        seq = Sequencer()
        writer = asyncio.create_task(_write_loop(conn, outbox))
        session: Session | None = None
        session_id = uuid.uuid4().hex[:16]
        close_code, close_reason = CLOSE_NORMAL, "done"
        try:
            async for message in conn:
                arrival = time.monotonic()
                try:
                    if isinstance(message, bytes):
                        if session is None:
                            raise ProtocolError("audio before start", code="not_started")
                        if len(message) > limits.max_frame_bytes:
                            raise LimitError(
                                f"audio frame of {len(message)} bytes exceeds the limit of "
                                f"{limits.max_frame_bytes}",
                                code="frame_too_large",
                            )
                        session.on_audio(message, arrival)
                        await session.wait_capacity()
                        continue
                    msg = parse_client_text(message)
                    if isinstance(msg, StartMessage):
                        if session is not None:
                            raise ProtocolError("session already started", code="already_started")
                        session = self._start(session_id, msg, outbox, seq)
                        outbox.put(session.ready_event())
                    elif session is None:
                        raise ProtocolError(f"{msg.type} before start", code="not_started")
                    elif isinstance(msg, FlushMessage):
                        session.flush()
                    elif isinstance(msg, StopMessage):
                        await session.stop()
                        break
                except ParleyError as exc:
                    outbox.put(seq.stamp(error_event(exc)))
                    if exc.fatal:
                        close_code = CLOSE_RETRY if exc.code == "overloaded" else CLOSE_POLICY
                        close_reason = exc.code
                        break
        except ConnectionClosed:
            pass
        except SlowConsumer:
            close_code, close_reason = CLOSE_POLICY, "slow_consumer"
        except Exception:
            log.exception("session %s failed", session_id)
            outbox.put(seq.stamp(error_event(ParleyError("internal server error"))))
            close_code, close_reason = CLOSE_ERROR, "internal"
        finally:
            if session is not None:
                if not session.closed:
                    session.abort()
                self.sessions.pop(session.id, None)
            outbox.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, timeout=10)
            await conn.close(close_code, close_reason)
            log.info("session %s closed (%s)", session_id, close_reason)

    def _start(
        self, session_id: str, msg: StartMessage, outbox: Outbox, seq: Sequencer
    ) -> Session:
        svc = self.services
        if msg.source_language is not None and msg.source_language not in svc.asr_info.languages:
            raise ParleyError(
                f"source language {msg.source_language!r} is not recognized by model "
                f"{svc.asr_info.name!r}",
                code="unsupported_language",
            )
        if len(self.sessions) >= svc.config.limits.max_sessions:
            from server.errors import OverloadedError

            raise OverloadedError(
                f"server is at its limit of {svc.config.limits.max_sessions} sessions"
            )
        plan = plan_translations(svc, msg.source_language, msg.target_languages)
        # [rooms/mqtt, issue 5] a session in a room also emits to its listeners and MQTT.
        emit = (
            self.rooms.speaker_emit(msg.room, session_id, outbox.put)
            if msg.room is not None and self.rooms is not None
            else outbox.put
        )
        session = Session(session_id, msg, svc, emit, plan, seq)
        if msg.room is not None and self.rooms is not None:
            from server.rooms.wiring import attach_speaker_session

            attach_speaker_session(self.rooms, msg.room, session)
        # [/rooms/mqtt]
        self.sessions[session_id] = session
        log.info("session %s started (%s)", session_id, msg.audio.encoding)
        return session


async def _write_loop(conn: ServerConnection, outbox: Outbox) -> None:
    while (event := await outbox.get()) is not None:
        try:
            await conn.send(dumps(event))
        except ConnectionClosed:
            return


@dataclass
class RunningServer:
    server: Server
    gateway: Gateway

    @property
    def port(self) -> int:
        sock = next(iter(self.server.sockets))
        return int(sock.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ws://127.0.0.1:8765 (append /v1/stream)."""
        return f"ws://{self.gateway.services.config.host}:{self.port}"


@contextlib.asynccontextmanager
async def running(services: Services, *, host: str | None = None, port: int | None = None) -> AsyncIterator[RunningServer]:
    """Serve until the block exits (tests use port=0 for a free port)."""
    cfg = services.config
    gateway = Gateway(services)
    await services.start()
    from server.rooms.wiring import rooms_running  # [rooms/mqtt, issue 5]

    async with rooms_running(services) as rooms, serve(
        gateway.handler,
        host if host is not None else cfg.host,
        port if port is not None else cfg.port,
        process_request=gateway.process_request,
        max_size=max(cfg.limits.max_frame_bytes * 4, 1 << 20),
        ping_interval=20,
        ping_timeout=20,
    ) as server:
        gateway.rooms = rooms  # [rooms/mqtt, issue 5]
        yield RunningServer(server, gateway)
    # note: schedulers are closed by the owner of `services`
