"""One speaker session without I/O: audio and results in, requests and typed events out.

`SessionCore` owns everything a session decides: the audio decoder, the streaming
policy, the translations (`Translations`: plan, routes, incremental translators),
the audio kept for Whisper's translate task, the latency bookkeeping and the
backpressure state. It reads no clock (every input carries `now`), holds no
socket, awaits nothing and knows no scheduler: it hands out requests

    Recognize        a decode for the streaming policy (AsrRequest)
    TranslateText    a request of one incremental translator
    TranslateSpeech  Whisper's translate task on a final segment's audio

and is told their results (`recognized`, `translated`, `spoken`, or the `..._failed`
forms). Events come out typed (`server.protocol.events`), unnumbered: the driver
stamps `seq`. `server.session.driver.Session` runs it on asyncio (websockets'
protocol.py and its connection.py are the model); tests/unit/session drive it with
a fake clock and scripted results.

Call `requests(now)` and `events()` after every input; `next_deadline(now)` says
when to call `requests` again with no input (a rate-limited partial translation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

import numpy as np

from server.audio.decode import AudioDecoder, AudioSpec, make_decoder
from server.config import Backlog
from server.errors import ParleyError
from server.mt.incremental import IncrementalOptions
from server.mt.requests import TranslationResult
from server.mt.routes import Via
from server.protocol.events import (
    AudioInfo,
    End,
    Metrics,
    Ready,
    SpeakerEvent,
    Transcript,
    Translation,
    Word,
    error_of,
)
from server.protocol.messages import StartMessage
from server.session.latency import ArrivalClock
from server.session.translations import (
    Routing,
    TranslateText,
    TranslationEvent,
    TranslationPlan,
    Translations,
)
from server.streaming.events import AsrRequest, AsrResult, Decoded, Final, Partial
from server.streaming.policy import (
    SAMPLE_RATE,
    LatencyMode,
    PolicyOptions,
    StreamingTranscriber,
    Vad,
    latency_options,
)

log = logging.getLogger(__name__)

#: Audio kept for Whisper's translate task (it re-reads each final segment's audio).
TRANSLATE_AUDIO_S = 120.0


@dataclass(frozen=True)
class Recognize:
    request: AsrRequest


@dataclass(frozen=True)
class TranslateSpeech:
    """Whisper's translate task on `final`'s audio (`request`, task "translate")."""

    final: Final
    request: AsrRequest


Request = Recognize | TranslateText | TranslateSpeech


@dataclass(frozen=True)
class Stage:
    """Where the last recognition's time went: waiting for a worker, and in the model."""

    queue_s: float = 0.0
    asr_s: float = 0.0


