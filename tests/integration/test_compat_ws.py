"""OpenAI Realtime transcription and Deepgram live, through their real SDKs, on a real server.

The `openai` SDK's realtime client and the `deepgram-sdk` stream real English speech
(the five LibriVox clips, as `test_stream_english.py`) to `parley serve` with tiny.en;
what they get is held against Parley's own protocol on the same audio and model.
Latency is printed for the closing note: first delta / first interim (from the start of
the stream) and each completed / final Result (from the end of its item's audio).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pytest
import soxr
from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment
from openai import AsyncOpenAI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from benchmarks.data import Stream, build_stream, english_clips, wer
from benchmarks.data.audio import load_audio_16k
from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.streaming_client import Received, pcm16, stream_pcm

pytestmark = pytest.mark.slow

RATE_16K = 16000
RATE_24K = 24000
CHUNK_S = 0.1
TAIL_S = 1.5


@cache
def speech() -> Stream:
    clips = [c for c in english_clips() if c.id.startswith("librivox/")]
    return build_stream(clips, pause_s=0.8, name="it-compat")


@cache
def native(url: str) -> Received:
    return asyncio.run(stream_pcm(url, speech().audio, realtime=1.0,
                                  tail_silence_s=TAIL_S))


def native_text(url: str) -> str:
    return native(url).final_text()


def with_tail(audio: np.ndarray, rate: int) -> np.ndarray:
    return np.concatenate([audio, np.zeros(int(TAIL_S * rate), np.float32)])


# --- OpenAI Realtime ---------------------------------------------------------------


@dataclass
class RealtimeRun:
    events: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    t0: float = 0.0
    t_end: float = 0.0

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.type == kind]

    def time_of(self, event: Any) -> float:
        return self.times[self.events.index(event)]


def _openai(server: ServerProcess) -> AsyncOpenAI:
    # The beta client takes wss:// unless told the WebSocket URL.
    return AsyncOpenAI(base_url=server.http + "/v1", websocket_base_url=server.ws + "/v1",
                       api_key="sk-parley-test")


async def _realtime_session(server: ServerProcess, update: dict[str, Any], audio24: np.ndarray, *,
                            beta: bool = False, commit: bool = True,
                            realtime: float = 1.0,
                            query: dict[str, str] | None = None) -> RealtimeRun:
    client = _openai(server)
    run = RealtimeRun()
    params = {"intent": "transcription", **(query or {})}
    manager = (client.beta.realtime.connect(model="whisper-1", extra_query=params)
               if beta else client.realtime.connect(extra_query=params))
    async with manager as conn:
        async def receive() -> None:
            async for event in conn:
                run.events.append(event)
                run.times.append(time.monotonic())

        rx = asyncio.create_task(receive())
        await conn.send(update)  # type: ignore[arg-type]
        data = pcm16(with_tail(audio24, RATE_24K))
        step = int(CHUNK_S * RATE_24K) * 2
        run.t0 = time.monotonic()
        for i in range(0, len(data), step):
            chunk = base64.b64encode(data[i:i + step]).decode()
            await conn.send({"type": "input_audio_buffer.append", "audio": chunk})
            due = run.t0 + (i + step) / 2 / RATE_24K / realtime
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        run.t_end = time.monotonic()
        if commit:
            await conn.send({"type": "input_audio_buffer.commit"})
        await _quiet(run.events, 4.0, 60.0)
        rx.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rx
    return run


async def _quiet(events: list[Any], quiet_s: float, limit_s: float) -> None:
    """Until no event came for `quiet_s` (at most `limit_s`)."""
    deadline = time.monotonic() + limit_s
    seen = -1
    while time.monotonic() < deadline and seen != len(events):
        seen = len(events)
        await asyncio.sleep(quiet_s)


GA_UPDATE = {
    "type": "session.update",
    "session": {
        "type": "transcription",
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": RATE_24K},
            "transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": {"type": "server_vad"},
        }},
    },
}


_RUNS: dict[tuple[str, int], Any] = {}


def realtime_ga(server: ServerProcess) -> RealtimeRun:
    key = ("realtime", server.port)
    if key not in _RUNS:
        audio24 = soxr.resample(speech().audio, RATE_16K, RATE_24K).astype(np.float32)
        _RUNS[key] = asyncio.run(_realtime_session(server, GA_UPDATE, audio24))
    run: RealtimeRun = _RUNS[key]
    return run


def test_realtime_sdk_transcribes_like_parley(tiny_server: ServerProcess) -> None:
    """GA form, server VAD: items as Parley's segments, deltas first, the same text."""
    ref = speech().reference
    run = realtime_ga(tiny_server)
    kinds = [e.type for e in run.events]
    assert kinds[0] == "session.created" and "session.updated" in kinds, kinds[:5]
    assert not run.of("error"), [e.error for e in run.of("error")]
    completed = run.of("conversation.item.input_audio_transcription.completed")
    deltas = run.of("conversation.item.input_audio_transcription.delta")
    assert len(completed) >= 3, kinds
    for item in completed:
        mine = [d for d in deltas if d.item_id == item.item_id]
        assert mine, f"item {item.item_id} had no delta"
        assert run.time_of(mine[0]) <= run.time_of(item)
        # deltas are never taken back: together they are the completed text
        assert "".join(d.delta for d in mine).strip() == item.transcript.strip()
        started = [e for e in run.of("input_audio_buffer.speech_started")
                   if e.item_id == item.item_id]
        committed = [e for e in run.of("input_audio_buffer.committed")
                     if e.item_id == item.item_id]
        assert started and committed
        assert run.time_of(started[0]) <= run.time_of(mine[0])
        assert item.usage.type == "duration" and item.usage.seconds > 0
    got = " ".join(c.transcript for c in completed)
    parley = native_text(tiny_server.ws)
    realtime_wer, native_wer = wer(ref, got), wer(ref, parley)
    between = wer(parley, got)
    first_delta = run.time_of(deltas[0]) - run.t0
    first_started = run.time_of(run.of("input_audio_buffer.speech_started")[0]) - run.t0
    nat = native(tiny_server.ws)
    nat_partial = next(i for i, e in enumerate(nat.events) if e["type"] == "transcript")
    nat_stable = next(i for i, e in enumerate(nat.events)
                      if e["type"] == "transcript" and e["stable"])
    lat = [float(getattr(c, "parley", {}).get("latency_ms") or 0) for c in completed]
    nat_lat = [float(e["latency_ms"]) for e in nat.of("transcript", final=True)]
    print(f"\nrealtime: WER {realtime_wer:.3f} (native {native_wer:.3f}, between {between:.3f}); "
          f"{len(completed)} items, {len(deltas)} deltas; from the stream's start: first "
          f"speech_started {first_started:.2f} s, first delta {first_delta:.2f} s (native: "
          f"first partial {nat.times[nat_partial] - nat.times[0]:.2f} s, first stable text "
          f"{nat.times[nat_stable] - nat.times[0]:.2f} s); completed latency_ms median "
          f"{float(np.median(lat)):.0f} (native finals {float(np.median(nat_lat)):.0f})")
    # The engine's own run-to-run spread on these 71 words is 1-8 errors (0.014-0.113,
    # test_stream_english.py); the translation itself loses nothing (deltas == completed).
    assert realtime_wer <= native_wer + 0.12, (got, parley)
    assert realtime_wer < 0.25


