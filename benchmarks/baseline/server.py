"""The baseline as a WebSocket server speaking a subset of Parley's protocol v1.

One faster-whisper model and one worker thread per client, as the common peer
servers do (whisper_streaming's server, WhisperLive's faster-whisper backend):
the model is loaded (and warmed up with 1 s of silence) when a client starts,
before `ready` is sent. The worker thread runs the whisper_streaming loop
(`online.OnlineProcessor`): wait until `min_chunk_s` of new audio is there (or
take everything that came while the last iteration ran), re-transcribe the
buffer, send what got committed.

Protocol subset: `start` (pcm_s16le, 16 kHz, mono only), binary audio,
`stop`. Events: `ready`; `transcript` finals, one per committed chunk (what
whisper_streaming's server prints as one line; `stable` = `text`, words with
times); `transcript` partials carrying the uncommitted tail (`stable` empty);
`translation` finals mirroring the committed chunks when the task is
Whisper's `translate` (target "en" from another language); `metrics` per
iteration; `error`; `end`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from benchmarks.baseline.online import (
    SAMPLE_RATE,
    Hypothesis,
    IterResult,
    OnlineProcessor,
    TimedWord,
)
from server.session.latency import ArrivalClock

log = logging.getLogger(__name__)

Event = dict[str, Any]


@dataclass(frozen=True)
class BaselineOptions:
    """Defaults are whisper_streaming's (whisper_online.py / FasterWhisperASR)."""

    model_path: str
    model_name: str
    multilingual: bool
    compute_type: str = "int8"  # their CPU setting ("run on CPU with INT8")
    cpu_threads: int = 0  # faster-whisper's default
    beam_size: int = 5  # FasterWhisperASR.transcribe: beam_size=5
    min_chunk_s: float = 1.0  # --min-chunk-size default
    trim_s: float = 15.0  # --buffer_trimming segment, --buffer_trimming_sec 15


