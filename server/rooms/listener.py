"""The /v1/listen WebSocket endpoint: a listener follows a room (events only).

The connection lives until the client closes it or the hub disconnects it:
a listener stays across speakers (one `end`, later a new `speaker`). Close
codes: 1000 normal, 1008 with reason "slow_consumer", "unsupported_pair",
"bad_message" or "unsupported_language".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server.closing import close_bounded
from server.errors import ParleyError
from server.outbox import Outbox, write_loop
from server.protocol.messages import Sequencer, dumps
from server.rooms.hub import CLOSE_POLICY, Listener, RoomHub
from server.rooms.query import parse_listen_query
from server.session import error_event

log = logging.getLogger(__name__)

#: How long a listener being closed for a reason (not slowness) may take to receive its last events.
_DRAIN_S = 5.0


async def serve_listener(conn: ServerConnection, hub: RoomHub) -> None:
    path = conn.request.path if conn.request is not None else ""
    outbox = Outbox(hub.listener_capacity)
    try:
        request = parse_listen_query(path)
        listener = hub.join(request.room, request.lang, outbox)
    except ParleyError as exc:
        with contextlib.suppress(ConnectionClosed):
            await conn.send(dumps(Sequencer().stamp(error_event(exc))))
        await close_bounded(conn, CLOSE_POLICY, exc.code)
        return
    writer = asyncio.create_task(write_loop(conn, outbox), name=f"listener-{listener.id}")
    reader = asyncio.create_task(_read_until_closed(conn))
    gone = asyncio.create_task(listener.gone.wait())
    try:
        await asyncio.wait({reader, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.leave(listener)
        reader.cancel()
        gone.cancel()
        await _finish(conn, listener, outbox, writer)


async def _finish(
    conn: ServerConnection, listener: Listener, outbox: Outbox, writer: asyncio.Task[None]
) -> None:
    if listener.gone.is_set() and listener.close_reason != "slow_consumer":
        outbox.close()  # deliver what is queued (e.g. the error event), then close
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer, timeout=_DRAIN_S)
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    await close_bounded(conn, listener.close_code, listener.close_reason)
    log.info("listener %d closed (%s)", listener.id, listener.close_reason)


async def _read_until_closed(conn: ServerConnection) -> None:
    """Listeners send nothing meaningful; read (and ignore) until the connection closes."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in conn:
            pass