def test_realtime_beta_form_and_bad_input(tiny_server: ServerProcess) -> None:
    """Beta `transcription_session.update`, no turn detection (commit -> one item); bad
    events get OpenAI's error shape and the session (and the server) keeps serving."""
    clip = english_clips()[0]
    audio24 = soxr.resample(load_audio_16k(clip.path), RATE_16K, RATE_24K).astype(np.float32)

    async def go() -> RealtimeRun:
        client = _openai(tiny_server)
        run = RealtimeRun()
        async with client.beta.realtime.connect(
            model="whisper-1", extra_query={"intent": "transcription"}
        ) as conn:
            async def receive() -> None:
                async for event in conn:
                    run.events.append(event)
                    run.times.append(time.monotonic())

            rx = asyncio.create_task(receive())
            # audio before the session is configured, then an event nobody knows
            await conn.send({"type": "input_audio_buffer.append", "event_id": "e1",
                             "audio": base64.b64encode(b"\0\0" * 240).decode()})
            await conn.send({"type": "parley.no_such_event", "event_id": "e2"})  # type: ignore[typeddict-item]
            await conn.send({"type": "transcription_session.update", "session": {
                "input_audio_format": "pcm16",
                "input_audio_transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": None,
            }})  # type: ignore[arg-type]
            data = pcm16(with_tail(audio24, RATE_24K))
            step = int(CHUNK_S * RATE_24K) * 2
            for i in range(0, len(data), step):
                await conn.send({"type": "input_audio_buffer.append",
                                 "audio": base64.b64encode(data[i:i + step]).decode()})
                await asyncio.sleep(CHUNK_S / 4)
            await conn.send({"type": "input_audio_buffer.commit"})
            await _quiet(run.events, 4.0, 60.0)
            rx.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rx
        return run

    run = asyncio.run(go())
    kinds = [e.type for e in run.events]
    assert kinds[0] == "transcription_session.created", kinds
    assert "transcription_session.updated" in kinds
    errors = run.of("error")
    assert [(e.error.code, e.error.event_id) for e in errors] == [
        ("session_not_configured", "e1"), ("invalid_event", "e2")], errors
    assert all(e.error.type == "invalid_request_error" and e.error.message for e in errors)
    assert not run.of("input_audio_buffer.speech_started")  # turn detection is off
    completed = run.of("conversation.item.input_audio_transcription.completed")
    assert len(completed) == 1, kinds
    committed = run.of("input_audio_buffer.committed")
    assert committed and committed[0].item_id == completed[0].item_id
    assert [e.item.id for e in run.of("conversation.item.created")] == [completed[0].item_id]
    assert run.time_of(committed[0]) <= run.time_of(completed[0])
    assert wer(clip.text, completed[0].transcript) < 0.3, completed[0].transcript


