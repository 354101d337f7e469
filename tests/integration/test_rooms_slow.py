"""A consumer that stops reading: a listener is disconnected ("slow_consumer") once
partials were dropped for it and finals no longer fit, and slows nobody else; a
speaker is cut the same way, its session parked, and a resume replays what it
missed.

In-process server (real tiny.en, real speech) so the per-consumer queue can be made
small; the slow consumer is a real socket that never reads, with small buffers on
both sides, so the server's queue for it really fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from clients.python.parley_client import ParleyClient
from server.config import ServerConfig
from server.rooms.hub import RoomHub
from server.security.limits import Limits
from server.services import Services
from server.transport.gateway import RunningServer, running
from tests.integration.conftest import serve_in_process
from tests.integration.resilience_support import START, Speaker, heard_share, http_get, metric
from tests.integration.rooms_support import Follower, StalledListener, librivox_files, speech

pytestmark = pytest.mark.slow


@pytest.fixture
async def small_queue_server() -> AsyncIterator[RunningServer]:
    config = ServerConfig(asr_model="tiny.en", mt_models=(), limits=Limits(outbox_events=8))
    async with serve_in_process(config) as server:
        yield server


def _listener_connections(server: RunningServer) -> list[ServerConnection]:
    return [c for c in server.server.connections
            if c.request is not None and c.request.path.endswith("&lang=en")]


def _listener_connection(server: RunningServer) -> ServerConnection:
    conns = _listener_connections(server)
    assert len(conns) == 1
    return conns[0]


async def _stall_listener(server: RunningServer, room: str) -> StalledListener:
    # (in a thread: the handshake needs this loop, which runs the server)
    slow = await asyncio.to_thread(StalledListener, server.port, f"room={room}&lang=en")
    # The server side of the stalled listener: small buffers, so its writer blocks soon.
    conn = _listener_connection(server)
    conn.transport.set_write_buffer_limits(high=256)
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024)
    return slow


async def _speak_until_kicked(
    url: str, room: str, hub: RoomHub, max_passes: int = 4
) -> list[dict[str, object]]:
    """Speak (a flush every 2 s: finals may not be dropped, partials come between them)
    until the hub has disconnected a listener, then one more pass; every event the
    speaker got."""
    said: list[dict[str, object]] = []
    pcm = speech(librivox_files(), pause_s=0.3)
    step = 3200  # 0.1 s
    async with ParleyClient(url, source_language="en", room=room) as speaker:
        passes = 0
        # How many finals fill the buffers depends on the machine's pace (a slow
        # one decodes less often, so sends fewer partials): repeat until kicked.
        while passes < max_passes and (passes == 0 or hub.slow_disconnects == 0):
            for n, i in enumerate(range(0, len(pcm), step)):
                await speaker.send_audio(pcm[i:i + step])
                if n % 20 == 19:
                    await speaker.flush()
                await asyncio.sleep(0.06)
            passes += 1
        await speaker.stop()
        async for event in speaker.events():
            said.append(event)
    return said


async def test_a_listener_that_stops_reading_is_disconnected(
    small_queue_server: RunningServer,
) -> None:
    server = small_queue_server
    url = f"ws://127.0.0.1:{server.port}"
    fast = Follower(url, "slow-room")
    fast_task = asyncio.create_task(fast.run())
    await asyncio.wait_for(fast.joined.wait(), 10)
    slow = await _stall_listener(server, "slow-room")
    hub = server.gateway.rooms
    assert hub is not None

    async def read_after_kick() -> tuple[list[str], int | None, str]:
        # It reads again once the server gave up on it, so it gets the close frame in
        # time (the server waits a few seconds for the closing handshake).
        while hub.slow_disconnects == 0:
            await asyncio.sleep(0.05)
        return await asyncio.to_thread(slow.read_to_close)

    reader = asyncio.create_task(read_after_kick())
    try:
        said = await _speak_until_kicked(url, "slow-room", hub)
        # The slow one was disconnected, with a clear reason...
        assert hub.slow_disconnects == 1, "the stalled listener was never disconnected"
        texts, code, reason = await asyncio.wait_for(reader, 60)
        assert (code, reason) == (1008, "slow_consumer")
        assert '"joined"' in texts[0]
        # ...while the speaker and the other listener got everything.
        await asyncio.wait_for(fast_task, 30)
    finally:
        reader.cancel()
        fast_task.cancel()
        slow.abandon()
    spoken = [(e["segment"], e["text"]) for e in said
              if e.get("type") == "transcript" and e.get("final")]
    heard = [(e["segment"], e["text"]) for e in fast.of("transcript", final=True)]
    assert len(spoken) >= 10 and heard == spoken
    assert said[-1]["type"] == "end" and fast.events[-1]["type"] == "end"
    # Partials were dropped for it first (never a final), then it was cut.
    assert hub.dropped_events >= 1
    _, text = await asyncio.to_thread(http_get, f"http://127.0.0.1:{server.port}/metrics")
    assert metric(text, "parley_listener_dropped_events_total") == hub.dropped_events
    assert metric(text, "parley_slow_listeners_total") == 1
    assert metric(text, 'parley_rejections_total{code="slow_consumer"}') == 1


def _speaker_connection(server: RunningServer) -> ServerConnection:
    conns = [c for c in server.server.connections
             if c.request is not None and c.request.path == "/v1/stream"]
    assert len(conns) == 1
    return conns[0]


async def test_a_speaker_that_stops_reading_is_cut_then_resumes_with_the_replay(
    small_queue_server: RunningServer,
) -> None:
    server = small_queue_server
    url = f"ws://127.0.0.1:{server.port}"
    registry = server.gateway.registry
    pcm = speech(librivox_files() * 4, pause_s=0.3)  # sent until the server gives up on it
    step = 3200  # 0.1 s
    sent = 0
    # A client that reads `ready`, then nothing: websockets stops reading its socket
    # once one message waits (max_queue), and both sockets' buffers are small.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: a small window
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    async with connect(url + "/v1/stream", sock=sock, max_size=None, max_queue=1,
                       ping_interval=None) as stalled:
        await stalled.send(json.dumps(START))
        ready = json.loads(await stalled.recv())
        assert ready["type"] == "ready", ready
        conn = _speaker_connection(server)
        conn.transport.set_write_buffer_limits(high=256)
        conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET,
                                                           socket.SO_SNDBUF, 1024)
        with contextlib.suppress(ConnectionClosed):
            for n, i in enumerate(range(0, len(pcm), step)):
                if registry.parked:
                    break
                await stalled.send(pcm[i:i + step])
                sent = i + step
                if n % 20 == 19:
                    await stalled.send(json.dumps({"type": "flush"}))  # finals: undroppable
                await asyncio.sleep(0.04)
        for _ in range(200):  # the server gives up on the close handshake after 5 s
            if registry.parked:
                break
            await asyncio.sleep(0.05)
        assert registry.parked == 1, "the speaker that does not read was never cut"
        stalled.transport.abort()
    assert sent < len(pcm), "all the speech went out before the speaker was cut"

    # As if the client had seen nothing after `ready`: everything retained comes back.
    resumed = Speaker(url)
    ready2 = await resumed.start(resume={"session_id": ready["session_id"],
                                         "resume_token": ready["resume_token"],
                                         "last_seq": ready["seq"]})
    assert ready2["type"] == "ready" and ready2["resumed"] is True, ready2
    assert ready2["replayed"] > 0
    tail = ready2["audio_bytes"]
    await resumed.send_pcm(pcm[tail:tail + 30 * step], frame=step)  # 3 s more, then stop
    await resumed.stop()
    finals_ = resumed.finals()
    replayed = resumed.events[1:1 + ready2["replayed"]]
    assert any(e["type"] == "transcript" and e["final"] for e in replayed)
    # Every final once, in order, across the cut: none lost, none twice.
    assert [f["segment"] for f in finals_] == list(range(len(finals_)))
    end = resumed.of("end")[0]
    assert end["reason"] == "stop" and end["segments"] == len(finals_)
    # The first recording, said before the cut, came back in the replay.
    assert heard_share(" ".join(f["text"] for f in replayed if f["type"] == "transcript")) >= 0.7
    _, text = await asyncio.to_thread(http_get, f"http://127.0.0.1:{server.port}/metrics")
    assert metric(text, "parley_speaker_dropped_events_total") >= 1  # partials went first
    assert metric(text, 'parley_rejections_total{code="slow_consumer"}') >= 1
    assert metric(text, "parley_resumes_total") == 1


async def test_shutdown_does_not_wait_for_a_listener_that_never_reads() -> None:
    """websockets' close() waits, unbounded, for a peer that does not read: server
    shutdown must abort such a connection rather than hang. (A large outbox: the
    stall stays in the socket buffers, so the hub never disconnects the listener.)"""
    config = ServerConfig(asr_model="tiny.en", mt_models=(), limits=Limits(outbox_events=100_000))
    services = await asyncio.to_thread(Services.load, config)
    slow: StalledListener | None = None
    try:
        server_cm = running(services, port=0)
        server = await server_cm.__aenter__()
        try:
            slow = await _stall_listener(server, "dead-room")
            url = f"ws://127.0.0.1:{server.port}"
            hub = server.gateway.rooms
            assert hub is not None
            said = await _speak_until_kicked(url, "dead-room", hub, max_passes=1)
            assert said[-1]["type"] == "end"
            conn = _listener_connection(server)
            assert conn.transport.get_write_buffer_size() > 256, "the listener never stalled"
        finally:
            closing = asyncio.create_task(server_cm.__aexit__(None, None, None))
            done, _ = await asyncio.wait({closing}, timeout=60)
            if not done:  # (unstick it, so a failure does not hang the test run)
                for conn in server.server.all_connections:
                    conn.transport.abort()
                await closing
            assert done, "server shutdown waited for a listener that never reads"
    finally:
        if slow is not None:
            slow.abandon()
        await services.aclose()