@dataclass
class _Feed:
    """Audio handed from the event loop to the worker thread."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    chunks: list[npt.NDArray[np.float32]] = field(default_factory=list)
    samples: int = 0
    stopped: bool = False  # the client sent stop: process what is left, then finish
    aborted: bool = False  # the client is gone: end the thread at once

    def put(self, samples: npt.NDArray[np.float32]) -> None:
        with self.cond:
            self.chunks.append(samples)
            self.samples += samples.size
            self.cond.notify()

    def take(self, min_samples: int) -> npt.NDArray[np.float32] | None:
        """Everything queued once there are `min_samples` (or at stop); None: nothing more."""
        with self.cond:
            while self.samples < min_samples and not self.stopped and not self.aborted:
                self.cond.wait()
            if self.aborted or (self.stopped and self.samples == 0):
                return None
            out = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
            self.chunks.clear()
            self.samples = 0
            return out

    def end(self, *, abort: bool) -> None:
        with self.cond:
            if abort:
                self.aborted = True
            else:
                self.stopped = True
            self.cond.notify()


def recognize(model: Any, audio: npt.NDArray[np.float32], prompt: str, language: str | None,
              task: str, beam_size: int) -> Hypothesis:
    """One whisper_streaming recognizer call (FasterWhisperASR.transcribe's settings)."""
    segments, _info = model.transcribe(
        audio,
        language=language,
        task=task,
        initial_prompt=prompt,
        beam_size=beam_size,
        word_timestamps=True,
        condition_on_previous_text=True,
    )
    segs = list(segments)
    words = [TimedWord(w.start, w.end, w.word) for s in segs for w in (s.words or [])]
    return Hypothesis(words=words, segment_ends=[s.end for s in segs])


def load_model(opts: BaselineOptions) -> Any:
    from faster_whisper import WhisperModel

    model = WhisperModel(
        opts.model_path, device="cpu", compute_type=opts.compute_type, cpu_threads=opts.cpu_threads
    )
    return model


class _Client:
    def __init__(
        self,
        opts: BaselineOptions,
        loop: asyncio.AbstractEventLoop,
        out: asyncio.Queue[Event | None],
        language: str | None,
        task: str,
    ) -> None:
        self.opts = opts
        self.loop = loop
        self.out = out
        self.language = language
        self.task = task
        self.feed = _Feed()
        self.clock = ArrivalClock()
        self.samples_in = 0
        self.seq = 0
        self.segment = 0
        self.words = 0
        self.model: Any = None
        self._asr_s = 0.0  # wall time of the last recognizer call (worker thread)
        self.done = asyncio.Event()
        self._last_partial = ""

    # -- event loop side ----------------------------------------------------------
    def emit(self, event: Event) -> None:
        """Thread-safe: stamp `seq` and queue for the writer."""
        self.loop.call_soon_threadsafe(self.emit_now, event)

    def emit_now(self, event: Event) -> None:
        self.seq += 1
        self.out.put_nowait({**event, "seq": self.seq})

    def on_audio(self, data: bytes, arrival: float) -> None:
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
        samples = (pcm.astype(np.float32) / 32768.0).astype(np.float32)
        self.samples_in += samples.size
        self.clock.record(self.samples_in, arrival)
        self.feed.put(samples)

    # -- worker thread --------------------------------------------------------------
    def load(self) -> None:
        self.model = load_model(self.opts)
        self._recognize(np.zeros(SAMPLE_RATE, dtype=np.float32), "")  # warm-up, as they do

    def _recognize(self, audio: npt.NDArray[np.float32], prompt: str) -> Hypothesis:
        return recognize(self.model, audio, prompt, self.language, self.task,
                         self.opts.beam_size)

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # report, never kill the server
            log.exception("baseline worker failed")
            self.emit({"type": "error", "code": "model_error", "message": str(exc), "fatal": True})
        finally:
            self.loop.call_soon_threadsafe(self.done.set)

    def _run(self) -> None:
        proc = OnlineProcessor(self._timed_recognize, trim_s=self.opts.trim_s)
        min_samples = int(self.opts.min_chunk_s * SAMPLE_RATE)
        request = 0
        while True:
            chunk = self.feed.take(min_samples)
            if chunk is None:
                break
            proc.insert_audio(chunk)
            request += 1
            result = proc.process_iter()
            self._send_iteration(request, proc, result)
        if self.feed.aborted:
            return
        tail = proc.finish()
        if tail:
            self._send_final(tail, reason="stop")

    def _timed_recognize(self, audio: npt.NDArray[np.float32], prompt: str) -> Hypothesis:
        t0 = time.perf_counter()
        hyp = self._recognize(audio, prompt)
        self._asr_s = time.perf_counter() - t0
        return hyp

    def _send_iteration(self, request: int, proc: OnlineProcessor, result: IterResult) -> None:
        stream_s = self.samples_in / SAMPLE_RATE
        self.emit({
            "type": "metrics",
            "request": request,
            "final": False,
            "audio_s": round(proc.offset + proc.buffer_s, 3),
            "window_s": round(result.audio_s, 3),
            "backlog_s": round(max(0.0, stream_s - proc.offset - proc.buffer_s), 3),
            "queue_ms": 0.0,
            "asr_ms": round(self._asr_s * 1000, 1),
            "rtf": round(self._asr_s / result.audio_s, 3) if result.audio_s else None,
        })
        if result.committed:
            self._send_final(result.committed, reason="endpoint")
        tail_text = "".join(w.text for w in result.tail).strip()
        if tail_text != self._last_partial:
            self._last_partial = tail_text
            start = result.tail[0].start if result.tail else proc.offset
            end = result.tail[-1].end if result.tail else proc.offset
            self.emit({
                "type": "transcript",
                "final": False,
                "segment": self.segment,
                "text": tail_text,
                "stable": "",
                "unstable": tail_text,
                "start": round(start, 3),
                "end": round(end, 3),
                "language": self.language,
                **self._timing(end),
            })

    def _send_final(self, words: list[TimedWord], reason: str) -> None:
        text = "".join(w.text for w in words).strip()
        start, end = words[0].start, words[-1].end
        self.words += len(words)
        self.emit({
            "type": "transcript",
            "final": True,
            "segment": self.segment,
            "text": text,
            "stable": text,
            "unstable": "",
            "start": round(start, 3),
            "end": round(end, 3),
            "language": "en" if self.task == "translate" else self.language,
            "reason": reason,
            "words": [
                {"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
                for w in words
            ],
            **self._timing(end),
        })
        if self.task == "translate":
            self.emit({
                "type": "translation",
                "final": True,
                "lang": "en",
                "segment": self.segment,
                "text": text,
                "source_segments": [self.segment],
                "source_text": "",
                "start": round(start, 3),
                "end": round(end, 3),
                "via": "whisper",
                **self._timing(end),
            })
        self.segment += 1
        self._last_partial = ""

    def _timing(self, end_s: float) -> dict[str, Any]:
        arrival = self.clock.arrival_of(end_s)
        latency = None if arrival is None else round(max(0.0, time.monotonic() - arrival) * 1000, 1)
        return {"latency_ms": latency}


class BaselineServer:
    def __init__(self, opts: BaselineOptions) -> None:
        self.opts = opts
        self.active = 0

    async def handler(self, conn: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[Event | None] = asyncio.Queue()
        writer = asyncio.create_task(self._write(conn, out))
        client: _Client | None = None
        thread: threading.Thread | None = None
        started = time.monotonic()
        self.active += 1
        try:
            async for message in conn:
                arrival = time.monotonic()
                if isinstance(message, bytes):
                    if client is None:
                        await self._fail(out, "not_started", "audio before start")
                        return
                    client.on_audio(message, arrival)
                    continue
                msg = json.loads(message)
                kind = msg.get("type")
                if kind == "start" and client is None:
                    client = await self._start(msg, loop, out)
                    if client is None:
                        return
                    thread = threading.Thread(target=client.run, name="baseline-client", daemon=True)
                    thread.start()
                elif kind == "stop" and client is not None:
                    client.feed.end(abort=False)
                    await client.done.wait()
                    client.emit_now({
                        "type": "end",
                        "reason": "stop",
                        "segments": client.segment,
                        "words": client.words,
                        "audio_s": round(client.samples_in / SAMPLE_RATE, 3),
                        "duration_s": round(time.monotonic() - started, 3),
                    })
                    return
                elif kind == "flush":
                    continue  # whisper_streaming has no utterance end: ignored
                else:
                    await self._fail(out, "bad_message", f"unexpected message {kind!r}")
                    return
        except ConnectionClosed:
            pass
        finally:
            self.active -= 1
            if client is not None:
                client.feed.end(abort=True)
            out.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer
            with contextlib.suppress(Exception):
                await conn.close(1000, "done")

    async def _start(
        self, msg: dict[str, Any], loop: asyncio.AbstractEventLoop, out: asyncio.Queue[Event | None]
    ) -> _Client | None:
        audio = msg.get("audio") or {}
        if (audio.get("encoding"), audio.get("sample_rate"), audio.get("channels", 1)) != (
            "pcm_s16le", SAMPLE_RATE, 1
        ):
            await self._fail(out, "bad_audio_format", "the baseline takes pcm_s16le 16 kHz mono")
            return None
        language = msg.get("source_language")
        targets = list(msg.get("target_languages") or [])
        task = "transcribe"
        if not self.opts.multilingual:
            language = "en"
        elif "en" in targets and language != "en":
            task = "translate"
        client = _Client(self.opts, loop, out, language, task)
        await asyncio.to_thread(client.load)
        client.emit_now({
            "type": "ready",
            "protocol": 1,
            "session_id": uuid.uuid4().hex[:16],
            "models": {"asr": {"name": self.opts.model_name, "multilingual": self.opts.multilingual},
                       "mt": []},
            "audio": audio,
            "source_language": language,
            "target_languages": targets,
            "translation": {"en": "whisper"} if task == "translate" else {},
            "baseline": {
                "design": "whisper_streaming OnlineASRProcessor, one model+thread per client",
                "beam_size": self.opts.beam_size,
                "min_chunk_s": self.opts.min_chunk_s,
                "trim_s": self.opts.trim_s,
                "task": task,
            },
        })
        return client

    async def _fail(self, out: asyncio.Queue[Event | None], code: str, message: str) -> None:
        out.put_nowait({"type": "error", "code": code, "message": message, "fatal": True, "seq": 0})

    async def _write(self, conn: ServerConnection, out: asyncio.Queue[Event | None]) -> None:
        while True:
            event = await out.get()
            if event is None:
                return
            try:
                await conn.send(json.dumps(event, ensure_ascii=False))
            except ConnectionClosed:
                return


async def serve_forever(opts: BaselineOptions, host: str, port: int, stop: asyncio.Event) -> None:
    server = BaselineServer(opts)
    async with serve(server.handler, host, port, max_size=1 << 20) as ws:
        bound = ws.sockets[0].getsockname()[1] if ws.sockets else port
        print(f"baseline: serving on ws://{host}:{bound}/v1/stream", flush=True)
        await stop.wait()
