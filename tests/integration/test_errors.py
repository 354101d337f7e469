"""Bad input gets a stable error code; the server keeps serving everyone else."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks.data import english_clips, load_audio_16k, wer
from tests.integration.conftest import ServerProcess
from tests.integration.streaming_client import stream_pcm

PCM = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}
START = {"type": "start", "audio": PCM, "source_language": "en", "target_languages": []}


async def next_event(ws: ClientConnection, kind: str = "error") -> dict[str, Any]:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        if event["type"] == kind:
            return event


async def expect_error(url: str, frames: list[str | bytes], code: str) -> tuple[dict[str, Any], int | None]:
    async with connect(url + "/v1/stream") as ws:
        for frame in frames:
            await ws.send(frame)
        error = await next_event(ws)
        assert error["code"] == code, error
        assert error["message"] and isinstance(error["seq"], int)
        if error["fatal"]:
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), timeout=30)
        return error, ws.close_code


CASES: list[tuple[str, list[str | bytes], str, bool]] = [
    ("malformed json", ["{nope"], "bad_json", False),
    ("unknown type", ['{"type":"dance"}'], "unknown_type", False),
    ("audio before start", [b"\x00\x01" * 100], "not_started", False),
    ("flush before start", ['{"type":"flush"}'], "not_started", False),
    ("wrong encoding", [json.dumps({**START, "audio": {"encoding": "mp3"}})], "bad_audio_format", True),
    ("unknown language", [json.dumps({**START, "source_language": "xx"})], "unsupported_language", True),
    ("unsupported pair", [json.dumps({**START, "target_languages": ["fr"]})], "unsupported_pair", True),
    ("unknown target language", [json.dumps({**START, "target_languages": ["xx"]})], "unsupported_language", True),
    ("second start", [json.dumps(START), json.dumps(START)], "already_started", False),
    ("oversized frame", [json.dumps(START), b"\x00" * (300 * 1024)], "frame_too_large", True),
    ("garbage container", [json.dumps({**START, "audio": {"encoding": "ogg"}}), b"garbage!" * 512], "bad_audio", True),
]


@pytest.mark.parametrize(("name", "frames", "code", "fatal"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_its_code(
    tiny_server: ServerProcess, name: str, frames: list[str | bytes], code: str, fatal: bool
) -> None:
    error, close_code = asyncio.run(expect_error(tiny_server.ws, frames, code))
    assert error["fatal"] is fatal
    if fatal:
        assert close_code in (1008, 1009, 1013)


def test_a_misbehaving_session_does_not_disturb_another(tiny_server: ServerProcess) -> None:
    clip = next(c for c in english_clips() if c.id.startswith("librivox/"))
    audio = load_audio_16k(clip.path)

    async def misbehave() -> list[str]:
        codes = []
        for _, frames, code, _ in CASES:
            await expect_error(tiny_server.ws, frames, code)
            codes.append(code)
            await asyncio.sleep(0.2)
        return codes

    async def both() -> tuple[Any, list[str]]:
        return await asyncio.gather(stream_pcm(tiny_server.ws, audio, realtime=1.0), misbehave())

    good, codes = asyncio.run(both())
    assert len(codes) == len(CASES)
    assert good.close_code == 1000 and not good.of("error")
    assert wer(clip.text, good.final_text()) < 0.3
    # And the server still serves new sessions.
    again = asyncio.run(stream_pcm(tiny_server.ws, audio[:16000 * 3], realtime=0))
    assert again.of("end")


def test_http_routes(tiny_server: ServerProcess) -> None:
    import urllib.request

    with urllib.request.urlopen(tiny_server.http + "/healthz") as r:
        assert r.status == 200
    with urllib.request.urlopen(tiny_server.http + "/") as r:  # the captioning page
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    with urllib.request.urlopen(tiny_server.http + "/readyz") as r:
        assert r.status == 200
    with urllib.request.urlopen(tiny_server.http + "/v1/models") as r:
        models = json.load(r)
    assert models["asr"]["name"] == "tiny.en" and models["protocol"] == 1
    assert models["asr"]["engine"] == "batched"  # the default
    assert models["asr"]["windows_s"]["alone"][-1] == 30 and models["asr"]["beam"]["alone"] == 3
    assert ["zh", "en"] in models["mt"][0]["pairs"]


def test_silence_and_noise_produce_no_captions(tiny_server: ServerProcess) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(16000 * 6) / 16000
    music = 0.2 * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 277 * t) + 0.3 * np.sin(2 * np.pi * 330 * t))
    noise = 0.05 * rng.standard_normal(16000 * 6)
    audio = np.concatenate([np.zeros(16000 * 4), noise, music * (t % 1 < 0.5)]).astype(np.float32)
    got = asyncio.run(stream_pcm(tiny_server.ws, audio, realtime=0))
    assert got.of("end"), got.events
    assert got.of("transcript") == [], [e["text"] for e in got.of("transcript")]
