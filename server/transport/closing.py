"""Closing a WebSocket whose peer may have stopped reading.

websockets' `close()` writes the close frame and then waits for the transport
to drain, with no bound: a peer that never reads (a stalled listener, a dead
NAT mapping) would keep the handler, and server shutdown, waiting forever.
Every close in the server goes through `close_bounded`: the closing handshake
gets `timeout_s`, then the TCP connection is aborted.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.connection import Connection

log = logging.getLogger(__name__)

#: How long a peer has to take our close frame and answer it.
CLOSE_TIMEOUT_S = 5.0


async def close_bounded(
    conn: Connection, code: int = 1000, reason: str = "", timeout_s: float = CLOSE_TIMEOUT_S
) -> None:
    try:
        await asyncio.wait_for(conn.close(code, reason), timeout_s)
    except TimeoutError:
        log.info("peer did not take the close frame in %.1f s; aborting the connection",
                 timeout_s)
        conn.transport.abort()