def test_realtime_refuses_other_session_types(tiny_server: ServerProcess) -> None:
    """A conversation session (not transcription) and a bad format: errors, not a close."""

    async def go() -> list[dict[str, Any]]:
        async with connect(tiny_server.ws + "/v1/realtime?intent=transcription") as ws:
            out = [json.loads(await ws.recv())]
            for event in (
                {"type": "session.update", "session": {"type": "realtime"}},
                {"type": "session.update", "session": {"type": "transcription", "audio": {
                    "input": {"format": {"type": "audio/flac"}}}}},
                {"type": "session.update", "session": {"type": "transcription"}},
            ):
                await ws.send(json.dumps(event))
                out.append(json.loads(await ws.recv()))
            return out

    created, realtime_type, bad_format, updated = asyncio.run(go())
    assert created["type"] == "session.created"
    assert realtime_type["type"] == "error"
    assert realtime_type["error"]["param"] == "session.type"
    assert bad_format["error"]["code"] == "invalid_value"
    assert updated["type"] == "session.updated"
    assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}


# --- Deepgram ----------------------------------------------------------------------


def _deepgram(server: ServerProcess) -> AsyncDeepgramClient:
    env = DeepgramClientEnvironment(base=server.http, production=server.ws + "/deepgram",
                                    agent=server.ws, agent_rest=server.http)
    return AsyncDeepgramClient(api_key="dg-parley-test", environment=env)


@dataclass
class DeepgramRun:
    messages: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    t0: float = 0.0

    def of(self, kind: str) -> list[Any]:
        return [m for m in self.messages if getattr(m, "type", None) == kind]


def deepgram_run(server: ServerProcess) -> DeepgramRun:
    key = ("deepgram", server.port)
    if key not in _RUNS:
        _RUNS[key] = asyncio.run(_deepgram_session(server))
    run: DeepgramRun = _RUNS[key]
    return run


