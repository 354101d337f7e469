"""A session's translations without I/O: which route serves each target, and its state.

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

Sans-I/O: transcript events and results go in with `now`; translation requests
(`TranslateText`, and the Whisper finals to translate) and `TranslationEvent`s
come out. `server.session.core.SessionCore` owns it; the driver (driver.py)
runs the requests on the shared schedulers.

Segment bookkeeping (times and arrival of each final, the English leg's
sentences) is kept only while some open translator may still publish a final
that refers to it, so a long session's memory stays bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from server.errors import ParleyError, UnsupportedError
from server.mt.incremental import IncrementalOptions, IncrementalTranslator, StreamRequest
from server.mt.incremental import TranslationEvent as StreamEvent
from server.mt.requests import TranslationResult
from server.mt.routes import (
    PIVOT,
    Direct,
    PairModels,
    Pivot,
    Route,
    Transcript,
    Via,
    WhisperTranslate,
    english_leg,
    route_json,
    route_target,
)
from server.mt.sentences import join_text
from server.streaming.events import Final, Partial

if TYPE_CHECKING:
    from server.models.types import AsrModelInfo
    from server.services import Services

__all__ = ["Routing", "TranslateText", "TranslationEvent", "TranslationPlan", "Translations",
           "plan_translations", "route_target"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranslationPlan:
    source: str | None
    #: target -> route; empty: no translation. Read-only: a changed plan is a new plan.
    routes: Mapping[str, Route]

    def __post_init__(self) -> None:
        object.__setattr__(self, "routes", MappingProxyType(dict(self.routes)))

    def with_route(self, target: str, route: Route) -> TranslationPlan:
        return TranslationPlan(self.source, {**self.routes, target: route})

    def without(self, target: str) -> TranslationPlan:
        return TranslationPlan(self.source, {t: r for t, r in self.routes.items() if t != target})


@dataclass(frozen=True)
class Routing:
    """What routes are chosen from: the recognizer and the loaded MT pairs."""

    asr: AsrModelInfo
    models: PairModels

    def route(self, source: str | None, target: str) -> Route:
        return route_target(self.asr, self.models, source, target)


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


@dataclass(frozen=True)
class TranslateText:
    """One request of one incremental translator (`stream` numbers it in its session)."""

    stream: int
    request: StreamRequest


def plan_translations(
    services: Services, source: str | None, targets: tuple[str, ...]
) -> TranslationPlan:
    """Decide how each target is served, or raise `unsupported_pair` now."""
    routing = Routing(services.asr_info, services.mt.pair_models)
    routes: dict[str, Route] = {}
    for target in targets:
        route = routing.route(source, target)
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
    id: int
    core: IncrementalTranslator
    #: Its events go out as translations into `core.target` (an English leg that
    #: only feeds pivots does not publish).
    publish: bool
    #: It translates the English leg (en -> target), not the transcript.
    pivot: bool
    #: Finals of segments up to this one (its own source numbering) are published or
    #: were never fed to it: it no longer needs their bookkeeping.
    through: int = -1


class Translations:
    def __init__(self, plan: TranslationPlan, routing: Routing,
                 options: IncrementalOptions | None = None) -> None:
        self.plan = plan
        self._routing = routing
        self._options = options or IncrementalOptions()
        self._source = plan.source
        self._streams: dict[str, _Stream] = {}
        self._retired: list[_Stream] = []
        self._ids = 0
        self._out: list[TranslationEvent | ParleyError] = []
        self._whisper_queue: list[Final] = []
        #: the final Whisper is translating now
        self._speaking: Final | None = None
        self._segments: dict[int, _SegmentInfo] = {}
        self._last_segment = -1
        self._english: dict[int, _English] = {}
        self._english_count = 0
        self._english_partial: _English | None = None
        self._partial_arrival: float | None = None
        self._partial_span = (0.0, 0.0)

    # -- what is served, and how --------------------------------------------------------
    def describe(self) -> dict[str, Via]:
        """target -> "mt" / "whisper" / "pivot"."""
        return {t: r.via for t, r in self.plan.routes.items()}

    def describe_routes(self) -> dict[str, dict[str, Any]]:
        """target -> the route in its wire form (`server.mt.routes.route_json`)."""
        return {t: route_json(r) for t, r in self.plan.routes.items()}

    @property
    def keeps_audio(self) -> bool:
        """Whether some target is made by Whisper's translate task (it re-reads audio)."""
        return isinstance(self._english_leg(), WhisperTranslate)

    def add_target(self, target: str, language: str | None = None) -> Via:
        """Start translating into `target` from now on (a room listener asked for it).

        Raises UnsupportedError(code="unsupported_pair") if nothing can serve it.
        Returns how it is served. Adding a target already served is a no-op.
        """
        self._detect(language)
        if target in self.plan.routes:
            return self.plan.routes[target].via
        route = self._routing.route(self._source, target)
        if isinstance(route, Transcript):
            raise UnsupportedError(
                f"{target!r} is the source language: follow the transcript", code="unsupported_pair"
            )
        self.plan = self.plan.with_route(target, route)
        return route.via

    def remove_target(self, target: str, now: float) -> None:
        """Stop translating into `target` (its last listener left). Pending finals still go out."""
        if target not in self.plan.routes:
            return
        self.plan = self.plan.without(target)
        stream = self._streams.get(target)
        if stream is not None and not stream.core.closed:
            if target == PIVOT and self._english_leg() is not None:
                stream.publish = False  # pivot targets still need the English leg
            else:
                self._publish_all(stream, stream.core.close(now), now)
        leg = self._streams.get(PIVOT)
        if leg is not None and self._english_leg() is None and not leg.core.closed:
            # the last pivot target is gone: so is the unpublished leg
            self._publish_all(leg, leg.core.close(now), now)

    # -- transcript in -----------------------------------------------------------------
    def on_partial(self, ev: Partial, language: str | None, arrival: float | None,
                   now: float) -> None:
        self._detect(language)
        self._partial_arrival = arrival
        self._partial_span = (ev.start, ev.end)
        for stream in self._transcript_streams():
            stream.core.on_partial(ev.text, now)

    def on_final(self, ev: Final, arrival: float | None, now: float) -> None:
        self._detect(ev.language)
        streams = self._transcript_streams()  # a new one starts after the last segment
        self._segments[ev.segment] = _SegmentInfo(ev.start, ev.end, arrival)
        self._last_segment = max(self._last_segment, ev.segment)
        for stream in streams:
            self._publish_all(stream, stream.core.on_final(ev.segment, ev.text, True, now), now)
        if isinstance(self._english_leg(), WhisperTranslate):
            self._whisper_queue.append(ev)
        self._prune()

    def close(self, now: float, *, pivots: bool) -> None:
        """End of stream: close the translators that read the transcript (then, once their
        results are in, call again with `pivots` to close the rest)."""
        for stream in list(self._streams.values()):
            if pivots or not stream.pivot:
                self._publish_all(stream, stream.core.close(now), now)

    # -- requests out, results in ---------------------------------------------------------
    def requests(self, now: float) -> list[TranslateText]:
        self._retired = [r for r in self._retired if not r.core.done]
        out: list[TranslateText] = []
        for stream in [*self._streams.values(), *self._retired]:
            while (req := stream.core.next_request(now)) is not None:
                out.append(TranslateText(stream.id, req))
        return out

    def next_speech(self) -> Final | None:
        """The next final for Whisper's translate task, if none is being translated."""
        if not self._whisper_queue or self._speaking is not None:
            return None
        self._speaking = self._whisper_queue.pop(0)
        return self._speaking

    def next_deadline(self, now: float) -> float | None:
        """When a rate-limited partial is due (call `requests` then), or None."""
        due = [d for s in [*self._streams.values(), *self._retired]
               if (d := s.core.next_deadline(now)) is not None]
        return min(due, default=None)

    def on_result(self, req: TranslateText, result: TranslationResult, now: float) -> None:
        stream = self._owner(req)
        if stream is not None:
            events = stream.core.on_result(req.request, result, now)
            self._publish_all(stream, events, now, result.mt_ms / 1000)
            self._prune()

    def on_failed(self, req: TranslateText, error: ParleyError | None, now: float) -> None:
        """The request was not translated: `error` for the client, None when dropped."""
        if error is not None:
            self._out.append(error)
        stream = self._owner(req)
        if stream is not None:
            self._publish_all(stream, stream.core.on_failed(req.request, now), now)
            self._prune()

    def on_speech(self, final: Final, text: str | None, asr_s: float, now: float) -> None:
        """Whisper translated `final`'s audio into English (`text` None: it failed)."""
        if text is None:
            self._speaking = None
            return
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
            mt_s=asr_s,
            arrival=info.arrival if info else None,
            stable=text,
        )
        if isinstance(self.plan.routes.get(PIVOT), WhisperTranslate):
            self._out.append(event)
        self._feed_pivots(True, text, _English(event.source_segments, final.text), now)
        self._speaking = None
        self._prune()

    def error(self, error: ParleyError) -> None:
        self._out.append(error)

    def events(self) -> list[TranslationEvent | ParleyError]:
        """What happened since the last call: translations to publish and errors, in order."""
        out, self._out = self._out, []
        return out

    @property
    def tracked_segments(self) -> int:
        """Segments and English sentences whose bookkeeping is kept (bounded)."""
        return len(self._segments) + len(self._english)

    # -- routes --------------------------------------------------------------------------
    def _detect(self, language: str | None) -> None:
        """The recognizer named the spoken language: route every target again from it."""
        if self._source is not None or not language:
            return
        self._source = language
        routes: dict[str, Route] = {}
        for target in self.plan.routes:
            try:
                routes[target] = self._routing.route(language, target)
            except UnsupportedError as exc:
                self._out.append(
                    UnsupportedError(f"detected language {language!r}: {exc.message}",
                                     code="unsupported_pair")
                )
        self.plan = TranslationPlan(self.plan.source, routes)

    def _english_leg(self) -> Direct | WhisperTranslate | None:
        """How English is made for this session's targets (None: no target needs it)."""
        for route in self.plan.routes.values():
            leg = english_leg(route)
            if leg is not None:
                return leg
        return None

    def _owner(self, req: TranslateText) -> _Stream | None:
        for stream in [*self._streams.values(), *self._retired]:
            if stream.id == req.stream:
                return stream
        log.warning("a translation result for stream %d, which is gone", req.stream)
        return None

    def _stream(self, target: str, source: str, *, pivot: bool) -> _Stream:
        stream = self._streams.get(target)
        if stream is not None and stream.core.closed:
            # The target was removed and added again: the old stream finishes its finals.
            self._retired.append(self._streams.pop(target))
            stream = None
        if stream is None:
            self._ids += 1
            core = IncrementalTranslator(source, target, self._options)
            fed_from = self._english_count - 1 if pivot else self._last_segment
            stream = self._streams[target] = _Stream(self._ids, core, publish=True, pivot=pivot,
                                                     through=fed_from)
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
    def _feed_pivots(self, final: bool, text: str, english: _English, now: float) -> None:
        streams = self._pivot_streams()  # a new one starts after the last English sentence
        number = self._english_count
        if final:
            self._english[number] = english
            self._english_count += 1
        else:
            self._english_partial = english
        for stream in streams:
            if stream.core.closed:
                continue
            if final:
                self._publish_all(stream, stream.core.on_final(number, text, True, now), now)
            else:
                stream.core.on_partial(text, now)

    def _publish_all(self, stream: _Stream, events: list[StreamEvent], now: float,
                     mt_s: float = 0.0) -> None:
        for ev in events:
            self._publish(stream, ev, now, mt_s)

    def _publish(self, stream: _Stream, ev: StreamEvent, now: float, mt_s: float) -> None:
        target = stream.core.target
        pivot_text = None
        segments, source_text = ev.source_segments, ev.source_text
        if ev.final and ev.source_segments:
            stream.through = max(stream.through, *ev.source_segments)
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
            self._out.append(event)
        if target == PIVOT and not stream.pivot:
            self._feed_pivots(ev.final, ev.text, _English(segments, source_text), now)

    def _prune(self) -> None:
        """Forget segments and English sentences no open translator can still refer to."""
        live = [s for s in [*self._streams.values(), *self._retired] if not s.core.done]
        english_floor = min((s.through for s in live if s.pivot),
                            default=self._english_count - 1)
        for n in [n for n in self._english if n <= english_floor]:
            del self._english[n]
        floor = min((s.through for s in live if not s.pivot), default=self._last_segment)
        needed = [seg for e in self._english.values() for seg in e.source_segments]
        needed += [f.segment for f in self._whisper_queue]
        if self._speaking is not None:
            needed.append(self._speaking.segment)
        floor = min([floor, *(n - 1 for n in needed)])
        for seg in [s for s in self._segments if s <= floor]:
            del self._segments[seg]
