"""GET /metrics (Prometheus text format) moves with a real session."""

from __future__ import annotations

import asyncio

from server.metrics import parse_text
from tests.integration.conftest import ServerProcess
from tests.integration.resilience_support import FRAME, Speaker, http_get, speech_pcm

HIST = "parley_final_latency_seconds"


def test_a_session_moves_the_counters(tiny_server: ServerProcess) -> None:
    url = tiny_server.http + "/metrics"
    status, text = http_get(url)
    assert status == 200
    before = parse_text(text)
    assert before["parley_active_sessions"] == 0
    assert before["parley_asr_workers"] >= 1 and before["parley_asr_busy_workers"] == 0
    for name in ("parley_asr_queue_depth", "parley_parked_sessions", "parley_draining",
                 'parley_mt_batches_total{model="zh-en"}', 'parley_mt_queued{model="zh-en"}',
                 "process_resident_memory_bytes"):
        assert name in before, name
    pcm = speech_pcm(1)

    async def run() -> tuple[Speaker, dict[str, float]]:
        sp = Speaker(tiny_server.ws)
        await sp.start()
        await sp.send_pcm(pcm[: 10 * FRAME])
        during = parse_text((await asyncio.to_thread(http_get, url))[1])
        await sp.send_pcm(pcm[10 * FRAME :])
        await sp.stop()
        return sp, during

    sp, during = asyncio.run(run())
    assert during["parley_active_sessions"] == 1
    after = parse_text(http_get(url)[1])

    def moved(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    finals = len(sp.finals())
    assert finals >= 1
    assert after["parley_active_sessions"] == 0
    assert moved('parley_sessions_total{reason="stop"}') == 1
    assert abs(moved("parley_audio_seconds_total") - len(pcm) / 32000) < 0.2
    assert moved('parley_finals_total{type="transcript"}') == finals
    assert moved(f'{HIST}_count{{event="transcript"}}') == finals
    assert moved(f'{HIST}_bucket{{event="transcript",le="+Inf"}}') == finals
    latency_s = sum(f["latency_ms"] for f in sp.finals()) / 1000
    assert abs(moved(f'{HIST}_sum{{event="transcript"}}') - latency_s) < 0.01
    assert moved('parley_stage_seconds_count{stage="asr"}') == finals
    assert moved('parley_stage_seconds_count{stage="queue"}') == finals
