"""A session's translations: which path serves each target, and the plumbing.

Per target language a session translates either with a CTranslate2 model
(`mt`: incremental, partials at a bounded rate, finals always) or, where no
model covers the pair and the target is English, with Whisper's own
`translate` task on each final segment's audio (`whisper`: finals only).
Requests of one target run one at a time, so its events stay in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from server.errors import ModelError, ParleyError, UnsupportedError
from server.models.languages import check_known_target
from server.mt.incremental import IncrementalTranslator, StreamRequest
from server.mt.scheduler import Dropped
from server.streaming.events import AsrRequest, Final, Partial

if TYPE_CHECKING:
    from server.models.types import AsrModelInfo
    from server.services import Services

log = logging.getLogger(__name__)

Via = Literal["mt", "whisper"]


@dataclass(frozen=True)
class TranslationPlan:
    source: str | None
    #: target -> path; an empty dict means no translation.
    routes: dict[str, Via]


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


def route_target(
    asr: AsrModelInfo, pairs: Collection[tuple[str, str]], source: str | None, target: str
) -> Via:
    """How `target` is served from `source` (None: not yet detected, so any MT pair into
    `target` will do, checked again once it is): an MT model covering the pair, else for
    English Whisper's translate task; else `unsupported_language` / `unsupported_pair`.
    `pairs`: every pair the loaded MT models cover. The server and `parley transcribe`
    both route here."""
    if source is not None and (source, target) in pairs:
        return "mt"
    if source is None and any(t == target for _, t in pairs):
        return "mt"
    if target == "en" and asr.can_translate_to_english:
        return "whisper"
    check_known_target(target)
    available = [f"{s}->{t}" for s, t in pairs]
    if asr.can_translate_to_english:
        available.append(f"any->en (Whisper translate with {asr.name})")
    raise UnsupportedError(
        f"no model translates {source or 'any language'} -> {target}; "
        f"available: {', '.join(available) or 'nothing'}",
        code="unsupported_pair",
    )


def plan_translations(
    services: Services, source: str | None, targets: tuple[str, ...]
) -> TranslationPlan:
    """Decide how each target is served, or raise `unsupported_pair` now."""
    routes: dict[str, Via] = {}
    pairs = services.mt.pairs
    for target in targets:
        if source is not None and target == source:
            continue  # the transcript already is in that language
        routes[target] = route_target(services.asr_info, pairs, source, target)
    return TranslationPlan(source=source, routes=routes)


@dataclass
class _SegmentInfo:
    start: float
    end: float
    arrival: float | None


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
        self._streams: dict[str, IncrementalTranslator] = {}
        self._retired: list[IncrementalTranslator] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._whisper_busy: set[str] = set()
        self._whisper_queue: dict[str, list[Final]] = {
            t: [] for t, v in plan.routes.items() if v == "whisper"
        }
        self._segments: dict[int, _SegmentInfo] = {}
        self._partial_arrival: float | None = None
        self._partial_span = (0.0, 0.0)
        self._aborted = False

    def describe(self) -> dict[str, str]:
        return dict(self.plan.routes)

    def add_target(self, target: str, language: str | None = None) -> Via:
        """Start translating into `target` from now on (a room listener asked for it).

        Raises UnsupportedError(code="unsupported_pair") if nothing can serve it.
        Returns how it is served. Adding a target already served is a no-op.
        """
        if target in self.plan.routes:
            return self.plan.routes[target]
        source = self.plan.source or language
        extra = plan_translations(self.services, source, (target,))
        if not extra.routes:
            raise UnsupportedError(
                f"{target!r} is the source language: follow the transcript", code="unsupported_pair"
            )
        via = extra.routes[target]
        self.plan.routes[target] = via
        if via == "whisper":
            self._whisper_queue.setdefault(target, [])
        return via

    def remove_target(self, target: str) -> None:
        """Stop translating into `target` (its last listener left). Pending finals still go out."""
        via = self.plan.routes.pop(target, None)
        stream = self._streams.get(target)
        if via == "mt" and stream is not None and not stream.closed:
            stream.close(time.monotonic())
            self._pump()

    def _stream(self, target: str, language: str | None) -> IncrementalTranslator | None:
        stream = self._streams.get(target)
        if stream is not None and stream.closed:
            # The target was removed and added again: the old stream finishes its finals.
            self._retired.append(self._streams.pop(target))
            stream = None
        if stream is None:
            source = self.plan.source or language
            if source is None or source == target:
                return None
            if not self.services.mt_covers(source, target):
                self._on_error(
                    UnsupportedError(
                        f"detected language {source!r}: no model translates {source} -> {target}",
                        code="unsupported_pair",
                    )
                )
                self.plan.routes.pop(target, None)
                return None
            stream = IncrementalTranslator(source, target, self.services.config_mt_incremental())
            self._streams[target] = stream
        return stream

    def on_partial(self, ev: Partial, language: str | None, arrival: float | None) -> None:
        now = time.monotonic()
        self._partial_arrival = arrival
        self._partial_span = (ev.start, ev.end)
        for target, via in list(self.plan.routes.items()):
            if via == "mt":
                stream = self._stream(target, language)
                if stream is not None:
                    stream.on_partial(ev.text, now)
        self._pump()

    def on_final(self, ev: Final, arrival: float | None) -> None:
        now = time.monotonic()
        self._segments[ev.segment] = _SegmentInfo(ev.start, ev.end, arrival)
        for target, via in list(self.plan.routes.items()):
            if via == "mt":
                stream = self._stream(target, ev.language)
                if stream is not None:
                    stream.on_final(ev.segment, ev.text, True, now)
            else:
                self._whisper_queue[target].append(ev)
        self._pump()

    async def close(self) -> None:
        """Translate everything still pending (end of stream)."""
        now = time.monotonic()
        for stream in self._streams.values():
            stream.close(now)
        self._pump()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._timer is not None:
            self._timer.cancel()

    def abort(self) -> None:
        self._aborted = True
        for task in self._tasks:
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()

    def _pump(self) -> None:
        if self._aborted:
            return
        now = time.monotonic()
        wake: float | None = None
        self._retired = [r for r in self._retired if not r.done]
        for target, stream in [*self._streams.items(), *((r.target, r) for r in self._retired)]:
            while (req := stream.next_request(now)) is not None:
                self._spawn(self._run_mt(target, stream, req))
            due = stream.next_deadline(now)
            if due is not None:
                wake = due if wake is None else min(wake, due)
        for target, queue in self._whisper_queue.items():
            if queue and target not in self._whisper_busy:
                self._whisper_busy.add(target)
                self._spawn(self._run_whisper(target, queue.pop(0)))
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

    async def _run_mt(self, target: str, stream: IncrementalTranslator, req: StreamRequest) -> None:
        try:
            try:
                result = await self.services.translate(req, final=req.final)
            except Dropped:
                events = stream.on_failed(req, time.monotonic())
                mt_s = 0.0
            except ParleyError as exc:
                self._on_error(exc)
                events = stream.on_failed(req, time.monotonic())
                mt_s = 0.0
            else:
                events = stream.on_result(req, result, time.monotonic())
                mt_s = result.mt_ms / 1000
            for ev in events:
                segs = [self._segments[s] for s in ev.source_segments if s in self._segments]
                if ev.final and segs:
                    start, end, arrival = segs[0].start, segs[-1].end, segs[-1].arrival
                else:
                    (start, end), arrival = self._partial_span, self._partial_arrival
                self._on_event(
                    TranslationEvent(
                        target=target,
                        final=ev.final,
                        segment=ev.sentence,
                        text=ev.text,
                        source_segments=ev.source_segments,
                        source_text=ev.source_text,
                        start=start,
                        end=end,
                        via="mt",
                        mt_s=mt_s,
                        arrival=arrival,
                    )
                )
        finally:
            self._pump()

    async def _run_whisper(self, target: str, final: Final) -> None:
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
            self._on_event(
                TranslationEvent(
                    target=target,
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
                )
            )
        finally:
            self._whisper_busy.discard(target)
            self._pump()
