"""API tokens, room scopes, per-token caps and the Origin allow-list on a real server.

One `parley serve` with tokens in PARLEY_TOKENS and an allow-list; every case is
a real WebSocket handshake. Also: a server bound to a non-loopback address with
no tokens refuses to start (before loading any model).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import ROOT, ServerProcess, free_port, parley_serve
from tests.integration.resilience_support import Speaker, http_get, metric

SPEAK = "speaker-secret-00000001"  # rooms main|side
LISTEN = "listener-secret-0000001"  # listen, room main only
CAPPED = "capped-secret-000000001"  # speak anywhere, one session at a time
ADMIN = "admin-secret-00000000001"
TOKENS = f"speak:{SPEAK}:main|side,listen:{LISTEN}:main,speak:{CAPPED}:*:1,admin:{ADMIN}"
ORIGIN = "https://captions.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve(
        "--asr-model", "tiny.en", "--no-mt", "--allowed-origins", f"{ORIGIN},https://other.example",
        tmp=tmp_path_factory.mktemp("auth"),
        env={"PARLEY_TOKENS": TOKENS, "PARLEY_TOKENS_FILE": ""},
    ) as srv:
        yield srv


async def _speak(url: str, **kw: object) -> tuple[dict[str, object], Speaker]:
    headers = kw.pop("headers", {})
    path = str(kw.pop("path", "/v1/stream"))
    sp = Speaker(url, headers=dict(headers), path=path)  # type: ignore[arg-type]
    first = await sp.start(**kw)
    return first, sp


async def _refused(url: str, code: str, **kw: object) -> None:
    first, sp = await _speak(url, **kw)
    assert first["type"] == "error" and first["code"] == code, first
    assert first["fatal"] is True
    await sp.wait_closed(20)
    assert sp.close_code == 1008 and sp.close_reason == code


async def _admitted(url: str, **kw: object) -> Speaker:
    first, sp = await _speak(url, **kw)
    assert first["type"] == "ready", first
    return sp


def test_speakers_need_a_valid_token_with_the_room_in_scope(server: ServerProcess) -> None:
    async def run() -> None:
        url = server.ws
        await _refused(url, "unauthorized")  # no token at all
        await _refused(url, "unauthorized", token="not-a-token", room="main")
        await _refused(url, "unauthorized", headers={"Authorization": "Bearer nope"}, room="main")
        # Right token, wrong role or room.
        await _refused(url, "forbidden", token=LISTEN, room="main")
        await _refused(url, "forbidden", token=SPEAK, room="elsewhere")
        await _refused(url, "forbidden", token=SPEAK)  # a scoped token must name a room
        # Each way of presenting a token works.
        for kw in (
            {"headers": {"Authorization": f"Bearer {SPEAK}"}, "room": "main"},
            {"path": f"/v1/stream?token={SPEAK}", "room": "side"},
            {"token": SPEAK, "room": "main"},
            {"token": ADMIN},
        ):
            sp = await _admitted(url, **kw)
            await sp.stop()
            assert sp.close_code == 1000
            assert sp.of("end")

    asyncio.run(run())


def test_a_token_over_its_session_cap_is_forbidden(server: ServerProcess) -> None:
    async def run() -> None:
        first = await _admitted(server.ws, token=CAPPED)
        await _refused(server.ws, "forbidden", token=CAPPED)
        await first.stop()
        again = await _admitted(server.ws, token=CAPPED)  # the slot came back
        await again.stop()

    asyncio.run(run())


def test_listeners_need_a_listen_token_for_their_room(server: ServerProcess) -> None:
    async def listen(query: str, headers: dict[str, str] | None = None) -> Speaker:
        sp = Speaker(server.ws, headers=headers or {}, path=f"/v1/listen?{query}")
        await sp.connect()
        await sp.wait_for(lambda e: e["type"] in ("joined", "error"), timeout=20)
        return sp

    async def run() -> None:
        for query, headers, code in (
            ("room=main", None, "unauthorized"),
            (f"room=main&token={LISTEN}x", None, "unauthorized"),
            (f"room=side&token={LISTEN}", None, "forbidden"),
            ("room=other", {"Authorization": f"Bearer {SPEAK}"}, "forbidden"),
        ):
            sp = await listen(query, headers)
            assert sp.events[0]["type"] == "error" and sp.events[0]["code"] == code, (query, sp.events)
            await sp.wait_closed(20)
            assert sp.close_code == 1008
        for query, headers in (
            (f"room=main&token={LISTEN}", None),
            ("room=main", {"Authorization": f"Bearer {LISTEN}"}),
            ("room=side", {"Authorization": f"Bearer {SPEAK}"}),  # speak may also listen
        ):
            sp = await listen(query, headers)
            assert sp.events[0]["type"] == "joined", sp.events
            await sp.close()

    asyncio.run(run())


def test_browsers_from_other_origins_are_refused(server: ServerProcess) -> None:
    async def run() -> None:
        with pytest.raises(InvalidStatus) as info:
            await Speaker(server.ws, origin="https://evil.example").connect()
        assert info.value.response.status_code == 403
        for origin in (ORIGIN, "https://other.example", None):  # None: not a browser
            sp = Speaker(server.ws, origin=origin)
            first = await sp.start(token=ADMIN)
            assert first["type"] == "ready", first
            await sp.stop()

    asyncio.run(run())


def test_secrets_stay_out_of_the_log_and_refusals_are_counted(server: ServerProcess) -> None:
    async def run() -> None:
        await _refused(server.ws, "unauthorized", path=f"/v1/stream?token={SPEAK}zz&x=1",
                       room="main")
        sp = await _admitted(server.ws, path=f"/v1/stream?token={SPEAK}", room="main")
        await sp.stop()

    asyncio.run(run())
    time.sleep(0.3)
    log = server.log_text()
    for secret in (SPEAK, LISTEN, CAPPED, ADMIN):
        assert secret not in log
    assert "token=***" in log  # the path is logged, redacted
    status, text = http_get(server.http + "/metrics")
    assert status == 200
    assert metric(text, 'parley_rejections_total{code="unauthorized"}') >= 1
    assert metric(text, 'parley_rejections_total{code="forbidden"}') >= 1


def test_no_tokens_on_a_network_address_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_TOKENS")}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--host", "0.0.0.0", "--port", str(free_port()),
         "--asr-model", "tiny.en", "--no-mt"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "refusing to serve on 0.0.0.0 without API tokens" in proc.stderr
    assert "--open" in proc.stderr and "--tokens-file" in proc.stderr
    assert time.monotonic() - t0 < 20  # refused before loading models
    assert "loaded ASR model" not in proc.stderr
