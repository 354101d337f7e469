"""One client must not hold the server or put noise into captions: a connection that
never sends `start`, a listener that floods, many unauthenticated sockets from one
address, garbage floats before speech, garbage after a valid WebM header. A real
`parley serve` (tiny.en) on a free port, with the default start deadline, and real
speech where a speaker must go on meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.resilience_support import (
    Speaker,
    heard_opening,
    heard_share,
    http_get,
    metric,
    speech_pcm,
)
from tests.integration.rooms_support import (
    Follower,
    finals,
    librivox_files,
    librivox_text,
    speak,
    speech,
    words,
)

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


async def _flood(url: str, frame: bytes | str, seconds: float = 5.0) -> tuple[
        float, int | None, str, list[str]]:
    """Join as a listener, then send `frame` as fast as possible until the server closes
    the connection (or `seconds` pass): the seconds until its close frame came, its close
    code and reason, and the texts received."""
    async with connect(url, max_size=None) as ws:
        joined = json.loads(await ws.recv())
        assert joined["type"] == "joined", joined

        async def send() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await ws.send(frame)
                    await asyncio.sleep(0)  # (a send may not yield: let the reader run)

        t0 = time.monotonic()
        sender = asyncio.create_task(send())
        texts: list[str] = []
        try:
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(seconds):
                    async for message in ws:
                        texts.append(str(message))
            closed_after = time.monotonic() - t0
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return closed_after, ws.close_code, ws.close_reason or "", texts


def test_a_flooding_listener_is_closed_and_a_speaker_goes_on(server: ServerProcess) -> None:
    """A listener used to be able to push data at the server (read and discarded, up to
    1 MiB a frame, at any rate). Now its first data frame closes it, and a frame over
    the listener's small maximum is refused from its header."""
    room = "flood-room"

    async def run() -> tuple[list[dict[str, Any]], Follower, list[tuple[float, int | None, str,
                                                                       list[str]]], int]:
        honest = Follower(server.ws, room)
        following = asyncio.create_task(honest.run())
        await asyncio.wait_for(honest.joined.wait(), 10)
        floods: list[asyncio.Task[tuple[float, int | None, str, list[str]]]] = []
        finals_before: list[int] = []
        listen = f"{server.ws}/v1/listen?room={room}"

        def on_event(event: dict[str, Any]) -> None:
            if event.get("type") == "transcript" and event["final"] and not floods:
                finals_before.append(event["segment"])
                floods.append(asyncio.create_task(_flood(listen, b"x" * 512)))
                floods.append(asyncio.create_task(_flood(listen, b"x" * (1 << 20))))
                floods.append(asyncio.create_task(_flood(listen, "y" * 100)))

        said = await speak(server.ws, speech(librivox_files()[:2]), room=room, speed=1.5,
                           on_event=on_event)
        results = [await f for f in floods]
        await asyncio.wait_for(following, 30)
        return said, honest, results, finals_before[0]

    said, honest, results, flood_at = asyncio.run(run())
    (t_small, code_small, reason_small, texts_small), (t_big, code_big, _, _), \
        (t_text, code_text, reason_text, _) = results
    assert (code_small, reason_small) == (1008, "bad_message") and t_small < 1.0
    error = json.loads(texts_small[-1])
    assert error["type"] == "error" and error["code"] == "bad_message" and error["fatal"]
    assert (code_text, reason_text) == (1008, "bad_message") and t_text < 1.0
    assert code_big == 1009 and t_big < 1.0  # over the listener's message size
    spoken = finals(said)
    assert len([s for s, _ in spoken if s > flood_at]) >= 1, "no final after the flood"
    assert finals(honest.events) == spoken and said[-1]["type"] == "end"
    _, text = http_get(server.http + "/metrics")
    assert metric(text, 'parley_rejections_total{code="bad_message"}') >= 2