class SessionCore:
    def __init__(
        self,
        start: StartMessage,
        now: float,
        *,
        vad: Vad,
        policy: PolicyOptions,
        latency: LatencyMode,
        plan: TranslationPlan,
        routing: Routing,
        mt_options: IncrementalOptions | None = None,
        backlog: Backlog | None = None,
        decode_interval: Callable[[float], float] | None = None,
    ) -> None:
        """`decode_interval` stretches the policy's re-decode cadence under load (base -> s)."""
        self.start = start
        self.latency = latency
        self.policy = StreamingTranscriber(
            vad, latency_options(latency, policy), language=start.source_language
        )
        self.translations = Translations(plan, routing, mt_options)
        self._decoder: AudioDecoder = make_decoder(start.audio)
        self._backlog = backlog or Backlog()
        self._decode_interval = decode_interval
        self._started = now
        self._clock = ArrivalClock()
        self._samples = 0
        self._finals = 0
        self._words = 0
        self._stage = Stage()
        self._decoding: AsrRequest | None = None
        self._accepting = True
        self._events: list[SpeakerEvent] = []
        # Whisper's translate task re-reads final segments' audio; a room may add
        # such a target later (a listener's language), so rooms keep audio too.
        keep_audio = self.translations.keeps_audio or (
            start.room is not None and routing.asr.can_translate_to_english
        )
        self._ring = AudioRing(TRANSLATE_AUDIO_S if keep_audio else 0.0)

    # -- what the session is --------------------------------------------------------

    def ready(self, session_id: str, models: Mapping[str, Any],
              limits: Mapping[str, Any]) -> Ready:
        spec = self.start.audio
        return Ready(
            session_id=session_id,
            models=models,
            audio=AudioInfo(spec.encoding, spec.sample_rate, spec.channels),
            source_language=self.start.source_language,
            target_languages=self.start.target_languages,
            translation=self.translations.describe(),
            routes=self.translations.describe_routes(),
            room=self.start.room,
            latency=self.latency,
            limits=limits,
        )

    @property
    def language(self) -> str | None:
        """The spoken language: announced, or detected (None until then)."""
        return self.policy.language

    @property
    def audio_s(self) -> float:
        """Stream seconds received so far (16 kHz samples after decoding)."""
        return self._samples / SAMPLE_RATE

    @property
    def accepting_audio(self) -> bool:
        """Backpressure: False while the undecoded backlog is over the high water mark."""
        return self._accepting

    @property
    def recognition_done(self) -> bool:
        """The audio is closed and every final of it is out."""
        return self.policy.done and self._decoding is None

    # -- inputs -----------------------------------------------------------------------

    def audio(self, data: bytes, now: float) -> None:
        """A frame of the speaker's audio arrived at `now`."""
        self._take(self._decoder.feed(data), now)

    def flush(self, now: float) -> None:
        """End the current utterance now."""
        self.policy.flush(now)
        self._after(now)

    def continue_audio(self, spec: AudioSpec, now: float) -> None:
        """A resumed connection announced its audio.

        PCM in the session's own format continues the same byte stream (the decoder
        keeps a half-received sample). Anything else (a browser's new MediaRecorder
        stream, another rate) starts a new decoder once the old one's tail is decoded.
        """
        if spec == self.start.audio and not spec.is_container:
            return
        self._take(self._decoder.flush(), now)
        self._decoder = make_decoder(spec)

    def close_audio(self, now: float) -> None:
        """No more audio: decode the decoder's tail, then every pending final."""
        if self.policy.done:
            return
        self._take(self._decoder.flush(), now)
        self.policy.close(now)
        self._after(now)

    def close_translations(self, now: float, *, pivots: bool) -> None:
        """End of stream for the translators: first those reading the transcript, then
        (once their results are in) with `pivots`, the rest."""
        self.translations.close(now, pivots=pivots)
        self._take_translations(now)

    def end(self, reason: str, now: float) -> End:
        """The session's `end` event: `reason` is "stop", or why the server ended it."""
        return End(
            reason=reason,
            segments=self._finals,
            words=self._words,
            audio_s=self._samples / SAMPLE_RATE,
            duration_s=now - self._started,
        )

    def add_target(self, target: str) -> Via:
        """Translate into `target` from now on. Raises UnsupportedError (unsupported_pair)."""
        return self.translations.add_target(target, self.policy.language)

    def remove_target(self, target: str, now: float) -> None:
        """Stop translating into `target`; its pending finals still go out."""
        self.translations.remove_target(target, now)
        self._take_translations(now)

    # -- requests out, results in -------------------------------------------------------

    def requests(self, now: float) -> list[Request]:
        out: list[Request] = []
        if self._decoding is None:
            if self._decode_interval is not None:
                self.policy.decode_interval_s = self._decode_interval(
                    self.policy.opts.decode_interval_s)
            req = self.policy.next_request(now)
            if req is not None:
                self._decoding = req
                out.append(Recognize(req))
            # An endpoint the last decode already heard is finalized right here, with no
            # decode: its Final is among the policy's events now.
            self._after(now)
        out.extend(self.translations.requests(now))
        final = self.translations.next_speech()  # one at a time, in order
        if final is not None:
            audio = self._ring.slice(final.start, final.end)
            out.append(TranslateSpeech(
                final, AsrRequest(0, audio, final.start, final.end, "", final.language, True)))
        self._update_capacity()
        return out

    def next_deadline(self, now: float) -> float | None:
        return self.translations.next_deadline(now)

    def recognized(self, req: AsrRequest, result: AsrResult, stage: Stage, now: float) -> None:
        self._stage = stage
        self._recognized(req, result, now)

    def recognition_failed(self, req: AsrRequest, error: ParleyError, now: float) -> None:
        self._events.append(error_of(error))
        self._recognized(req, AsrResult(words=[], language=None), now)

    def translated(self, req: TranslateText, result: TranslationResult, now: float) -> None:
        self.translations.on_result(req, result, now)
        self._take_translations(now)

    def translation_failed(self, req: TranslateText, error: ParleyError | None,
                           now: float) -> None:
        """`error` None: the scheduler dropped the request (not for the client)."""
        self.translations.on_failed(req, error, now)
        self._take_translations(now)

    def spoken(self, req: TranslateSpeech, result: AsrResult, asr_s: float, now: float) -> None:
        """Whisper's English for `req.final`."""
        text = " ".join(w.text.strip() for w in result.words).strip()
        self.translations.on_speech(req.final, text, asr_s, now)
        self._take_translations(now)

    def speech_failed(self, req: TranslateSpeech, error: ParleyError, now: float) -> None:
        self.translations.error(error)
        self.translations.on_speech(req.final, None, 0.0, now)
        self._take_translations(now)

    def events(self) -> list[SpeakerEvent]:
        """Events since the last call, in order, without `seq`."""
        out, self._events = self._events, []
        return out

    # -- the pipeline -------------------------------------------------------------------

    def _recognized(self, req: AsrRequest, result: AsrResult, now: float) -> None:
        if self._decoding is not req:
            raise RuntimeError(f"recognition result for request {req.id}, which is not pending")
        self._decoding = None
        self.policy.on_result(req, result, now)
        self._after(now)

    def _take(self, samples: np.ndarray, now: float) -> None:
        if samples.size:
            self._samples += samples.size
            self._clock.record(self._samples, now)
            self._ring.append(samples)
            self.policy.feed(samples, now)
        self._after(now)

    def _after(self, now: float) -> None:
        for ev in self.policy.events():
            match ev:
                case Final():
                    self._on_final(ev, now)
                case Partial():
                    self._on_partial(ev, now)
                case Decoded():
                    self._on_decoded(ev)
                case _:
                    assert_never(ev)
        self._update_capacity()

    def _update_capacity(self) -> None:
        backlog = self.policy.backlog_s
        # Invariant: never hold the reader back while no decode is in flight; only
        # more audio (or a flush) can move an idle pipeline, so waiting would deadlock.
        if self._decoding is None or backlog <= self._backlog.low_s:
            self._accepting = True
        elif backlog >= self._backlog.high_s:
            self._accepting = False

    def _latency_ms(self, arrival: float | None, now: float) -> float | None:
        return None if arrival is None else max(0.0, now - arrival) * 1000

    def _on_partial(self, ev: Partial, now: float) -> None:
        arrival = self._clock.arrival_of(ev.end)
        if self.start.partials:
            self._events.append(Transcript(
                final=False, segment=ev.segment, text=ev.text, stable=ev.stable,
                unstable=ev.unstable, start=ev.start, end=ev.end, language=self.policy.language,
                latency_ms=self._latency_ms(arrival, now), queue_ms=self._stage.queue_s * 1000,
                asr_ms=self._stage.asr_s * 1000,
            ))
        self.translations.on_partial(ev, self.policy.language, arrival, now)
        self._take_translations(now)

    def _on_final(self, ev: Final, now: float) -> None:
        self._finals += 1
        self._words += len(ev.words)
        arrival = self._clock.arrival_of(ev.end)
        self._events.append(Transcript(
            final=True, segment=ev.segment, text=ev.text, stable=ev.text, unstable="",
            start=ev.start, end=ev.end, language=ev.language,
            latency_ms=self._latency_ms(arrival, now), queue_ms=self._stage.queue_s * 1000,
            asr_ms=self._stage.asr_s * 1000, reason=ev.reason,
            words=tuple(Word(w.text.strip(), w.start, w.end, w.probability) for w in ev.words),
        ))
        self.translations.on_final(ev, arrival, now)
        self._take_translations(now)

    def _on_decoded(self, ev: Decoded) -> None:
        st = self._stage
        self._events.append(Metrics(
            request=ev.request_id, final=ev.final, audio_s=self.policy.stream_time,
            window_s=ev.audio_s, backlog_s=self.policy.backlog_s,
            queue_ms=st.queue_s * 1000, asr_ms=st.asr_s * 1000,
            rtf=st.asr_s / ev.audio_s if ev.audio_s > 0 else None,
        ))

    def _take_translations(self, now: float) -> None:
        for item in self.translations.events():
            if isinstance(item, ParleyError):
                self._events.append(error_of(item))
            else:
                self._events.append(self._translation(item, now))

    def _translation(self, ev: TranslationEvent, now: float) -> Translation:
        via = ev.via
        if via == "transcript":  # never published: the transcript serves its own language
            raise ValueError("a translation event cannot come from the transcript")
        return Translation(
            final=ev.final, lang=ev.target, segment=ev.segment, text=ev.text, stable=ev.stable,
            source_segments=ev.source_segments, source_text=ev.source_text, start=ev.start,
            end=ev.end, via=via, latency_ms=self._latency_ms(ev.arrival, now),
            mt_ms=ev.mt_s * 1000, queue_ms=self._stage.queue_s * 1000,
            asr_ms=self._stage.asr_s * 1000, pivot_text=ev.pivot_text,
        )


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
