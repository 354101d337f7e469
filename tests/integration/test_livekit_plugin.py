"""The LiveKit Agents STT plugin against a real Parley server, fed LiveKit's own audio frames.

Real English speech (the librivox stream of test_stream_english.py) is cut into 20 ms
`rtc.AudioFrame`s at 48 kHz, pushed at real-time pace into the plugin's `SpeechStream`,
and the framework's `SpeechEvent`s are held against the reference and against Parley's own
protocol on the same audio.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soxr
from livekit import rtc
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError, stt

from benchmarks.data import Stream, build_stream, dutch_clips, english_clips, wer
from clients.livekit.parley_livekit import STT, Translation
from tests.integration.conftest import ServerProcess, free_port, parley_serve
from tests.integration.streaming_client import stream_pcm

TOKEN = "livekit-plugin-secret-01"
RATE = 48000
FRAME = RATE // 50  # 20 ms


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve(
        "--asr-model", "tiny.en", "--no-mt", tmp=tmp_path_factory.mktemp("livekit"),
        env={"PARLEY_TOKENS": f"speak:{TOKEN}", "PARLEY_TOKENS_FILE": ""},
    ) as srv:
        yield srv


@cache
def librivox_stream() -> Stream:
    clips = [c for c in english_clips() if c.id.startswith("librivox/")]
    assert len(clips) == 5
    return build_stream(clips, pause_s=0.8, name="it-librivox")


def frames(audio16k: np.ndarray, *, channels: int = 1, tail_s: float = 1.0) -> list[rtc.AudioFrame]:
    """16 kHz float speech as LiveKit's 20 ms int16 frames at 48 kHz (what a room track gives)."""
    audio = np.concatenate([audio16k, np.zeros(int(tail_s * 16000), np.float32)])
    up = soxr.resample(audio, 16000, RATE)
    pcm = (np.clip(up, -1, 1) * 32767).astype(np.int16)
    pcm = pcm[: len(pcm) // FRAME * FRAME]
    out = []
    for i in range(0, len(pcm), FRAME):
        chunk = np.repeat(pcm[i:i + FRAME, None], channels, axis=1)
        out.append(rtc.AudioFrame(chunk.tobytes(), RATE, channels, FRAME))
    return out


@dataclass
class Run:
    events: list[stt.SpeechEvent] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # seconds after the first frame
    translations: list[Translation] = field(default_factory=list)

    def of(self, kind: stt.SpeechEventType) -> list[stt.SpeechEvent]:
        return [e for e in self.events if e.type == kind]

    def final_text(self) -> str:
        finals = self.of(stt.SpeechEventType.FINAL_TRANSCRIPT)
        return " ".join(e.alternatives[0].text for e in finals)


async def run_stream(plugin: STT, pushed: list[rtc.AudioFrame], *, pace: float = 1.0,
                     options: APIConnectOptions | None = None) -> Run:
    """Push `pushed` at `pace` x real time, end the input, collect every event."""
    out = Run()
    plugin.on("translation", out.translations.append)
    stream = plugin.stream(conn_options=options) if options else plugin.stream()
    t0 = time.monotonic()

    async def push() -> None:
        for i, frame in enumerate(pushed):
            stream.push_frame(frame)
            due = t0 + (i + 1) * frame.duration / pace
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
        stream.end_input()

    pusher = asyncio.create_task(push())
    try:
        async with asyncio.timeout(180):
            async for event in stream:
                out.events.append(event)
                out.times.append(time.monotonic() - t0)
        await pusher
    finally:
        pusher.cancel()
        await stream.aclose()
        plugin.off("translation", out.translations.append)
    return out


@cache
def plugin_run(url: str) -> Run:
    async def go() -> Run:
        return await run_stream(STT(url=url, token=TOKEN, language="en"),
                                frames(librivox_stream().audio))
    return asyncio.run(go())


@cache
def native_text(url: str) -> str:
    got = asyncio.run(stream_pcm(url, librivox_stream().audio, realtime=1.0,
                                 extra={"token": TOKEN}))
    return got.final_text()


def test_streamed_frames_come_back_as_interim_then_final_words(server: ServerProcess) -> None:
    run = plugin_run(server.ws)
    kinds = [e.type for e in run.events]
    T = stt.SpeechEventType
    interims, finals = run.of(T.INTERIM_TRANSCRIPT), run.of(T.FINAL_TRANSCRIPT)
    assert len(finals) >= 3 and interims
    first_interim = kinds.index(T.INTERIM_TRANSCRIPT)
    assert kinds.index(T.START_OF_SPEECH) < first_interim < kinds.index(T.FINAL_TRANSCRIPT)
    # START/END alternate; every final lies inside one speech and follows an interim of it.
    open_speech, seen_interim = False, False
    for kind in kinds:
        if kind == T.START_OF_SPEECH:
            assert not open_speech
            open_speech, seen_interim = True, False
        elif kind == T.END_OF_SPEECH:
            assert open_speech
            open_speech = False
        elif kind == T.INTERIM_TRANSCRIPT:
            assert open_speech
            seen_interim = True
        elif kind == T.FINAL_TRANSCRIPT:
            assert open_speech and seen_interim
    assert not open_speech and kinds[-1] in (T.END_OF_SPEECH, T.RECOGNITION_USAGE)
    for event in finals:
        data = event.alternatives[0]
        assert data.language == "en" and event.request_id
        assert 0 < data.confidence <= 1 and data.start_time < data.end_time
        assert data.words and all(w.start_time <= w.end_time for w in data.words)
    starts = [e.alternatives[0].start_time for e in finals]
    assert starts == sorted(starts) and finals[-1].alternatives[0].end_time < 31
    usage = sum(e.recognition_usage.audio_duration for e in run.of(T.RECOGNITION_USAGE)
                if e.recognition_usage)
    assert abs(usage - len(frames(librivox_stream().audio)) * 0.02) < 0.05

    ref = librivox_stream().reference
    plugin_wer = wer(ref, run.final_text())
    first_t = run.times[first_interim]
    first_end = run.events[first_interim].alternatives[0].end_time
    print(f"plugin WER {plugin_wer:.3f}; first interim {first_t:.2f} s after the first frame "
          f"(covering audio to {first_end:.2f} s)")
    assert plugin_wer < 0.25, run.final_text()  # test_stream_english.py's bound
    assert first_t < 5.0


def test_plugin_finals_match_parley_native_finals(server: ServerProcess) -> None:
    """The same audio through Parley's protocol directly: the same words within decode noise
    (two real-time runs on a shared CPU cut utterances at slightly different moments)."""
    run = plugin_run(server.ws)
    native = native_text(server.ws)
    apart = wer(native, run.final_text())
    print(f"plugin vs native WER {apart:.3f}; native vs reference "
          f"{wer(librivox_stream().reference, native):.3f}")
    assert apart <= 0.12, (native, run.final_text())


def test_recognize_takes_a_stereo_buffer(server: ServerProcess) -> None:
    """Non-streaming `recognize` on 48 kHz stereo frames: one FINAL_TRANSCRIPT of the clip."""
    clip = next(c for c in english_clips() if c.id.startswith("librivox/"))
    audio = build_stream([clip], pause_s=0.0, name="it-livekit-one").audio

    async def go() -> stt.SpeechEvent:
        return await STT(url=server.ws, token=TOKEN).recognize(frames(audio, channels=2))

    event = asyncio.run(go())
    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    text = event.alternatives[0].text
    assert wer(clip.text, text) < 0.3, text


def test_bad_token_is_an_api_status_error_not_retried(server: ServerProcess) -> None:
    async def go() -> None:
        plugin = STT(url=server.ws, token="not-the-token")
        errors: list[stt.STTError] = []
        plugin.on("error", errors.append)
        t0 = time.monotonic()
        with pytest.raises(APIStatusError) as info:
            await run_stream(plugin, frames(np.zeros(8000, np.float32), tail_s=0), pace=4)
        assert info.value.status_code == 401 and not info.value.retryable
        assert "unauthorized" in str(info.value)
        assert time.monotonic() - t0 < 10  # refused at once, no retry loop
        assert len(errors) == 1 and not errors[0].recoverable

    asyncio.run(go())


def test_no_server_is_a_connection_error_after_retries() -> None:
    async def go() -> None:
        plugin = STT(url=f"ws://127.0.0.1:{free_port()}")
        errors: list[stt.STTError] = []
        plugin.on("error", errors.append)
        stream = plugin.stream(conn_options=APIConnectOptions(max_retry=1, retry_interval=0.1,
                                                              timeout=5))
        for frame in frames(np.zeros(1600, np.float32), tail_s=0):
            stream.push_frame(frame)
        with pytest.raises(APIConnectionError) as info:
            async with asyncio.timeout(30):
                async for _ in stream:
                    pass
        await stream.aclose()
        assert isinstance(info.value.__cause__, APIConnectionError)
        assert "Parley: cannot connect to ws://127.0.0.1" in info.value.__cause__.message
        assert [e.recoverable for e in errors] == [True, False]

    asyncio.run(go())


def test_translations_come_as_translation_events(base_server: ServerProcess) -> None:
    """Dutch speech, English asked for (Whisper's translate task on `base`)."""
    clips = dutch_clips(fetch=False)[:3]
    stream = build_stream(clips, pause_s=1.0, name="it-dutch-3")

    async def go() -> Run:
        plugin = STT(url=base_server.ws, language="nl", target_languages=["en"])
        return await run_stream(plugin, frames(stream.audio), pace=2.0)

    run = asyncio.run(go())
    finals = run.of(stt.SpeechEventType.FINAL_TRANSCRIPT)
    assert finals and all(e.alternatives[0].language == "nl" for e in finals)
    final_translations = [t for t in run.translations if t.final]
    assert final_translations and all(t.language == "en" for t in final_translations)
    request_ids = {e.request_id for e in finals}
    assert {t.request_id for t in final_translations} == request_ids
    covered = sorted(s for t in final_translations for s in t.source_segments)
    assert covered == list(range(len(finals)))
    english = " ".join(t.text for t in final_translations).lower()
    assert len(set(english.replace(".", " ").split()) & {"the", "is", "a", "to", "and", "of",
                                                          "it", "that", "you", "i"}) >= 2, english


def test_a_restarted_server_is_reconnected_and_the_words_go_on(tmp_path: Path) -> None:
    """The server stops mid-speech (SIGTERM: its finals, `end`, close 1001) and comes back on
    the same port: the stream retries into a new session, which is sent the audio the old one
    had not made final and then what was pushed meanwhile; the words go on, once each, on
    one timeline."""
    port = free_port()
    env = {"PARLEY_TOKENS": f"speak:{TOKEN}", "PARLEY_TOKENS_FILE": ""}
    args = ("--asr-model", "tiny.en", "--no-mt")

    def stream_in_thread() -> Run:
        async def go() -> Run:
            plugin = STT(url=f"ws://127.0.0.1:{port}", token=TOKEN)
            errors: list[stt.STTError] = []
            plugin.on("error", errors.append)
            options = APIConnectOptions(max_retry=30, retry_interval=0.5, timeout=5)
            run = await run_stream(plugin, frames(librivox_stream().audio), options=options)
            assert errors and all(e.recoverable for e in errors)
            return run
        return asyncio.run(go())

    with ThreadPoolExecutor(1) as pool:
        with parley_serve(*args, tmp=tmp_path, port=port, env=env):
            worker = pool.submit(stream_in_thread)
            time.sleep(12)  # about five sentences of speech
        with parley_serve(*args, tmp=tmp_path, port=port, env=env):
            run = worker.result(180)
    finals = run.of(stt.SpeechEventType.FINAL_TRANSCRIPT)
    assert len({e.request_id for e in finals}) == 2  # one session on each server
    starts = [e.alternatives[0].start_time for e in finals]
    assert starts == sorted(starts)
    got = wer(librivox_stream().reference, run.final_text())
    print(f"WER across the restart {got:.3f}")
    # 2.8-4.2% in three runs, as without the restart; a lost sentence (what the stopping
    # server had not made final) was 21%.
    assert got < 0.15, run.final_text()
