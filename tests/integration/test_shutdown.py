"""Graceful shutdown: SIGTERM mid-utterance delivers the finals of everything spoken,
then `end` and close 1001; while draining, new sessions are refused and /readyz is 503."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.config import ServerConfig
from server.transport.gateway import RunningServer
from tests.integration.conftest import parley_serve, serve_in_process
from tests.integration.resilience_support import (
    FRAME,
    Speaker,
    heard_opening,
    http_get,
    speech_pcm,
)
from tests.integration.rooms_support import in_order_hits, librivox_files, read_pcm, words
from tests.unit.deploy.manifests import DRAIN_DEADLINE_S

PAUSE_S = 0.8


def _word_times(finals: list[dict[str, Any]]) -> list[tuple[str, float]]:
    out = []
    for f in finals:
        for w in f["words"]:
            out += [(x, w["end"]) for x in words(w["word"])]
    return out


def test_sigterm_mid_utterance_delivers_every_final_then_1001(tmp_path: Path) -> None:
    pcm = speech_pcm(2, pause_s=PAUSE_S)
    first = len(read_pcm(librivox_files()[0])) + int(16000 * PAUSE_S) * 2
    cut_s = (first // FRAME * FRAME) / 32000 + 2.5  # 2.5 s into the second recording

    with parley_serve("--asr-model", "tiny.en", "--no-mt", tmp=tmp_path) as server:

        async def run() -> tuple[list[dict[str, Any]], Speaker, float]:
            ref = Speaker(server.ws)
            await ref.start()
            await ref.send_pcm(pcm)
            await ref.stop()
            sp = Speaker(server.ws)
            assert (await sp.start())["type"] == "ready"
            cut = int(cut_s * 32000) // FRAME * FRAME
            await sp.send_pcm(pcm[:cut], realtime=1.0)
            server.proc.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            # A real client keeps talking; the server stops reading and finishes.
            await sp.send_pcm(pcm[cut:], realtime=1.0)
            await sp.wait_closed(DRAIN_DEADLINE_S + 10)
            return ref.finals(), sp, time.monotonic() - t0

        reference, sp, took = asyncio.run(run())
        assert server.proc.wait(timeout=DRAIN_DEADLINE_S + 10) == 0
        log = server.log_text()

    assert (sp.close_code, sp.close_reason) == (1001, "server shutting down")
    assert took < DRAIN_DEADLINE_S
    end = sp.of("end")[0]
    finals = sp.finals()
    assert end["reason"] == "shutdown" and end["segments"] == len(finals)
    assert end["audio_s"] >= cut_s - 0.5
    # Every word said before the cut (with a margin for the frames in flight) is final.
    said = [w for w, t in _word_times(reference) if t <= cut_s - 0.3]
    got = words(" ".join(f["text"] for f in finals))
    assert len(said) >= 20
    assert in_order_hits(said, got) >= 0.9 * len(said), (said, got)
    # Right up to the cut (a word may be recognized differently from the reference run).
    assert any(w in got[-8:] for w in said[-3:]), (said, got)
    assert "shutting down: finishing sessions" in log and "parley: stopped" in log


@pytest.fixture
async def in_process() -> AsyncIterator[RunningServer]:
    async with serve_in_process(ServerConfig(asr_model="tiny.en", mt_models=())) as server:
        yield server


async def test_while_draining_new_sessions_are_refused_and_readyz_fails(
    in_process: RunningServer,
) -> None:
    server = in_process
    url = f"ws://127.0.0.1:{server.port}"
    http = f"http://127.0.0.1:{server.port}"
    assert (await asyncio.to_thread(http_get, http + "/readyz"))[0] == 200
    pcm = speech_pcm(1)
    sp = Speaker(url)
    assert (await sp.start())["type"] == "ready"
    await sp.send_pcm(pcm[: 40 * FRAME], realtime=2.0)
    drain = asyncio.create_task(server.shutdown(20))
    await asyncio.sleep(0)
    status, body = await asyncio.to_thread(http_get, http + "/readyz")
    assert (status, body) == (503, "not ready: shutting down\n")
    assert (await asyncio.to_thread(http_get, http + "/healthz"))[0] == 200
    late = Speaker(url)
    error = await late.start()
    assert error["type"] == "error" and error["code"] == "overloaded", error
    await late.wait_closed(10)
    assert late.close_code == 1013
    listener = Speaker(url, path="/v1/listen?room=r1")
    await listener.connect()
    await listener.wait_closed(10)
    assert listener.close_code == 1013 and listener.events[0]["code"] == "overloaded"
    await drain
    await sp.wait_closed(10)
    assert sp.close_code == 1001
    assert sp.of("end")[0]["reason"] == "shutdown"
    assert heard_opening(" ".join(f["text"] for f in sp.finals()))
    _, metrics = await asyncio.to_thread(http_get, http + "/metrics")
    assert "parley_draining 1" in metrics
