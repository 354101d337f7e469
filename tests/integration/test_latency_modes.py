"""A real server with tiny.en honours start.latency and its own --latency default."""

from __future__ import annotations

import asyncio
import json

import jsonschema
import pytest
from websockets.asyncio.client import connect

from benchmarks.data import wer
from server.protocol.schema import schema_for
from server.streaming.policy import latency_options
from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.streaming_client import stream_pcm
from tests.integration.test_stream_english import librivox_stream


def test_accurate_finals_come_whole_after_each_utterance(tiny_server: ServerProcess) -> None:
    stream = librivox_stream()
    got = asyncio.run(stream_pcm(tiny_server.ws, stream.audio, extra={"latency": "accurate"}))
    ready = got.events[0]
    assert ready["type"] == "ready" and ready["latency"] == "accurate"
    jsonschema.validate(ready, schema_for("ready"))
    partials = got.of("transcript", final=False)
    assert partials, "accurate still shows partials"
    assert all(p["stable"] == "" and p["unstable"] for p in partials), [
        p for p in partials if p["stable"] or not p["unstable"]]
    finals = got.of("transcript", final=True)
    assert finals and {f["reason"] for f in finals} <= {"endpoint", "max_length", "stop"}
    # Audio goes out at real time from about the ready event on: a final that needs the
    # utterance's end (and the endpoint silence after it) cannot come before that was sent.
    t0 = got.times[0]
    silence = latency_options("accurate").endpoint_silence_s
    for final in finals:
        at = got.times[got.events.index(final)] - t0
        if final["reason"] == "endpoint":
            assert at >= final["end"] + silence - 0.2, (at, final["end"], final["text"])
    assert wer(stream.reference, got.final_text()) < 0.15, got.final_text()


def test_server_default_mode_and_a_bad_mode(tmp_path_factory: pytest.TempPathFactory) -> None:
    with parley_serve("--asr-model", "tiny.en", "--no-mt", tmp=tmp_path_factory.mktemp("srv"),
                      env={"PARLEY_LATENCY": "balanced"}) as server:
        got = asyncio.run(stream_pcm(server.ws, librivox_stream().audio[: 16000 * 6]))
        assert got.events[0]["latency"] == "balanced"
        assert got.of("transcript", final=True)
        fast = asyncio.run(stream_pcm(server.ws, librivox_stream().audio[: 16000 * 2],
                                      extra={"latency": "fast"}))
        assert fast.events[0]["latency"] == "fast"

        async def bad() -> tuple[dict[str, object], int | None]:
            async with connect(server.ws + "/v1/stream") as ws:
                await ws.send(json.dumps({
                    "type": "start", "latency": "instant",
                    "audio": {"encoding": "pcm_s16le", "sample_rate": 16000},
                }))
                error = json.loads(await ws.recv())
                await ws.wait_closed()
                return error, ws.close_code

        error, code = asyncio.run(bad())
        assert error["type"] == "error" and error["code"] == "bad_message"
        assert "latency" in str(error["message"]) and error["fatal"] is True
        assert code == 1008