async def _deepgram_session(server: ServerProcess) -> DeepgramRun:
    run = DeepgramRun()
    client = _deepgram(server)
    async with client.listen.v1.connect(
        model="nova-3", encoding="linear16", sample_rate=RATE_16K, channels=1,
        language="en", interim_results="true", punctuate="true", smart_format="true",
        vad_events="true", utterance_end_ms=1000,
    ) as socket:
        async def receive() -> None:
            with contextlib.suppress(Exception):
                while True:
                    message = await socket.recv()
                    run.messages.append(message)
                    run.times.append(time.monotonic())

        rx = asyncio.create_task(receive())
        data = pcm16(with_tail(speech().audio, RATE_16K))
        step = int(CHUNK_S * RATE_16K) * 2
        run.t0 = time.monotonic()
        for i in range(0, len(data), step):
            await socket.send_media(data[i:i + step])
            due = run.t0 + (i + step) / 2 / RATE_16K
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await socket.send_keep_alive()
        await socket.send_finalize()
        await socket.send_close_stream()
        await asyncio.wait_for(rx, 60)
    return run


def test_deepgram_sdk_streams_interim_and_final_results(tiny_server: ServerProcess) -> None:
    ref = speech().reference
    run = deepgram_run(tiny_server)
    results = run.of("Results")
    interims = [r for r in results if not r.is_final]
    finals = [r for r in results if r.is_final]
    assert interims and len(finals) >= 3, [getattr(m, "type", m) for m in run.messages]
    assert run.times[run.messages.index(interims[0])] < run.times[run.messages.index(finals[0])]
    assert run.of("SpeechStarted") and run.of("UtteranceEnd")
    assert any(f.speech_final for f in finals)
    for f in finals:
        alt = f.channel.alternatives[0]
        assert alt.words and all(w.start <= w.end and w.punctuated_word for w in alt.words)
        assert 0 < alt.confidence <= 1 and f.duration >= 0
    meta = run.messages[-1]
    assert meta.type == "Metadata" and meta.duration > 20, meta
    got = " ".join(f.channel.alternatives[0].transcript for f in finals)
    dg_wer, native_wer = wer(ref, got), wer(ref, native_text(tiny_server.ws))
    first_interim = run.times[run.messages.index(interims[0])] - run.t0
    lat = [float((getattr(f, "parley", None) or {}).get("latency_ms") or 0) for f in finals]
    print(f"\ndeepgram: WER {dg_wer:.3f} (native {native_wer:.3f}); {len(interims)} interim, "
          f"{len(finals)} final Results; first interim {first_interim:.2f} s after the stream "
          f"began; final latency_ms median {float(np.median(lat)):.0f}")
    assert dg_wer <= native_wer + 0.12, got  # the spread as above
    assert dg_wer < 0.25


def test_deepgram_refuses_bad_parameters_at_the_handshake(tiny_server: ServerProcess) -> None:
    async def go(**kwargs: Any) -> int:
        client = _deepgram(tiny_server)
        try:
            async with client.listen.v1.connect(model="nova-3", **kwargs):
                return 101
        except ApiError as exc:
            return int(exc.status_code or 0)

    assert asyncio.run(go(encoding="linear16")) == 400  # no sample_rate
    assert asyncio.run(go(encoding="linear16", sample_rate=16000, diarize="true")) == 400
    assert asyncio.run(go(encoding="linear16", sample_rate=16000, language="xx-yy-zz")) == 400
    # and the server still serves
    assert asyncio.run(go(encoding="linear16", sample_rate=16000)) == 101


# --- tokens ------------------------------------------------------------------------

SPEAK = "compat-speaker-secret-001"
LISTEN_ONLY = "compat-listener-secret-01"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve(
        "--asr-model", "tiny.en", "--no-mt", tmp=tmp_path_factory.mktemp("compat-auth"),
        env={"PARLEY_TOKENS": f"speak:{SPEAK},listen:{LISTEN_ONLY}", "PARLEY_TOKENS_FILE": ""},
    ) as srv:
        yield srv


