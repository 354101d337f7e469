"""The asyncio layer: WebSocket endpoints and HTTP routes on one port.

Each speaker connection gets a `Session` and an `Outbox`; a writer task drains
the outbox to the socket so a slow client never blocks the pipeline, and the
reader waits on the session's backpressure before taking more audio. The
speaker connection itself is `server.transport.speaker.SpeakerConnection`; sessions live
in a `SessionRegistry` (server.session.live) so that they can outlive a dropped
connection (resume) and be finished on shutdown (`Gateway.shutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from server.compat import adapter as compat
from server.compat.openai.models import openai_models
from server.errors import OverloadedError, ParleyError, ProtocolError
from server.metrics import CONTENT_TYPE, MtStats, ServerMetrics, Snapshot
from server.models.languages import check_source_language
from server.protocol.close_codes import CLOSE_POLICY, CLOSE_RETRY
from server.protocol.messages import Event, Sequencer, StartMessage, dumps
from server.rooms.hub import RoomHub
from server.security import OPEN_PRINCIPAL, Admission, Gatekeeper, redact_path, token_from_request
from server.security.limits import AddressCounter
from server.services import Services
from server.session.driver import Session, error_event
from server.session.live import LiveSession, SessionRegistry
from server.session.translations import plan_translations
from server.transport import http
from server.transport.closing import CLOSE_TIMEOUT_S, close_bounded
from server.transport.front import PlainHttp, front_connection
from server.transport.speaker import SpeakerConnection

log = logging.getLogger(__name__)



@dataclass
class Gateway:
    services: Services
    accepting: bool = True
    rooms: RoomHub | None = None  # set by running() when rooms are served
    # admission (tokens, session caps), metrics, live sessions, open connections
    gate: Gatekeeper | None = None
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    registry: SessionRegistry = field(init=False)
    #: connections per peer address that no token admitted yet (speakers before `start`)
    unauthenticated: AddressCounter = field(init=False)
    connections: set[SpeakerConnection] = field(default_factory=set)
    listeners: int = 0
    #: HTTP methods other than GET (the OpenAI REST endpoints): server.transport.front
    plain_http: PlainHttp = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.services.config
        if self.gate is None:
            from server.security.startup import build_gatekeeper

            self.gate = build_gatekeeper(cfg)
        self.registry = SessionRegistry(
            grace_s=cfg.resume_grace_s,
            finish_timeout_s=cfg.drain_timeout_s,
            metrics=self.metrics,
            on_drop=self._on_drop,
        )
        self.unauthenticated = AddressCounter(cfg.limits.max_unauthenticated_per_address)
        from server.compat.openai.app import build_app

        self.plain_http = PlainHttp(build_app(self))

    @property
    def gatekeeper(self) -> Gatekeeper:
        assert self.gate is not None  # set in __post_init__
        return self.gate

    # -- HTTP ---------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = http.route_path(request)
        if path in http.COMPAT_WS_PATHS:
            return compat.handshake(request, path, self.gatekeeper)
        if path in http.WS_PATHS:
            return None  # WebSocket handshake (websockets answers 426 if not an upgrade)
        return self.plain_response(path)

    def plain_response(self, path: str) -> Response:
        """The answer to a plain GET of `path`, whichever side serves it (websockets, or
        the ASGI app on a connection whose first request was a POST: server.transport.front)."""
        if path == "/healthz":
            return http.text_response("ok\n")
        if path == "/readyz":
            if not self.accepting:
                return http.text_response("not ready: shutting down\n", 503)
            if self.services.overload() is not None:
                return http.text_response("not ready: overloaded\n", 503)
            if self.gatekeeper.active_speakers < self.services.config.limits.max_sessions:
                return http.text_response("ready\n")
            return http.text_response("not ready: at capacity\n", 503)
        if path == "/metrics":
            return http.response(200, self.metrics.render(self.snapshot()).encode(), CONTENT_TYPE)
        if path == "/v1/models":
            return http.json_response(self._models())
        static = http.static_response(path)
        if static is not None:
            return static
        return http.text_response(f"not found: {path}\n", 404)

    def _models(self) -> dict[str, object]:
        svc = self.services
        routes = svc.describe_routes()
        return {
            **svc.describe_models(),
            "source_languages": list(svc.asr_info.languages),
            "translation_pairs": svc.describe_pairs(),
            "routes": routes,
            "targets": sorted({r["target"] for r in routes}),
            "protocol": 1,
            # OpenAI's list shape, so that `client.models.list()` works on this URL too.
            **openai_models(svc),
        }

    # -- WebSocket ----------------------------------------------------------

    async def handler(self, conn: ServerConnection) -> None:
        path = http.route_path(conn.request) if conn.request else ""
        if path == "/v1/stream":
            await self._speaker(conn)
        elif path in http.COMPAT_WS_PATHS:
            await self._compat_speaker(conn, path)
        elif path == "/v1/listen" and self.rooms is not None:
            from server.rooms.listener import limit_listener_messages, serve_listener

            limit_listener_messages(conn)
            admission = await self._admit_listener(conn)
            if admission is None:
                return
            self.listeners += 1
            try:
                refused = await serve_listener(conn, self.rooms)
                if refused is not None:
                    self.metrics.rejected(refused)
            finally:
                self.listeners -= 1
                admission.release()
        else:
            await close_bounded(conn, CLOSE_POLICY, "listening is not available on this server yet")

    async def _speaker(self, conn: ServerConnection) -> None:
        try:
            pending = self.unauthenticated.enter(peer_address(conn))
        except ParleyError as exc:
            await self._refuse(conn, "speaker", exc)
            return
        speaker = SpeakerConnection(self, conn, pending)
        self.connections.add(speaker)
        await speaker.run()

    async def _compat_speaker(self, conn: ServerConnection, path: str) -> None:
        """An OpenAI Realtime / Deepgram client: a speaker behind its API's translator."""
        # The adapter has every member of a ServerConnection that SpeakerConnection uses.
        adapted = compat.connection_for(conn, path)
        as_conn = cast(ServerConnection, adapted)
        try:
            await adapted.open()
        except ConnectionClosed:
            return
        try:
            pending = self.unauthenticated.enter(peer_address(conn))
        except ParleyError as exc:
            await self._refuse(as_conn, "speaker", exc)  # in the API's own error shape
            return
        speaker = SpeakerConnection(self, as_conn, pending)
        adapted.guard = speaker.guard
        self.connections.add(speaker)
        await speaker.run()

    async def _refuse(self, conn: ServerConnection, who: str, exc: ParleyError) -> None:
        """Answer a connection refused before it was served: `error`, then close."""
        self.metrics.rejected(exc.code)
        path = conn.request.path if conn.request is not None else ""
        log.info("%s refused (%s): %s", who, exc.code, redact_path(path))
        with contextlib.suppress(ConnectionClosed):
            await conn.send(dumps(Sequencer().stamp(error_event(exc))))
        await close_bounded(conn, CLOSE_RETRY if exc.code == "overloaded" else CLOSE_POLICY,
                            exc.code)

    async def _admit_listener(self, conn: ServerConnection) -> Admission | None:
        """A listener's token (role `listen`, the room in scope); None: refused."""
        request = conn.request
        path = request.path if request is not None else ""
        from server.rooms.query import parse_listen_query

        try:
            room: str | None = parse_listen_query(path).room
        except ProtocolError:
            # No slots taken: serve_listener reports the bad query and closes.
            return Admission(OPEN_PRINCIPAL, "listen")
        try:
            if not self.accepting:
                raise OverloadedError("server is shutting down; connect again",
                                      retry_after_ms=1000)
            presented = token_from_request(request.headers, path) if request else None
            return self.gatekeeper.admit(presented, "listen", room)
        except ParleyError as exc:
            await self._refuse(conn, "listener", exc)
            return None

    def open_session(
        self, session_id: str, msg: StartMessage, put: Callable[[Event], None], seq: Sequencer
    ) -> Session:
        """A new session for an admitted `start` (its events go to `put`)."""
        svc = self.services
        check_source_language(svc.asr_info, msg.source_language)
        # (the session cap is checked at admission: server.security.Gatekeeper)
        plan = plan_translations(svc, msg.source_language, msg.target_languages)
        overload = svc.overload()
        if overload is not None:
            raise overload
        # A session in a room also emits to its listeners and MQTT.
        emit = (
            self.rooms.speaker_emit(msg.room, session_id, put)
            if msg.room is not None and self.rooms is not None
            else put
        )
        session = Session(session_id, msg, svc, emit, plan, seq)
        if msg.room is not None and self.rooms is not None:
            # A session may outlive its connection (resume): it stays in its
            # room until the registry drops it (`_on_drop`), not until the handler ends.
            self.rooms.attach_speaker(msg.room, session)
        return session

    def _on_drop(self, live: LiveSession) -> None:
        """A session ended for good (finished or aborted)."""
        if live.room is not None and self.rooms is not None:
            self.rooms.detach_speaker(live.room, live.id)  # no-op after its `end`

    def snapshot(self) -> Snapshot:
        svc = self.services
        return Snapshot(
            active_sessions=self.gatekeeper.active_speakers,
            parked_sessions=self.registry.parked,
            listeners=self.listeners,
            asr_queue_depth=svc.asr.depth,
            draining=not self.accepting,
            max_sessions=svc.config.limits.max_sessions,
            asr_workers=svc.asr.opts.workers,
            asr_busy_workers=svc.asr.busy,
            mt=tuple(
                MtStats(s.name, st.batches, st.requests, st.dropped, st.failed,
                        st.largest_batch, st.queued)
                for s in svc.mt.schedulers
                for st in (s.stats,)
            ),
            slow_listeners=self.rooms.slow_disconnects if self.rooms is not None else 0,
            listener_dropped_events=self.rooms.dropped_events if self.rooms is not None else 0,
        )

    async def shutdown(self, timeout_s: float | None = None) -> None:
        """Graceful shutdown: refuse new sessions (/readyz 503), finish every
        session (pending finals and translations delivered, then `end`), close each
        speaker with 1001, all within `timeout_s` (default: config.drain_timeout_s)."""
        timeout = self.services.config.drain_timeout_s if timeout_s is None else timeout_s
        self.accepting = False
        live = len(self.registry)
        if live:
            log.info("shutting down: finishing %d session(s) within %g s", live, timeout)
        for connection in list(self.connections):
            connection.interrupt("drain")
        # HTTP requests in flight (transcriptions) finish within the same time.
        await asyncio.gather(self._drain_sessions(timeout), self.plain_http.shutdown(timeout))

    async def _drain_sessions(self, timeout: float) -> None:
        await self.registry.drain(timeout)
        # The connections close once their writers delivered the last events.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_all_closed(self), timeout=5.0)


