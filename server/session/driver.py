"""One speaker session: audio in, events out.

The session owns the per-connection pipeline (decoder -> VAD -> policy, and one
incremental translation per target language) and talks to the shared
schedulers. It runs on the event loop; model calls happen in the schedulers'
worker threads. It never touches a socket: events go to `emit`, which the
gateway wires to an `Outbox` (and rooms to their subscribers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.audio.decode import AudioDecoder, AudioSpec, make_decoder
from server.errors import ModelError, ParleyError
from server.mt.routes import WhisperTranslate, english_leg
from server.protocol.events import error_of
from server.protocol.messages import Event, Sequencer, StartMessage
from server.services import Services
from server.session.latency import ArrivalClock
from server.session.translations import TranslationEvent, TranslationPlan, Translations
from server.streaming.events import AsrRequest, AsrResult, Decoded, Final, Partial
from server.streaming.policy import SAMPLE_RATE, StreamingTranscriber, latency_options

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Stage:
    queue_s: float
    asr_s: float
    window_s: float


class Session:
    def __init__(
        self,
        session_id: str,
        start: StartMessage,
        services: Services,
        emit: Callable[[Event], None],
        plan: TranslationPlan,
        seq: Sequencer | None = None,
    ) -> None:
        self.id = session_id
        self.start = start
        self.services = services
        self._emit_raw = emit
        self.seq = seq or Sequencer()
        self._decoder: AudioDecoder = make_decoder(start.audio)
        self.latency = start.latency or services.config.latency
        self.policy = StreamingTranscriber(
            services.new_vad(),
            latency_options(self.latency, services.config.policy),
            language=start.source_language,
        )
        self._clock = ArrivalClock()
        self._samples = 0
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()
        self._capacity = asyncio.Event()
        self._capacity.set()
        self._started_at = time.monotonic()
        self._finals = 0
        self._words = 0
        self._last_stage = _Stage(0.0, 0.0, 0.0)
        # Whisper's translate task re-reads final segments' audio; a room may add
        # such a target later (a listener's language), so rooms keep audio too.
        keep_audio = any(
            isinstance(english_leg(route), WhisperTranslate) for route in plan.routes.values()
        ) or (
            start.room is not None and services.asr_info.can_translate_to_english
        )
        self._ring = AudioRing(seconds=120.0 if keep_audio else 0.0)
        self.translations = Translations(
            services, plan, self._translation_event, self._error, self._ring.slice
        )
        self.closed = False
        self.failed = False

    # -- inputs from the gateway ---------------------------------------------

    def ready_event(self) -> Event:
        svc = self.services
        return self._stamp(
            {
                "type": "ready",
                "protocol": 1,
                "session_id": self.id,
                "models": svc.describe_models(),
                "audio": {
                    "encoding": self.start.audio.encoding,
                    "sample_rate": self.start.audio.sample_rate,
                    "channels": self.start.audio.channels,
                },
                "source_language": self.start.source_language,
                "target_languages": list(self.start.target_languages),
                "translation": self.translations.describe(),
                "routes": self.translations.describe_routes(),
                "room": self.start.room,
                "latency": self.latency,
                "limits": svc.config.limits_dict(),
            }
        )

    def on_audio(self, data: bytes, arrival: float) -> None:
        samples = self._decoder.feed(data)
        self._take(samples, arrival)

    def flush(self) -> None:
        self.policy.flush(time.monotonic())
        self._pump()

    @property
    def audio_s(self) -> float:
        """Stream seconds received so far (16 kHz samples after decoding)."""
        return self._samples / SAMPLE_RATE

    def continue_audio(self, spec: AudioSpec) -> None:
        """A resumed connection announced its audio (issue 8, resume).

        PCM in the session's own format continues the same byte stream (the decoder
        keeps a half-received sample). Anything else (a browser's new MediaRecorder
        stream, another rate) starts a new decoder once the old one's tail is decoded.
        """
        if spec == self.start.audio and not spec.is_container:
            return
        self._take(self._decoder.flush(), time.monotonic())
        self._decoder = make_decoder(spec)

    async def stop(self, reason: str = "stop") -> None:
        """Finish: every pending final (and its translation) is emitted, then `end`.

        `reason` goes into `end`: "stop" (the client asked), or why the server ended
        the session ("shutdown", "expired", "disconnected", "session_too_long", ...).
        """
        if not self.policy.done:
            tail = self._decoder.flush()
            self._take(tail, time.monotonic())
            self.policy.close(time.monotonic())
            self._pump()
            await self._done.wait()
        await self.translations.close()
        self._emit(
            {
                "type": "end",
                "reason": reason,
                "segments": self._finals,
                "words": self._words,
                "audio_s": round(self._samples / SAMPLE_RATE, 3),
                "duration_s": round(time.monotonic() - self._started_at, 3),
            }
        )
        self.closed = True

    async def wait_capacity(self) -> None:
        """Backpressure: the gateway waits here before reading more audio."""
        await self._capacity.wait()

    def abort(self) -> None:
        """The connection is gone: stop work (nothing more can be delivered)."""
        self.closed = True
        if self._task is not None:
            self._task.cancel()
        self.translations.abort()

    # -- the pipeline ---------------------------------------------------------

    def _take(self, samples: np.ndarray, arrival: float) -> None:
        if samples.size:
            self._samples += samples.size
            self._clock.record(self._samples, arrival)
            self._ring.append(samples)
            self.policy.feed(samples, arrival)
        self._pump()

    def _pump(self) -> None:
        if self._task is None or self._task.done():
            self.policy.decode_interval_s = self.services.decode_interval(
                self.policy.opts.decode_interval_s)
            req = self.policy.next_request(time.monotonic())
            if req is not None:
                self._task = asyncio.create_task(self._decode(req), name=f"decode-{self.id}")
        self._dispatch()
        self._update_capacity()
        if self.policy.done and (self._task is None or self._task.done()):
            self._done.set()

    def _update_capacity(self) -> None:
        limits = self.services.config.backlog
        backlog = self.policy.backlog_s
        idle = self._task is None or self._task.done()
        # Invariant: never hold the reader back while no decode is in flight; only
        # more audio (or a flush) can move an idle pipeline, so waiting would deadlock.
        if idle or backlog <= limits.low_s:
            self._capacity.set()
        elif backlog >= limits.high_s:
            self._capacity.clear()

    async def _decode(self, req: AsrRequest) -> None:
        try:
            timed = await self.services.asr.transcribe(req)
            result = timed.decode.result
            self._last_stage = _Stage(timed.queue_s, timed.asr_s, req.end_s - req.start_s)
        except ModelError as exc:
            self._error(exc)
            result = AsrResult(words=[], language=None)
        if self.closed:
            return
        try:
            self.policy.on_result(req, result, time.monotonic())
            self._task = None
            self._pump()
        except Exception:
            # A bug or an overflowing consumer must not leave the session stuck with
            # its reader blocked on backpressure and `stop` waiting forever.
            log.exception("session %s: pipeline failed", self.id)
            self._task = None
            self.failed = True
            self._capacity.set()
            self._done.set()

    def _dispatch(self) -> None:
        for ev in self.policy.events():
            if isinstance(ev, Final):
                self._on_final(ev)
            elif isinstance(ev, Partial):
                self._on_partial(ev)
            elif isinstance(ev, Decoded):
                self._on_decoded(ev)

    # -- events -----------------------------------------------------------

    def _latency(self, end_s: float, emit_time: float) -> float | None:
        arrival = self._clock.arrival_of(end_s)
        return None if arrival is None else round(max(0.0, emit_time - arrival) * 1000, 1)

    def _stage_fields(self) -> dict[str, Any]:
        st = self._last_stage
        return {
            "queue_ms": round(st.queue_s * 1000, 1),
            "asr_ms": round(st.asr_s * 1000, 1),
        }

    def _on_partial(self, ev: Partial) -> None:
        if self.start.partials:
            self._emit(
                {
                    "type": "transcript",
                    "final": False,
                    "segment": ev.segment,
                    "text": ev.text,
                    "stable": ev.stable,
                    "unstable": ev.unstable,
                    "start": round(ev.start, 3),
                    "end": round(ev.end, 3),
                    "language": self.policy.language,
                    **self._timing(ev.end),
                }
            )
        self.translations.on_partial(ev, self.policy.language, self._audio_arrival(ev.end))

    def _on_final(self, ev: Final) -> None:
        self._finals += 1
        self._words += len(ev.words)
        self._emit(
            {
                "type": "transcript",
                "final": True,
                "segment": ev.segment,
                "text": ev.text,
                "stable": ev.text,
                "unstable": "",
                "start": round(ev.start, 3),
                "end": round(ev.end, 3),
                "language": ev.language,
                "reason": ev.reason,
                "words": [
                    {
                        "word": w.text.strip(),
                        "start": round(w.start, 3),
                        "end": round(w.end, 3),
                        "probability": round(w.probability, 3),
                    }
                    for w in ev.words
                ],
                **self._timing(ev.end),
            }
        )
        self.translations.on_final(ev, self._audio_arrival(ev.end))

    def _on_decoded(self, ev: Decoded) -> None:
        st = self._last_stage
        self._emit(
            {
                "type": "metrics",
                "request": ev.request_id,
                "final": ev.final,
                "audio_s": round(self.policy.stream_time, 3),
                "window_s": round(ev.audio_s, 3),
                "backlog_s": round(self.policy.backlog_s, 3),
                "queue_ms": round(st.queue_s * 1000, 1),
                "asr_ms": round(st.asr_s * 1000, 1),
                "rtf": round(st.asr_s / ev.audio_s, 3) if ev.audio_s > 0 else None,
            }
        )

    def _timing(self, end_s: float) -> dict[str, Any]:
        return {"latency_ms": self._latency(end_s, time.monotonic()), **self._stage_fields()}

    def _audio_arrival(self, end_s: float) -> float | None:
        return self._clock.arrival_of(end_s)

    def _translation_event(self, ev: TranslationEvent) -> None:
        now = time.monotonic()
        latency = None if ev.arrival is None else round(max(0.0, now - ev.arrival) * 1000, 1)
        self._emit(
            {
                "type": "translation",
                "final": ev.final,
                "lang": ev.target,
                "segment": ev.segment,
                "text": ev.text,
                "stable": ev.stable,
                "source_segments": list(ev.source_segments),
                "source_text": ev.source_text,
                "start": round(ev.start, 3),
                "end": round(ev.end, 3),
                "via": ev.via,
                **({} if ev.pivot_text is None else {"pivot_text": ev.pivot_text}),
                "latency_ms": latency,
                "mt_ms": round(ev.mt_s * 1000, 1),
                **self._stage_fields(),
            }
        )

    def _error(self, exc: ParleyError) -> None:
        self._emit(error_event(exc))

    def _emit(self, event: Event) -> None:
        if not self.closed:
            self._emit_raw(self._stamp(event))

    def _stamp(self, event: Event) -> Event:
        return self.seq.stamp(event)


class AudioRing:
    """The last `seconds` of a session's audio, for Whisper's translate task."""

    def __init__(self, seconds: float) -> None:
        self._keep = int(seconds * SAMPLE_RATE)
        self._buf = np.zeros(0, dtype=np.float32)
        self._start = 0

    def append(self, samples: np.ndarray) -> None:
        if self._keep <= 0:
            return
        self._buf = np.concatenate([self._buf, samples])
        extra = self._buf.size - self._keep
        if extra > SAMPLE_RATE:  # trim in steps, not on every frame
            self._buf = self._buf[extra:]
            self._start += extra

    def slice(self, start_s: float, end_s: float) -> np.ndarray:
        pad = int(0.2 * SAMPLE_RATE)
        lo = max(int(start_s * SAMPLE_RATE) - pad - self._start, 0)
        hi = max(int(end_s * SAMPLE_RATE) + pad - self._start, 0)
        return self._buf[lo:hi].copy()


def error_event(exc: ParleyError) -> Event:
    return error_of(exc).to_wire()
