"""Batches translation requests from every session into one model call at a time.

One `TranslationScheduler` per loaded `Translator` per process. Requests from
all sessions and target languages wait in two bounded FIFO queues (finals,
partials); a single worker task takes up to `max_batch` of them, finals
first, and runs ONE `translate_batch` call on a dedicated single-thread
executor, which is what makes the Translator's one-thread invariant hold.

Waiting policy: when the worker is idle and a request arrives, it waits up to
`max_wait_s` (10 ms) for companions before calling the model. Requests rarely
come alone: the ASR scheduler finishes a batch for many sessions at once and
each session then asks for one translation per target language within a few
milliseconds, and 10 ms is small next to one model call (tens to hundreds of
ms on CPU). When the worker is busy there is no extra wait: the queue filled
up during the previous call, so the next batch starts as soon as it returns.

Overload policy (bounded queue of `max_queue` requests): a partial that finds
the queue full is refused at once with `Dropped`; a final is never dropped: it
first evicts the oldest queued partial (whose caller gets `Dropped`), and if
the queue holds only finals it waits for room (backpressure on that session).

Errors: an exception from the model is raised in every awaiting caller as
`ModelError` (ParleyErrors such as UnsupportedError pass through unchanged).
A failed batch of several requests is retried one request at a time so that
one bad input fails only its own caller; the scheduler keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from server.errors import ModelError, ParleyError
from server.mt.requests import TranslationRequest, TranslationResult

logger = logging.getLogger(__name__)

Priority = Literal["final", "partial"]


class Dropped(Exception):
    """A partial request was not translated: the queue was full or the scheduler stopped.

    Not an error to report to the client: the next partial supersedes it.
    """


class BatchTranslator(Protocol):
    """What the scheduler needs from a model (server.mt.translator.Translator)."""

    @property
    def name(self) -> str: ...

    @property
    def supported_pairs(self) -> tuple[tuple[str, str], ...]: ...

    def covers(self, source: str, target: str) -> bool: ...

    def translate_batch(
        self, requests: Sequence[TranslationRequest]
    ) -> list[TranslationResult]: ...


@dataclass(frozen=True)
class SchedulerOptions:
    max_batch: int = 16
    #: Wait for companions after a request reaches an idle worker (see module docstring).
    max_wait_s: float = 0.010
    #: Queued requests (finals + partials), not counting the batch being translated.
    max_queue: int = 64


@dataclass(frozen=True)
class SchedulerStats:
    batches: int = 0
    requests: int = 0  # translated (successfully or not)
    dropped: int = 0  # partials refused or evicted
    failed: int = 0  # requests answered with an error
    largest_batch: int = 0
    queued: int = 0  # right now


@dataclass
class _Item:
    request: TranslationRequest
    final: bool
    future: asyncio.Future[TranslationResult]
    enqueued: float  # time.monotonic()


class TranslationScheduler:
    """Async front of one Translator: `await translate(request, priority=...)`."""

    def __init__(
        self, translator: BatchTranslator, options: SchedulerOptions | None = None
    ) -> None:
        self.translator = translator
        self.options = options or SchedulerOptions()
        if self.options.max_batch < 1 or self.options.max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        self._finals: deque[_Item] = deque()
        self._partials: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self._batches = 0
        self._requests = 0
        self._dropped = 0
        self._failed = 0
        self._largest = 0

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._worker is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-mt")
        self._worker = asyncio.create_task(self._run(), name=f"mt-scheduler-{self.name}")

    async def aclose(self) -> None:
        """Stop taking requests, translate the queued finals, drop queued partials, stop."""
        if self._closing:
            if self._worker is not None:
                await asyncio.shield(self._worker)
            return
        self._closing = True
        while self._partials:
            self._drop(self._partials.popleft(), "scheduler stopped")
        self._wakeup.set()
        self._space.set()
        if self._worker is not None:
            await self._worker
        if self._executor is not None:
            executor = self._executor
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    # -- API -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.translator.name

    def covers(self, source: str, target: str) -> bool:
        return self.translator.covers(source, target)

    @property
    def stats(self) -> SchedulerStats:
        return SchedulerStats(
            batches=self._batches,
            requests=self._requests,
            dropped=self._dropped,
            failed=self._failed,
            largest_batch=self._largest,
            queued=self._queued(),
        )

    async def translate(
        self, request: TranslationRequest, *, priority: Priority
    ) -> TranslationResult:
        """Translate in the next batch. Raises Dropped (partials only, or after aclose),
        ModelError when the model fails, UnsupportedError for a pair it does not cover."""
        if self._worker is None:
            raise RuntimeError("TranslationScheduler.start() was not called")
        final = priority == "final"
        if self._closing:
            self._dropped += 1
            raise Dropped("scheduler stopped")
        if self._queued() >= self.options.max_queue:
            if not final:
                self._dropped += 1
                raise Dropped("translation queue full")
            if self._partials:  # a final takes the place of the oldest partial
                self._drop(self._partials.popleft(), "evicted by a final")
            while self._queued() >= self.options.max_queue and not self._closing:
                self._space.clear()
                await self._space.wait()  # backpressure: finals are never dropped
            if self._closing:
                self._dropped += 1
                raise Dropped("scheduler stopped")
        future: asyncio.Future[TranslationResult] = asyncio.get_running_loop().create_future()
        item = _Item(request, final, future, time.monotonic())
        (self._finals if final else self._partials).append(item)
        self._wakeup.set()
        # If the caller is cancelled, awaiting cancels `future` too; the worker skips it.
        return await future

    # -- worker ----------------------------------------------------------------------------
    def _queued(self) -> int:
        return len(self._finals) + len(self._partials)

    def _drop(self, item: _Item, why: str) -> None:
        self._dropped += 1
        if not item.future.done():
            item.future.set_exception(Dropped(why))

    async def _run(self) -> None:
        while True:
            if not self._queued():
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                # The worker was idle: give companions of this request a moment.
                await self._gather_companions()
            batch = self._take_batch()
            if batch:
                try:
                    await self._translate(batch)
                except Exception:  # the worker must survive anything
                    logger.exception("translation batch failed unexpectedly")
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(ModelError("translation failed"))

    async def _gather_companions(self) -> None:
        deadline = time.monotonic() + self.options.max_wait_s
        while self._queued() < self.options.max_batch and not self._closing:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), left)
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Item]:
        batch: list[_Item] = []
        for queue in (self._finals, self._partials):  # finals first
            while queue and len(batch) < self.options.max_batch:
                item = queue.popleft()
                if not item.future.done():  # skip callers that gave up
                    batch.append(item)
        self._space.set()
        return batch

    async def _translate(self, batch: list[_Item]) -> None:
        self._batches += 1
        self._largest = max(self._largest, len(batch))
        self._requests += len(batch)
        outcome = await self._call([item.request for item in batch])
        if isinstance(outcome, BaseException) and len(batch) > 1:
            logger.warning("MT batch of %d failed (%s); retrying one by one", len(batch), outcome)
            for item in batch:
                self._settle([item], await self._call([item.request]))
            return
        self._settle(batch, outcome)

    async def _call(
        self, requests: list[TranslationRequest]
    ) -> tuple[list[TranslationResult], float, float] | ParleyError:
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, _timed, self.translator, requests)
        except ParleyError as exc:
            return exc
        except Exception as exc:
            logger.exception("MT model %s raised", self.name)
            error = ModelError(f"translation failed: {exc}")
            error.__cause__ = exc
            return error

    def _settle(
        self,
        items: list[_Item],
        outcome: tuple[list[TranslationResult], float, float] | ParleyError,
    ) -> None:
        if isinstance(outcome, ParleyError):
            self._failed += len(items)
            for item in items:
                if not item.future.done():
                    item.future.set_exception(outcome)
            return
        results, started, finished = outcome
        if len(results) != len(items):
            self._settle(items, ModelError("translator returned a wrong number of results"))
            return
        mt_ms = (finished - started) * 1000.0
        for item, result in zip(items, results, strict=True):
            if not item.future.done():
                queue_ms = max(0.0, (started - item.enqueued) * 1000.0)
                item.future.set_result(replace(result, queue_ms=queue_ms, mt_ms=mt_ms))


def _timed(
    translator: BatchTranslator, requests: list[TranslationRequest]
) -> tuple[list[TranslationResult], float, float]:
    """Runs on the worker thread: the model call and its start / end times."""
    started = time.monotonic()
    results = translator.translate_batch(requests)
    return list(results), started, time.monotonic()