def peer_address(conn: ServerConnection) -> str:
    """The client's IP address ("?" when the transport does not say)."""
    address = conn.remote_address
    return str(address[0]) if address else "?"


async def _all_closed(gateway: Gateway) -> None:
    while gateway.connections:
        await asyncio.sleep(0.05)


@dataclass
class RunningServer:
    server: Server
    gateway: Gateway

    @property
    def port(self) -> int:
        sock = next(iter(self.server.sockets))
        return int(sock.getsockname()[1])

    tls: bool = False

    @property
    def url(self) -> str:
        """Base URL, e.g. ws://127.0.0.1:8765 (append /v1/stream); wss:// with TLS."""
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{self.gateway.services.config.host}:{self.port}"

    async def shutdown(self, timeout_s: float | None = None) -> None:
        """Graceful shutdown (see `Gateway.shutdown`); `running` does it on exit anyway."""
        await self.gateway.shutdown(timeout_s)


@contextlib.asynccontextmanager
async def running(
    services: Services,
    *,
    host: str | None = None,
    port: int | None = None,
    gate: Gatekeeper | None = None,
) -> AsyncIterator[RunningServer]:
    """Serve until the block exits (tests use port=0 for a free port).

    `gate`: admission control (server.security.startup.build_gatekeeper); by default built
    from the config, for the address actually bound. On exit the server shuts down
    gracefully: sessions are finished within `config.drain_timeout_s`.
    """
    from server.security.startup import allowed_origins, build_gatekeeper, ssl_context

    cfg = services.config
    bind = host if host is not None else cfg.host
    gateway = Gateway(services, gate=gate or build_gatekeeper(cfg, host=bind))
    tls = ssl_context(cfg)
    await services.start()
    from server.rooms.wiring import rooms_running

    async with rooms_running(services, gateway.metrics) as rooms, serve(
        gateway.handler,
        bind,
        port if port is not None else cfg.port,
        process_request=gateway.process_request,
        create_connection=front_connection(gateway.plain_http),
        max_size=max(cfg.limits.max_frame_bytes * 4, 1 << 20),
        ping_interval=20,
        # Backpressure pauses reading, and so the handling of pongs, while a
        # session's backlog drains: a ping timeout would cut slow-but-alive clients.
        # Pings still keep NATs open; dead peers are caught by the idle timeout.
        ping_timeout=None,
        close_timeout=CLOSE_TIMEOUT_S,
        origins=allowed_origins(cfg),
        select_subprotocol=compat.select_subprotocol,
        ssl=tls,
    ) as server:
        gateway.rooms = rooms
        try:
            yield RunningServer(server, gateway, tls=tls is not None)
        finally:
            await gateway.shutdown()
            # Listeners (and anything left) get 1001; rooms/MQTT close after this block.
            server.close(close_connections=True, code=1001, reason="server shutting down")
            try:
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT_S + 1)
            except TimeoutError:
                # Peers that do not read stall websockets' own close (see server.transport.closing).
                # (`all_connections`: `connections` leaves out those already closing)
                for conn in server.all_connections:
                    conn.transport.abort()
                await server.wait_closed()
    # note: schedulers are closed by the owner of `services`
