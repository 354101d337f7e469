"""A session's translations: which route serves each target, and the plumbing.

Routes are chosen by `server.mt.routes.route_target` (direct MT, Whisper's
translate task for English, or a pivot through English). At run time:
- a direct target has an incremental translator fed by the transcript
  (partials at a bounded rate, each sentence's final translated once);
- English by Whisper re-decodes each final segment's audio (finals only);
- a pivot target has an incremental en->target translator fed by the English
  leg: the English partial translations become its partials, each English final
  becomes one sentence of it, translated once.

The English leg runs once per session: it is the route English itself takes,
so English listeners and every pivot target share it. When no one listens in
English it still runs, unpublished. Its finals come out in order (the
incremental core's reorder buffer; Whisper translates one final at a time), so
the pivot translators see English sentences in order.

With the source language to be detected, the plan holds provisional routes;
they are chosen again once the recognizer names the language (a target that
turns out to be the spoken language is then served by the transcript).

Closing finishes the legs that read the transcript first, then the pivot
translators, so no English final is lost between the two.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from server.errors import ModelError, ParleyError, UnsupportedError
from server.mt.incremental import IncrementalTranslator, StreamRequest
from server.mt.incremental import TranslationEvent as StreamEvent
from server.mt.routes import (
    PIVOT,
    Direct,
    Pivot,
    Route,
    Transcript,
    Via,
    WhisperTranslate,
    english_leg,
    route_json,
    route_target,
)
from server.mt.scheduler import Dropped
from server.mt.sentences import join_text
from server.streaming.events import AsrRequest, Final, Partial

if TYPE_CHECKING:
    from server.services import Services

__all__ = ["TranslationEvent", "TranslationPlan", "Translations", "plan_translations",
           "route_target"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranslationPlan:
    source: str | None
    #: target -> route; an empty dict means no translation.
    routes: dict[str, Route]


@dataclass(frozen=True)
class TranslationEvent:
    target: str
    final: bool
    segment: int
    text: str
    source_segments: tuple[int, ...]
    source_text: str
    start: float
    end: float
    via: Via
    mt_s: float
    arrival: float | None  # arrival of the audio the source text ends in
    #: Along a pivot: the English text this translation was made from.
    pivot_text: str | None = None
    #: The prefix of `text` the next partial keeps (all of it for a final).
    stable: str = ""


def plan_translations(
    services: Services, source: str | None, targets: tuple[str, ...]
) -> TranslationPlan:
    """Decide how each target is served, or raise `unsupported_pair` now."""
    routes: dict[str, Route] = {}
    models = services.mt.pair_models
    for target in targets:
        route = route_target(services.asr_info, models, source, target)
        if not isinstance(route, Transcript):  # the transcript already is in that language
            routes[target] = route
    return TranslationPlan(source=source, routes=routes)


@dataclass
class _SegmentInfo:
    start: float
    end: float
    arrival: float | None


@dataclass(frozen=True)
class _English:
    """An English-leg final as the pivot translators number it: what it came from."""

    source_segments: tuple[int, ...]
    source_text: str


@dataclass(eq=False)
class _Stream:
    core: IncrementalTranslator
    #: Its events go out as translations into `core.target` (an English leg that
    #: only feeds pivots does not publish).
    publish: bool
    #: It translates the English leg (en -> target), not the transcript.
    pivot: bool


class Translations:
    def __init__(
        self,
        services: Services,
        plan: TranslationPlan,
        on_event: Callable[[TranslationEvent], None],
        on_error: Callable[[ParleyError], None],
        audio_of: Callable[[float, float], np.ndarray] | None = None,
    ) -> None:
        self.services = services
        self.plan = plan
        self._on_event = on_event
        self._on_error = on_error
        self.audio_of = audio_of
        self._models = services.mt.pair_models
        self._source = plan.source
        self._streams: dict[str, _Stream] = {}
        self._retired: list[_Stream] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._whisper_queue: list[Final] = []
        self._whisper_busy = False
        self._segments: dict[int, _SegmentInfo] = {}
        self._english: dict[int, _English] = {}
        self._english_partial: _English | None = None
        self._partial_arrival: float | None = None
        self._partial_span = (0.0, 0.0)
        self._aborted = False

    # -- what is served, and how --------------------------------------------------------
    def describe(self) -> dict[str, str]:
        """target -> "mt" / "whisper" / "pivot" / "transcript"."""
        return {t: r.via for t, r in self.plan.routes.items()}

    def describe_routes(self) -> dict[str, dict[str, Any]]:
        """target -> the route in its wire form (`server.mt.routes.route_json`)."""
        return {t: route_json(r) for t, r in self.plan.routes.items()}

    def add_target(self, target: str, language: str | None = None) -> Via:
        """Start translating into `target` from now on (a room listener asked for it).

        Raises UnsupportedError(code="unsupported_pair") if nothing can serve it.
        Returns how it is served. Adding a target already served is a no-op.
        """
        self._detect(language)
        if target in self.plan.routes:
            return self.plan.routes[target].via
        route = route_target(self.services.asr_info, self._models, self._source, target)
        if isinstance(route, Transcript):
            raise UnsupportedError(
                f"{target!r} is the source language: follow the transcript", code="unsupported_pair"
            )
        self.plan.routes[target] = route
        return route.via

    def remove_target(self, target: str) -> None:
        """Stop translating into `target` (its last listener left). Pending finals still go out."""
        route = self.plan.routes.pop(target, None)
        if route is None:
            return
        now = time.monotonic()
        stream = self._streams.get(target)
        if stream is not None and not stream.core.closed:
            if target == PIVOT and self._english_leg() is not None:
                stream.publish = False  # pivot targets still need the English leg
            else:
                self._publish_all(stream, stream.core.close(now))
        leg = self._streams.get(PIVOT)
        if leg is not None and self._english_leg() is None and not leg.core.closed:
            # the last pivot target is gone: so is the unpublished leg
            self._publish_all(leg, leg.core.close(now))
        self._pump()

    # -- transcript in -----------------------------------------------------------------
    def on_partial(self, ev: Partial, language: str | None, arrival: float | None) -> None:
        self._detect(language)
        now = time.monotonic()
        self._partial_arrival = arrival
        self._partial_span = (ev.start, ev.end)
        for stream in self._transcript_streams():
            stream.core.on_partial(ev.text, now)
        self._pump()

    def on_final(self, ev: Final, arrival: float | None) -> None:
        self._detect(ev.language)
        now = time.monotonic()
        self._segments[ev.segment] = _SegmentInfo(ev.start, ev.end, arrival)
        for stream in self._transcript_streams():
            self._publish_all(stream, stream.core.on_final(ev.segment, ev.text, True, now))
        if isinstance(self._english_leg(), WhisperTranslate):
            self._whisper_queue.append(ev)
        self._pump()

    async def close(self) -> None:
        """Translate everything still pending (end of stream)."""
        now = time.monotonic()
        for stream in list(self._streams.values()):
            if not stream.pivot:
                self._publish_all(stream, stream.core.close(now))
        self._pump()
        await self._drain()
        now = time.monotonic()
        for stream in list(self._streams.values()):
            self._publish_all(stream, stream.core.close(now))
        self._pump()
        await self._drain()
        if self._timer is not None:
            self._timer.cancel()

    def abort(self) -> None:
        self._aborted = True
        for task in self._tasks:
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()

    # -- routes --------------------------------------------------------------------------
    def _detect(self, language: str | None) -> None:
        """The recognizer named the spoken language: route every target again from it."""
        if self._source is not None or not language:
            return
        self._source = language
        models, asr = self._models, self.services.asr_info
        for target in list(self.plan.routes):
            try:
                self.plan.routes[target] = route_target(asr, models, language, target)
            except UnsupportedError as exc:
                self._on_error(
                    UnsupportedError(f"detected language {language!r}: {exc.message}",
                                     code="unsupported_pair")
                )
                del self.plan.routes[target]

    def _english_leg(self) -> Direct | WhisperTranslate | None:
        """How English is made for this session's targets (None: no target needs it)."""
        for route in self.plan.routes.values():
            leg = english_leg(route)
            if leg is not None:
                return leg
        return None

    def _stream(self, target: str, source: str, *, pivot: bool) -> _Stream:
        stream = self._streams.get(target)
        if stream is not None and stream.core.closed:
            # The target was removed and added again: the old stream finishes its finals.
            self._retired.append(self._streams.pop(target))
            stream = None
        if stream is None:
            core = IncrementalTranslator(source, target, self.services.config_mt_incremental())
            stream = self._streams[target] = _Stream(core, publish=True, pivot=pivot)
        stream.publish = target in self.plan.routes
        return stream

    def _transcript_streams(self) -> list[_Stream]:
        """The translators fed by the transcript: direct targets and an English leg by MT."""
        source = self._source
        if source is None:
            return []  # a direct model needs to know what it translates from
        targets = {t for t, r in self.plan.routes.items() if isinstance(r, Direct)}
        if isinstance(self._english_leg(), Direct):
            targets.add(PIVOT)
        return [self._stream(t, source, pivot=False) for t in sorted(targets)]

    def _pivot_streams(self) -> list[_Stream]:
        return [
            self._stream(t, PIVOT, pivot=True)
            for t, r in sorted(self.plan.routes.items())
            if isinstance(r, Pivot)
        ]

    # -- the English leg out, pivots in ------------------------------------------------------
    def _feed_pivots(self, final: bool, text: str, english: _English) -> None:
        now = time.monotonic()
        if final:
            number = len(self._english)
            self._english[number] = english
        else:
            self._english_partial = english
        for stream in self._pivot_streams():
            if stream.core.closed:
                continue
            if final:
                self._publish_all(stream, stream.core.on_final(number, text, True, now))
            else:
                stream.core.on_partial(text, now)

    def _publish_all(self, stream: _Stream, events: list[StreamEvent], mt_s: float = 0.0) -> None:
        for ev in events:
            self._publish(stream, ev, mt_s)

    def _publish(self, stream: _Stream, ev: StreamEvent, mt_s: float) -> None:
        target = stream.core.target
        pivot_text = None
        segments, source_text = ev.source_segments, ev.source_text
        if stream.pivot:
            pivot_text = ev.source_text
            if ev.final:
                came_from = [self._english[n] for n in ev.source_segments if n in self._english]
            else:
                came_from = [self._english_partial] if self._english_partial else []
            segments = tuple(s for e in came_from for s in e.source_segments)
            source_text = join_text([e.source_text for e in came_from], self._source or PIVOT)
        segs = [self._segments[s] for s in segments if s in self._segments]
        if ev.final and segs:
            start, end, arrival = segs[0].start, segs[-1].end, segs[-1].arrival
        else:
            (start, end), arrival = self._partial_span, self._partial_arrival
        event = TranslationEvent(
            target=target,
            final=ev.final,
            segment=ev.sentence,
            text=ev.text,
            source_segments=segments,
            source_text=source_text,
            start=start,
            end=end,
            via="pivot" if stream.pivot else "mt",
            mt_s=mt_s,
            arrival=arrival,
            pivot_text=pivot_text,
            stable=ev.stable,
        )
        if stream.publish:
            self._on_event(event)
        if target == PIVOT and not stream.pivot:
            self._feed_pivots(ev.final, ev.text, _English(segments, source_text))

    # -- requests ----------------------------------------------------------------------
    def _pump(self) -> None:
        if self._aborted:
            return
        now = time.monotonic()
        wake: float | None = None
        self._retired = [r for r in self._retired if not r.core.done]
        for stream in [*self._streams.values(), *self._retired]:
            while (req := stream.core.next_request(now)) is not None:
                self._spawn(self._run_mt(stream, req))
            due = stream.core.next_deadline(now)
            if due is not None:
                wake = due if wake is None else min(wake, due)
        if self._whisper_queue and not self._whisper_busy:
            self._whisper_busy = True
            self._spawn(self._run_whisper(self._whisper_queue.pop(0)))
        if wake is not None and self._timer is None:
            # A rate-limited partial is due later: wake up then, no polling.
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, wake - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run_mt(self, stream: _Stream, req: StreamRequest) -> None:
        try:
            try:
                result = await self.services.translate(req, final=req.final)
            except Dropped:
                events = stream.core.on_failed(req, time.monotonic())
                mt_s = 0.0
            except ParleyError as exc:
                self._on_error(exc)
                events = stream.core.on_failed(req, time.monotonic())
                mt_s = 0.0
            else:
                events = stream.core.on_result(req, result, time.monotonic())
                mt_s = result.mt_ms / 1000
            self._publish_all(stream, events, mt_s)
        finally:
            self._pump()

    async def _run_whisper(self, final: Final) -> None:
        try:
            if self.audio_of is None:
                return
            audio = self.audio_of(final.start, final.end)
            req = AsrRequest(0, audio, final.start, final.end, "", final.language, True)
            try:
                timed = await self.services.asr.transcribe(req, task="translate")
            except ModelError as exc:
                self._on_error(exc)
                return
            text = " ".join(w.text.strip() for w in timed.decode.result.words).strip()
            info = self._segments.get(final.segment)
            event = TranslationEvent(
                target=PIVOT,
                final=True,
                segment=final.segment,
                text=text,
                source_segments=(final.segment,),
                source_text=final.text,
                start=final.start,
                end=final.end,
                via="whisper",
                mt_s=timed.asr_s,
                arrival=info.arrival if info else None,
                stable=text,
            )
            if isinstance(self.plan.routes.get(PIVOT), WhisperTranslate):
                self._on_event(event)
            self._feed_pivots(True, text, _English(event.source_segments, final.text))
        finally:
            self._whisper_busy = False
            self._pump()