def _f32_junk(seconds_each: float = 1.0) -> np.ndarray:
    """NaN, +inf, -inf, 1e30, +-1e30 at the Nyquist rate, and 1e30-scaled noise."""
    n = int(16000 * seconds_each)
    rng = np.random.default_rng(3)
    return np.concatenate([
        np.full(n, np.nan), np.full(n, np.inf), np.full(n, -np.inf), np.full(n, 1e30),
        np.tile([1e30, -1e30], n // 2), rng.standard_normal(n) * 1e30,
    ]).astype(np.float32)


def test_non_finite_and_absurd_float_pcm_before_speech_yields_only_the_speech(
    server: ServerProcess,
) -> None:
    junk = _f32_junk()
    junk_s = len(junk) / 16000
    speech16 = np.frombuffer(speech_pcm(1), "<i2").astype(np.float32) / 32768

    async def run() -> Speaker:
        sp = Speaker(server.ws)
        ready = await sp.start(audio={"encoding": "pcm_f32le", "sample_rate": 16000,
                                      "channels": 1})
        assert ready["type"] == "ready", ready
        audio = np.concatenate([junk, speech16]).astype("<f4").tobytes()
        await sp.send_pcm(audio, frame=6400, realtime=1.0)
        await sp.stop()
        return sp

    sp = asyncio.run(run())
    finals_ = sp.finals()
    assert not sp.of("error") and sp.of("end")[0]["reason"] == "stop"
    assert finals_, "the speech after the junk was not heard"
    # No final from the junk: each one starts where the speech does, or later.
    assert min(f["start"] for f in finals_) >= junk_s - 0.3, finals_
    heard = " ".join(f["text"] for f in finals_)
    # Garbage clipped to full scale (as it was) cost the speech its first word ("Mr.
    # John Dashwood..."): as silence it costs nothing.
    assert words(heard)[:3] == ["and", "mr", "john"], heard
    assert heard_opening(heard) and heard_share(heard) >= 0.8, heard
    reference = words(librivox_text(librivox_files()[0]))
    assert len(words(heard)) <= len(reference) + 2, heard


def _webm_head() -> bytes:
    """A WebM header as MediaRecorder writes it: EBML, Segment and Cluster of unknown
    size, one Opus track."""
    def element(eid: bytes, body: bytes) -> bytes:
        return eid + bytes([0x80 | len(body)]) + body if len(body) < 127 else \
            eid + (0x4000 | len(body)).to_bytes(2, "big") + body

    unknown = b"\x01\xff\xff\xff\xff\xff\xff\xff"
    opus_head = b"OpusHead" + bytes([1, 1]) + (312).to_bytes(2, "little") \
        + (48000).to_bytes(4, "little") + b"\x00\x00\x00"
    track = element(b"\xae", element(b"\xd7", b"\x01") + element(b"\x83", b"\x02")
                    + element(b"\x86", b"A_OPUS") + element(b"\x63\xa2", opus_head))
    return (element(b"\x1a\x45\xdf\xa3", element(b"\x42\x82", b"webm"))
            + b"\x18\x53\x80\x67" + unknown + element(b"\x16\x54\xae\x6b", track)
            + b"\x1f\x43\xb6\x75" + unknown)


def test_webm_garbage_after_a_valid_header_is_bad_audio_at_once(server: ServerProcess) -> None:
    """Used to be skipped as unknown elements, frame after frame, with no error."""
    rng = np.random.default_rng(11)

    async def run() -> tuple[Speaker, float]:
        sp = Speaker(server.ws)
        assert (await sp.start(audio={"encoding": "webm"}))["type"] == "ready"
        await sp.ws.send(_webm_head())  # type: ignore[union-attr]
        t0 = time.monotonic()
        for _ in range(100):  # 10 s of 4 KiB frames at 10 a second, unless closed
            try:
                await sp.ws.send(rng.bytes(4096))  # type: ignore[union-attr]
            except ConnectionClosed:
                break
            if sp.closed:
                break
            await asyncio.sleep(0.1)
        await sp.wait_closed(10)
        return sp, time.monotonic() - t0

    sp, took = asyncio.run(run())
    error = sp.of("error")[0]
    assert error["code"] == "bad_audio" and error["fatal"] is True, error
    assert (sp.close_code, sp.close_reason) == (1008, "bad_audio")
    assert took < 2.0
