"""One speaker session on asyncio: runs a `SessionCore` against the shared schedulers.

The core (core.py) decides everything and reads no clock; this driver is the
loop around it: it feeds the core audio and `time.monotonic()`, submits the
core's requests to the ASR scheduler and the MT router, awaits them in tasks,
feeds the results back, and emits the core's events (numbered by the session's
`Sequencer`) to `emit`, which the gateway wires to the session's channel (and
rooms to their listeners). It never touches a socket; model calls run in the
schedulers' worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar, assert_never

from server.audio.decode import AudioSpec
from server.errors import ModelError, ParleyError
from server.mt.routes import Via
from server.mt.scheduler import Dropped
from server.protocol.events import Ready, SpeakerEvent, error_of
from server.protocol.messages import Event, Sequencer, StartMessage
from server.services import Services
from server.session.core import Recognize, SessionCore, Stage, TranslateSpeech
from server.session.translations import Routing, TranslateText, TranslationPlan

__all__ = ["Session", "error_event"]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=SpeakerEvent)


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
        self.latency = start.latency or services.config.latency
        self.core = SessionCore(
            start,
            time.monotonic(),
            vad=services.new_vad(),
            policy=services.config.policy,
            latency=self.latency,
            plan=plan,
            routing=Routing(services.asr_info, services.mt.pair_models),
            mt_options=services.config_mt_incremental(),
            backlog=services.config.backlog,
            decode_interval=services.decode_interval,
        )
        self._decode: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._done = asyncio.Event()
        self._capacity = asyncio.Event()
        self._capacity.set()
        self.closed = False
        self.failed = False

    # -- what rooms and the gateway ask --------------------------------------------

    def ready_event(self) -> Ready:
        svc = self.services
        ready = self.core.ready(self.id, svc.describe_models(), svc.config.limits_dict())
        return self._stamp(ready)

    @property
    def language(self) -> str | None:
        """The spoken language: announced, or detected (None until then)."""
        return self.core.language

    @property
    def audio_s(self) -> float:
        """Stream seconds received so far (16 kHz samples after decoding)."""
        return self.core.audio_s

    def routes(self) -> dict[str, Via]:
        """target -> how it is served ("mt" / "whisper" / "pivot")."""
        return self.core.translations.describe()

    def describe_routes(self) -> dict[str, dict[str, Any]]:
        """target -> its route in wire form (`server.mt.routes.route_json`)."""
        return self.core.translations.describe_routes()

    def add_target(self, target: str) -> Via:
        """Translate into `target` from now on (a room listener asked for it).

        Raises UnsupportedError (unsupported_pair) if nothing can serve it. Nothing is
        emitted here (the hub calls it while it fans out): the target's translator starts
        with the next transcript event."""
        return self.core.add_target(target)

    def remove_target(self, target: str) -> None:
        """Stop translating into `target` (its last listener left); pending finals go out."""
        self.core.remove_target(target, time.monotonic())
        self._step()

    # -- inputs from the connection ---------------------------------------------------

    def on_audio(self, data: bytes, arrival: float) -> None:
        self.core.audio(data, arrival)
        self._step(arrival)

    def flush(self) -> None:
        self.core.flush(time.monotonic())
        self._step()

    def continue_audio(self, spec: AudioSpec) -> None:
        """A resumed connection announced its audio (see `SessionCore.continue_audio`)."""
        self.core.continue_audio(spec, time.monotonic())
        self._step()

    async def stop(self, reason: str = "stop") -> None:
        """Finish: every pending final (and its translation) is emitted, then `end`.

        `reason` goes into `end`: "stop" (the client asked), or why the server ended
        the session ("shutdown", "expired", "disconnected", "session_too_long", ...).
        """
        if not self.core.recognition_done:
            self.core.close_audio(time.monotonic())
            self._step()
            await self._done.wait()
        for pivots in (False, True):
            self.core.close_translations(time.monotonic(), pivots=pivots)
            self._step()
            await self._drain()
        self._cancel_timer()
        self._emit(self.core.end(reason, time.monotonic()))
        self.closed = True

    async def wait_capacity(self) -> None:
        """Backpressure: the connection waits here before reading more audio."""
        await self._capacity.wait()

    def abort(self) -> None:
        """The connection is gone: stop work (nothing more can be delivered)."""
        self.closed = True
        if self._decode is not None:
            self._decode.cancel()
        for task in self._tasks:
            task.cancel()
        self._cancel_timer()

    # -- the loop around the core --------------------------------------------------------

    def _step(self, now: float | None = None) -> None:
        """Submit what the core asks for, emit what it says, track its state."""
        if self.closed:
            return
        core = self.core
        now = time.monotonic() if now is None else now
        for req in core.requests(now):
            match req:
                case Recognize():
                    self._decode = asyncio.create_task(self._recognize(req),
                                                       name=f"decode-{self.id}")
                case TranslateText():
                    self._spawn(self._translate(req))
                case TranslateSpeech():
                    self._spawn(self._speech(req))
                case _:
                    assert_never(req)
        for event in core.events():
            self._emit(event)
        if core.accepting_audio:
            self._capacity.set()
        else:
            self._capacity.clear()
        if core.recognition_done:
            self._done.set()
        due = core.next_deadline(now)
        if due is not None and self._timer is None:
            # A rate-limited partial is due later: wake up then, no polling.
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, due - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._step()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _recognize(self, req: Recognize) -> None:
        core, request = self.core, req.request
        try:
            timed = await self.services.asr.transcribe(request)
        except ModelError as exc:
            self._fed(partial(core.recognition_failed, request, exc))
        else:
            stage = Stage(timed.queue_s, timed.asr_s)
            self._fed(partial(core.recognized, request, timed.decode.result, stage))

    async def _translate(self, req: TranslateText) -> None:
        core = self.core
        try:
            result = await self.services.translate(req.request, final=req.request.final)
        except Dropped:
            self._fed(partial(core.translation_failed, req, None))
        except ParleyError as exc:
            self._fed(partial(core.translation_failed, req, exc))
        else:
            self._fed(partial(core.translated, req, result))

    async def _speech(self, req: TranslateSpeech) -> None:
        core = self.core
        try:
            timed = await self.services.asr.transcribe(req.request, task="translate")
        except ModelError as exc:
            self._fed(partial(core.speech_failed, req, exc))
        else:
            self._fed(partial(core.spoken, req, timed.decode.result, timed.asr_s))

    def _fed(self, feed: Callable[[float], None]) -> None:
        """Give the core a result (`feed(now)`), then step."""
        if self.closed:
            return
        try:
            feed(time.monotonic())
            self._step()
        except Exception:
            # A bug or an overflowing consumer must not leave the session stuck with
            # its reader blocked on backpressure and `stop` waiting forever.
            log.exception("session %s: pipeline failed", self.id)
            self.failed = True
            self._capacity.set()
            self._done.set()

    def _emit(self, event: SpeakerEvent) -> None:
        if not self.closed:
            self._emit_raw(self._stamp(event).to_wire())

    def _stamp(self, event: E) -> E:
        return replace(event, seq=self.seq.next())


def error_event(exc: ParleyError) -> Event:
    """The wire `error` event for `exc` (not numbered)."""
    return error_of(exc).to_wire()
