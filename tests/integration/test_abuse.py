"""One client must not hold the server: a connection that never sends `start`, a
listener that floods, many unauthenticated sockets from one address. A real
`parley serve` (tiny.en) on a free port, with the default start deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.resilience_support import Speaker, http_get, metric

START_TIMEOUT_S = 5.0  # the default
MAX_UNAUTHENTICATED = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve(
        "--asr-model", "tiny.en", "--no-mt", "--idle-timeout-s", "20",
        "--max-unauthenticated-per-address", str(MAX_UNAUTHENTICATED),
        tmp=tmp_path_factory.mktemp("abuse"),
    ) as srv:
        yield srv


def test_a_pre_start_trickle_is_closed_by_the_start_deadline(server: ServerProcess) -> None:
    """One byte now and then before `start` used to count as activity: the connection
    stayed open as long as the trickle went on. Now the start deadline closes it."""

    async def run() -> tuple[Speaker, float]:
        sp = Speaker(server.ws)
        await sp.connect()
        t0 = time.monotonic()
        for _ in range(3):  # within the allowance of refused messages
            await sp.ws.send(b"\x00")  # type: ignore[union-attr]
            await asyncio.sleep(1.2)
        await sp.wait_closed(30)
        return sp, time.monotonic() - t0

    sp, waited = asyncio.run(run())
    codes = [e["code"] for e in sp.of("error")]
    assert codes == ["not_started"] * 3 + ["idle_timeout"], sp.events
    assert [e["fatal"] for e in sp.of("error")] == [False, False, False, True]
    assert "no `start` within 5 s" in sp.of("error")[-1]["message"]
    assert (sp.close_code, sp.close_reason) == (1008, "idle_timeout")
    assert START_TIMEOUT_S - 0.5 <= waited < START_TIMEOUT_S + 3


def test_messages_before_start_beyond_the_allowance_close_the_connection(
    server: ServerProcess,
) -> None:
    async def run() -> Speaker:
        sp = Speaker(server.ws)
        await sp.connect()
        for _ in range(10):
            try:
                await sp.ws.send(b"\x00")  # type: ignore[union-attr]
            except ConnectionClosed:
                break
        await sp.wait_closed(10)
        return sp

    sp = asyncio.run(run())
    errors = sp.of("error")
    assert [e["code"] for e in errors] == ["not_started"] * 4
    assert [e["fatal"] for e in errors] == [False, False, False, True]
    assert (sp.close_code, sp.close_reason) == (1008, "not_started")


def test_unauthenticated_connections_per_address_are_capped(server: ServerProcess) -> None:
    async def run() -> tuple[Speaker, Speaker]:
        held = [Speaker(server.ws) for _ in range(MAX_UNAUTHENTICATED)]
        for sp in held:
            await sp.connect()
        refused = Speaker(server.ws)
        await refused.connect()
        await refused.wait_closed(10)
        # One of them starts a session: it is admitted, so a new connection fits again.
        first = await held[0].send_json({"type": "start", "audio": {
            "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}})
        assert first is None
        await held[0].wait_for(lambda e: e["type"] == "ready", 10)
        again = Speaker(server.ws)
        assert (await again.start())["type"] == "ready"
        for sp in [*held, again]:
            await sp.close()
        return refused, again

    refused, again = asyncio.run(run())
    error = refused.of("error")[0]
    assert error["code"] == "rate_limited" and error["fatal"] is True
    assert (refused.close_code, refused.close_reason) == (1008, "rate_limited")
    assert again.of("ready")
    _, text = http_get(server.http + "/metrics")
    assert metric(text, 'parley_rejections_total{code="rate_limited"}') >= 1
