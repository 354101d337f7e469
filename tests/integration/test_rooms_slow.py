"""A listener that stops reading is disconnected ("slow_consumer") and slows nobody else.

In-process server (real tiny.en, real speech) so the per-consumer queue can be made
small; the slow listener is a real socket that never reads, with small buffers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection

from clients.python.parley_client import ParleyClient
from server.config import Limits, ServerConfig
from server.gateway import RunningServer, running
from server.services import Services
from tests.integration.rooms_support import Follower, StalledListener, librivox_files, speech

pytestmark = pytest.mark.slow


@pytest.fixture
async def small_queue_server() -> AsyncIterator[RunningServer]:
    config = ServerConfig(asr_model="tiny.en", mt_models=(), limits=Limits(outbox_events=8))
    services = await asyncio.to_thread(Services.load, config)
    try:
        async with running(services, port=0) as server:
            yield server
    finally:
        await services.aclose()


def _listener_connection(server: RunningServer) -> ServerConnection:
    conns = [c for c in server.server.connections
             if c.request is not None and c.request.path.endswith("&lang=en")]
    assert len(conns) == 1
    return conns[0]


async def test_a_listener_that_stops_reading_is_disconnected(
    small_queue_server: RunningServer,
) -> None:
    server = small_queue_server
    url = f"ws://127.0.0.1:{server.port}"
    fast = Follower(url, "slow-room")
    fast_task = asyncio.create_task(fast.run())
    await asyncio.wait_for(fast.joined.wait(), 10)

    # (in a thread: the handshake needs this loop, which runs the server)
    slow = await asyncio.to_thread(StalledListener, server.port, "room=slow-room&lang=en")
    # The server side of the stalled listener: small buffers, so its writer blocks soon.
    conn = _listener_connection(server)
    conn.transport.set_write_buffer_limits(high=256)
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024)
    hub = server.gateway.rooms
    assert hub is not None

    async def read_after_kick() -> tuple[list[str], int | None, str]:
        # It reads again once the server gave up on it, so it gets the close frame in
        # time (the server waits `close_timeout` for the closing handshake).
        while hub.slow_disconnects == 0:
            await asyncio.sleep(0.05)
        return await asyncio.to_thread(slow.read_to_close)

    reader = asyncio.create_task(read_after_kick())
    said: list[dict[str, object]] = []
    pcm = speech(librivox_files(), pause_s=0.3)
    async with ParleyClient(url, source_language="en", room="slow-room") as speaker:
        step = 3200  # 0.1 s
        for n, i in enumerate(range(0, len(pcm), step)):
            await speaker.send_audio(pcm[i:i + step])
            if n % 10 == 9:
                await speaker.flush()  # a final every second: finals may not be dropped
            await asyncio.sleep(0.06)
        await speaker.stop()
        async for event in speaker.events():
            said.append(event)

    # The slow one was disconnected, with a clear reason...
    texts, code, reason = await asyncio.wait_for(reader, 60)
    assert (code, reason) == (1008, "slow_consumer")
    assert hub.slow_disconnects == 1
    assert '"joined"' in texts[0]
    # ...while the speaker and the other listener got everything.
    await asyncio.wait_for(fast_task, 30)
    spoken = [(e["segment"], e["text"]) for e in said
              if e.get("type") == "transcript" and e.get("final")]
    heard = [(e["segment"], e["text"]) for e in fast.of("transcript", final=True)]
    assert len(spoken) >= 10 and heard == spoken
    assert said[-1]["type"] == "end" and fast.events[-1]["type"] == "end"
