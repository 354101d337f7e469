"""Per-connection limits on a real server with small settings: message rate, idle time,
session duration. Each breach is an `error` with its own code, then close 1008."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.resilience_support import (
    Speaker,
    heard_opening,
    http_get,
    metric,
    speech_pcm,
)

RATE, IDLE_S, MAX_S = 20, 2.0, 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve(
        "--asr-model", "tiny.en", "--no-mt", "--message-rate", str(RATE),
        "--idle-timeout-s", str(IDLE_S), "--max-session-s", str(MAX_S),
        tmp=tmp_path_factory.mktemp("limits"),
    ) as srv:
        yield srv


def _error(sp: Speaker) -> dict[str, object]:
    errors = sp.of("error")
    assert len(errors) == 1, sp.events
    return errors[0]


def test_too_many_messages_are_rate_limited(server: ServerProcess) -> None:
    async def run() -> Speaker:
        sp = Speaker(server.ws)
        assert (await sp.start())["type"] == "ready"
        await sp.send_pcm(b"\x00\x00" * 160 * 200, frame=320)  # 200 frames of 10 ms, at once
        await sp.wait_closed(30)
        return sp

    sp = asyncio.run(run())
    error = _error(sp)
    assert error["code"] == "rate_limited" and error["fatal"] is True
    assert isinstance(error["retry_after_ms"], int) and error["retry_after_ms"] > 0
    assert (sp.close_code, sp.close_reason) == (1008, "rate_limited")
    # The bucket holds 2 x RATE; the start message took one.
    assert sp.sent_bytes >= 320 * (2 * RATE - 1)


def test_a_silent_speaker_times_out(server: ServerProcess) -> None:
    async def run() -> tuple[Speaker, float, Speaker]:
        sp = Speaker(server.ws)
        assert (await sp.start())["type"] == "ready"
        t0 = time.monotonic()
        await sp.send_pcm(b"\x00\x00" * 1600)  # 0.1 s, then nothing
        await sp.wait_closed(30)
        waited = time.monotonic() - t0
        never_started = Speaker(server.ws)
        await never_started.connect()  # no start, no audio
        await never_started.wait_closed(30)
        return sp, waited, never_started

    sp, waited, never_started = asyncio.run(run())
    assert _error(sp)["code"] == "idle_timeout"
    assert IDLE_S <= waited < IDLE_S + 5
    assert sp.of("end")[0]["reason"] == "idle_timeout"  # finished, not dropped
    assert (sp.close_code, sp.close_reason) == (1008, "idle_timeout")
    assert _error(never_started)["code"] == "idle_timeout"
    assert never_started.close_code == 1008


def test_a_session_past_its_maximum_duration_gets_its_finals_then_closes(
    server: ServerProcess,
) -> None:
    async def run() -> Speaker:
        sp = Speaker(server.ws)
        assert (await sp.start())["type"] == "ready"
        # 0.2 s frames at real time: 5 messages a second, well under the rate limit.
        await sp.send_pcm(speech_pcm(1), realtime=1.0, frame=6400)
        await sp.wait_closed(60)
        return sp

    sp = asyncio.run(run())
    error = _error(sp)
    assert error["code"] == "session_too_long"
    assert (sp.close_code, sp.close_reason) == (1008, "session_too_long")
    end = sp.of("end")[0]
    assert end["reason"] == "session_too_long"
    assert MAX_S - 0.5 <= end["audio_s"] <= MAX_S + 1.0
    finals = sp.finals()
    # What was said before the limit is delivered: "And Mr. John Dashwood had then ..."
    assert finals and end["segments"] == len(finals)
    assert heard_opening(" ".join(f["text"] for f in finals))
    assert error["seq"] < end["seq"]  # error first, then the pending finals, then `end`

    _, text = http_get(server.http + "/metrics")
    for code in ("rate_limited", "idle_timeout", "session_too_long"):
        assert metric(text, f'parley_rejections_total{{code="{code}"}}') >= 1, code