def test_tokens_map_onto_parleys(token_server: ServerProcess) -> None:
    """Bearer (OpenAI) and `Token` (Deepgram) keys are Parley tokens: an unknown one is
    HTTP 401 at the handshake, one without the speak role gets the API's error event."""

    async def openai_first(key: str) -> list[dict[str, Any]]:
        client = AsyncOpenAI(base_url=token_server.http + "/v1",
                             websocket_base_url=token_server.ws + "/v1", api_key=key)
        out: list[dict[str, Any]] = []
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            await conn.send(GA_UPDATE)  # type: ignore[arg-type]
            async for event in conn:
                out.append(event.model_dump())
                if event.type in ("session.updated", "error"):
                    break
        return out

    with pytest.raises(Exception, match="401"):
        asyncio.run(openai_first("sk-wrong"))
    created, updated = asyncio.run(openai_first(SPEAK))
    assert created["type"] == "session.created" and updated["type"] == "session.updated"
    created, refused = asyncio.run(openai_first(LISTEN_ONLY))
    assert refused["type"] == "error" and refused["error"]["code"] == "forbidden"

    async def deepgram_status(key: str) -> int | str:
        env = DeepgramClientEnvironment(base=token_server.http,
                                        production=token_server.ws + "/deepgram",
                                        agent=token_server.ws, agent_rest=token_server.http)
        client = AsyncDeepgramClient(api_key=key, environment=env)
        try:
            async with client.listen.v1.connect(model="nova-3", encoding="linear16",
                                                sample_rate=16000) as socket:
                await socket.send_close_stream()
                message = await socket.recv()
                return str(getattr(message, "type", message))
        except ApiError as exc:
            return int(exc.status_code or 0)

    assert asyncio.run(deepgram_status("dg-wrong")) == 401
    assert asyncio.run(deepgram_status(SPEAK)) == "Metadata"
    assert asyncio.run(deepgram_status(LISTEN_ONLY)) == "Error"


def test_browser_subprotocol_keys(token_server: ServerProcess) -> None:
    """Browsers cannot set headers: the key rides in the subprotocols, and the server
    answers with one it took (else a browser drops the connection)."""

    async def go(path: str, protocols: list[str], first: dict[str, Any] | None) -> Any:
        async with connect(token_server.ws + path,
                           subprotocols=protocols) as ws:  # type: ignore[arg-type]
            if first is not None:
                await ws.send(json.dumps(first))
            return ws.subprotocol, json.loads(await ws.recv())

    proto, created = asyncio.run(go("/v1/realtime?intent=transcription",
                                    ["realtime", f"openai-insecure-api-key.{SPEAK}"], None))
    assert proto == "realtime" and created["type"] == "session.created"
    proto, meta = asyncio.run(go("/deepgram/v1/listen?encoding=linear16&sample_rate=16000",
                                 ["token", SPEAK], {"type": "CloseStream"}))
    assert proto == "token" and meta["type"] == "Metadata"


def test_refusals_before_the_session_are_bounded(tiny_server: ServerProcess) -> None:
    """Like Parley's own speakers: a few events refused before the session is configured
    are answered; the next closes the connection (1008). Other sessions go on."""

    async def go() -> tuple[list[dict[str, Any]], int | None]:
        async with connect(tiny_server.ws + "/v1/realtime?intent=transcription") as ws:
            out = [json.loads(await ws.recv())]
            for i in range(4):
                await ws.send(json.dumps({"type": "input_audio_buffer.commit",
                                          "event_id": f"e{i}"}))
            with contextlib.suppress(Exception):
                async for message in ws:
                    out.append(json.loads(message))
            return out, ws.close_code

    events, code = asyncio.run(go())
    assert [e["type"] for e in events] == ["session.created"] + ["error"] * 5, events
    assert [e["error"]["code"] for e in events[1:]] == ["session_not_configured"] * 4 + [
        "not_started"]
    assert code == 1008
    assert asyncio.run(_deepgram_closes(tiny_server)) == "Metadata"


async def _deepgram_closes(server: ServerProcess) -> str:
    async with _deepgram(server).listen.v1.connect(model="nova-3", encoding="linear16",
                                                   sample_rate=16000) as socket:
        await socket.send_close_stream()
        return str(getattr(await socket.recv(), "type", ""))


