"""The /v1/listen WebSocket endpoint: a listener follows a room (events only).

The connection lives until the client closes it or the hub disconnects it:
a listener stays across speakers (one `end`, later a new `speaker`). Close
codes: 1000 normal, 1008 with reason "slow_consumer", "unsupported_pair",
"bad_message" or "unsupported_language", 1009 for a message over
`MAX_LISTENER_MESSAGE_BYTES`.

A listener sends nothing: the first data frame it sends (text or binary) gets
an `error` (`bad_message`) and close 1008, so a listener cannot make the server
read and discard a flood (pings and pongs are control frames, not data).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server.errors import ParleyError
from server.protocol.close_codes import CLOSE_POLICY
from server.protocol.messages import Sequencer, dumps
from server.rooms.hub import Listener, RoomHub
from server.rooms.query import parse_listen_query
from server.session.driver import error_event
from server.session.outbox import Outbox, write_loop
from server.transport.closing import CLOSE_TIMEOUT_S, close_bounded

log = logging.getLogger(__name__)

#: How long a listener being closed for a reason (not slowness) may take to receive its last events.
_DRAIN_S = 5.0
#: Largest message a listener may send (it may send none): websockets refuses a larger
#: frame from its header (close 1009) without reading its body.
MAX_LISTENER_MESSAGE_BYTES = 1024
#: How long a listener closed for sending data gets for the closing handshake.
_ABUSER_CLOSE_S = 1.0


def limit_listener_messages(conn: ServerConnection) -> None:
    """Lower the connection's largest accepted message to `MAX_LISTENER_MESSAGE_BYTES`
    (the server's is sized for audio frames)."""
    conn.protocol.max_message_size = MAX_LISTENER_MESSAGE_BYTES


async def serve_listener(conn: ServerConnection, hub: RoomHub) -> str | None:
    """Serve one listener until it leaves; the error code it was closed for (1008), if any."""
    path = conn.request.path if conn.request is not None else ""
    outbox = Outbox(hub.listener_capacity)
    try:
        request = parse_listen_query(path)
        listener = hub.join(request.room, request.lang, outbox)
    except ParleyError as exc:
        with contextlib.suppress(ConnectionClosed):
            await conn.send(dumps(Sequencer().stamp(error_event(exc))))
        await close_bounded(conn, CLOSE_POLICY, exc.code)
        return exc.code
    writer = asyncio.create_task(write_loop(conn, outbox), name=f"listener-{listener.id}")
    sent_data = asyncio.Event()
    reader = asyncio.create_task(_read_until_closed(conn, sent_data))
    data = asyncio.create_task(sent_data.wait())
    gone = asyncio.create_task(listener.gone.wait())
    try:
        await asyncio.wait({reader, data, gone}, return_when=asyncio.FIRST_COMPLETED)
        if sent_data.is_set() and not listener.gone.is_set():
            hub.kick(listener, CLOSE_POLICY, "bad_message", error_event(ParleyError(
                "listeners send nothing; closing", code="bad_message")))
            log.info("listener %d sent data; closing", listener.id)
    finally:
        hub.leave(listener)
        data.cancel()
        gone.cancel()
        if not sent_data.is_set():
            reader.cancel()
        # else it goes on reading (and dropping) what the peer sends, so that the peer's
        # answer to our close frame is read; the closing handshake then gets a short bound.
        await _finish(conn, listener, outbox, writer,
                      _ABUSER_CLOSE_S if sent_data.is_set() else CLOSE_TIMEOUT_S)
        reader.cancel()
    return listener.close_reason if listener.close_code == CLOSE_POLICY else None


async def _finish(
    conn: ServerConnection, listener: Listener, outbox: Outbox, writer: asyncio.Task[None],
    close_timeout_s: float,
) -> None:
    if listener.gone.is_set() and listener.close_reason != "slow_consumer":
        outbox.close()  # deliver what is queued (e.g. the error event), then close
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer, timeout=_DRAIN_S)
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    await close_bounded(conn, listener.close_code, listener.close_reason, close_timeout_s)
    log.info("listener %d closed (%s)", listener.id, listener.close_reason)


async def _read_until_closed(conn: ServerConnection, sent_data: asyncio.Event) -> None:
    """Read until the connection closes, setting `sent_data` at the first data message
    (a listener has no business sending one); what is read is dropped."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in conn:
            sent_data.set()
