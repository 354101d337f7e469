"""One port for WebSockets and for HTTP methods websockets does not serve.

websockets (the server of every Parley endpoint) parses a request itself and refuses any
method but GET. The OpenAI SDK needs POST (`/v1/audio/transcriptions`) on the same base
URL as GET `/v1/models` and the WebSocket endpoints, so each TCP connection is sorted
by the method of its first request:

- GET (every WebSocket upgrade, and the plain GET routes) continues in websockets,
  exactly as without this module: `FrontConnection` is a websockets `ServerConnection`
  (`serve(create_connection=...)`) that only holds back the start of its handshake task
  until the first request's method is known;
- any other method is handed, with the bytes read so far, to uvicorn's h11 protocol
  (`asyncio.Transport.set_protocol`), which serves the ASGI app of `server.compat.openai`.
  Parley parses no HTTP itself: websockets or h11 does.

Why sort by the first request line and not by "is this an upgrade": telling an upgrade
apart needs the whole header block, i.e. a second HTTP parser in front of both; the
method is the first token of the first line. The cost is that a keep-alive connection
stays where its first request went: a GET after a POST on the same connection (httpx
does this: `models.list()` after a transcription) reaches the ASGI app, so that app
serves every plain GET route from the same function as websockets' `process_request`
(`Gateway.plain_response`): the answer does not depend on which side serves it.

The handed-off connection never starts websockets' handshake task (nothing of it is left
waiting), is not in websockets' `Server.all_connections`, and is drained by
`PlainHttp.shutdown` (each connection closes after its response in flight, then
whatever is left is cancelled). A connection that sends no complete method within
`SNIFF_TIMEOUT_S` is closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection

log = logging.getLogger(__name__)

#: The longest method token looked for; a first line without a space by then is not
#: a GET and goes to h11, which answers 400.
MAX_METHOD_BYTES = 16
#: How long a new connection may take to send its method (websockets' own open_timeout).
SNIFF_TIMEOUT_S = 10.0

Side = Literal["websockets", "asgi"]


def sniff(head: bytes) -> Side | None:
    """Which side serves a connection that began with `head`; None: not known yet."""
    space = head.find(b" ", 0, MAX_METHOD_BYTES + 1)
    if space < 0:
        return "asgi" if len(head) > MAX_METHOD_BYTES or b"\n" in head else None
    return "websockets" if head[:space] == b"GET" else "asgi"


class PlainHttp:
    """uvicorn's h11 protocol serving one ASGI app on connections handed over."""

    def __init__(self, app: Any) -> None:
        self.config = Config(
            app, lifespan="off", log_config=None, access_log=False, ws="none", http="h11",
            timeout_keep_alive=5, server_header=False, date_header=True,
        )
        self.config.load()
        self.state = ServerState()

    def take(self, transport: asyncio.Transport, head: bytes) -> None:
        """Serve `transport` from now on; `head`: the bytes already read from it."""
        protocol = H11Protocol(self.config, self.state, {}, asyncio.get_running_loop())
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(head)

    @property
    def connections(self) -> int:
        return len(self.state.connections)

    async def shutdown(self, timeout_s: float) -> None:
        """Close idle connections, let each request in flight finish its response within
        `timeout_s` (its connection then closes: keep-alive is off); then cancel what is
        left and close the rest."""
        for connection in list(self.state.connections):
            connection.shutdown()
        running = set(self.state.tasks)
        if running:
            _, late = await asyncio.wait(running, timeout=timeout_s)
            if late:
                log.warning("cancelling %d HTTP request(s) still running after %g s",
                            len(late), timeout_s)
            for task in late:
                task.cancel()
        for connection in list(self.state.connections):
            connection.transport.close()


def front_connection(plain: PlainHttp) -> type[ServerConnection]:
    """A `ServerConnection` class (for `serve(create_connection=...)`) whose connections
    other than GET go to `plain`."""

    class FrontConnection(ServerConnection):
        _head = b""
        _sorted = False
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # websockets' Connection setup, without ServerConnection's start of the
            # handshake task: that waits for the method (`_sort`).
            Connection.connection_made(self, transport)
            self._deadline = self.loop.call_later(SNIFF_TIMEOUT_S, self._too_slow)

        def data_received(self, data: bytes) -> None:
            if self._sorted:
                super().data_received(data)
                return
            self._head += data
            side = sniff(self._head)
            if side is not None:
                self._sort(side)

        def _sort(self, side: Side) -> None:
            self._sorted = True
            if self._deadline is not None:
                self._deadline.cancel()
            head, self._head = self._head, b""
            if side == "asgi":
                plain.take(self.transport, head)
                return
            ServerConnection.connection_made(self, self.transport)
            super().data_received(head)

        def _too_slow(self) -> None:
            if not self._sorted:
                self.transport.abort()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

    return FrontConnection