def test_deepgram_close_before_audio(tiny_server: ServerProcess) -> None:
    """Containerized audio starts the session with its first bytes: closing before any
    is `Metadata` and a normal close, with no session opened."""

    async def go() -> tuple[list[dict[str, Any]], int | None]:
        async with connect(tiny_server.ws + "/deepgram/v1/listen?language=en") as ws:
            await ws.send(json.dumps({"type": "KeepAlive"}))
            await ws.send(json.dumps({"type": "CloseStream"}))
            out = [json.loads(m) async for m in ws]
            return out, ws.close_code

    out, code = asyncio.run(go())
    assert [m["type"] for m in out] == ["Metadata"] and out[0]["duration"] == 0
    assert code == 1000


def test_a_dropped_connection_ends_its_session(tiny_server: ServerProcess) -> None:
    """Nothing can resume a compatible session, so a lost connection is not parked."""
    from tests.integration.resilience_support import http_get, metric

    async def go() -> None:
        ws = await connect(tiny_server.ws + "/deepgram/v1/listen?encoding=linear16"
                           "&sample_rate=16000")
        await ws.send(pcm16(speech().audio[: RATE_16K]))
        await asyncio.sleep(0.5)
        ws.transport.abort()  # no close frame: a lost network

    before = metric(http_get(tiny_server.http + "/metrics")[1], "parley_parked_sessions")
    asyncio.run(go())
    deadline = time.monotonic() + 10
    active = 1.0
    while time.monotonic() < deadline and active:
        time.sleep(0.2)
        text = http_get(tiny_server.http + "/metrics")[1]
        active = metric(text, "parley_active_sessions")
    assert active == 0
    assert metric(text, "parley_parked_sessions") == before == 0


def test_realtime_translations_ride_along(base_server: ServerProcess) -> None:
    """`?target_languages=en`: Parley's final translations come as `parley.translation`
    events naming the items they translate (Dutch speech, Whisper's translate task)."""
    from benchmarks.data import dutch_clips

    stream = build_stream(dutch_clips(fetch=False)[:3], pause_s=1.0, name="it-compat-nl")
    audio24 = soxr.resample(stream.audio, RATE_16K, RATE_24K).astype(np.float32)
    update = json.loads(json.dumps(GA_UPDATE))
    update["session"]["audio"]["input"]["transcription"]["language"] = "nl"

    async def go() -> RealtimeRun:
        return await _realtime_session(base_server, update, audio24, realtime=2.0,
                                       query={"target_languages": "en"})

    run = asyncio.run(go())
    assert not run.of("error"), [e.error for e in run.of("error")]
    items = [c.item_id for c in run.of("conversation.item.input_audio_transcription.completed")]
    translations = run.of("parley.translation")
    assert items and translations, [e.type for e in run.events]
    assert all(getattr(t, "lang", None) == "en" for t in translations)
    covered = sorted(i for t in translations for i in getattr(t, "item_ids", []))
    assert covered == sorted(items)
    english = " ".join(str(getattr(t, "text", "")) for t in translations).lower()
    assert len(set(english.replace(".", " ").split()) & {"the", "a", "is", "i", "and", "to",
                                                          "of", "in", "it", "you"}) >= 2, english


def test_too_many_unconfigured_connections_get_the_apis_error(
        tiny_server: ServerProcess) -> None:
    """Parley's cap on connections no token admitted yet (16 an address) holds here too,
    and the refusal is in OpenAI's shape."""

    async def go() -> tuple[list[dict[str, Any]], int | None]:
        url = tiny_server.ws + "/v1/realtime?intent=transcription"
        held = [await connect(url) for _ in range(16)]
        try:
            async with connect(url) as ws:
                out: list[dict[str, Any]] = []
                with contextlib.suppress(ConnectionClosed):
                    async for m in ws:
                        out.append(json.loads(m))
                return out, ws.close_code
        finally:
            for ws in held:
                await ws.close()

    out, code = asyncio.run(go())
    assert [e["type"] for e in out] == ["session.created", "error"], out
    assert out[1]["error"]["code"] == "rate_limited" and code == 1008
