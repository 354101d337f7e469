"""Runs recognition off the event loop, for every session, on one shared model.

Sessions submit requests here. A single worker owns the model: whenever it is
free it takes every ready request (up to `max_batch`, waiting at most
`max_wait_s` for companions) and decodes them in one engine call when the
engine can batch (`transcribe_batch`), else one after another. Each session
keeps at most one decode in flight (the policy's invariant), so FIFO order is
also fair: no session can take two places in a batch, none waits more than one
batch behind another.

The scheduler also measures its own load (busy fraction and queue wait,
exponentially averaged): admission control and adaptive cadence read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from server.asr.whisper import Decode, Task
from server.errors import ModelError
from server.streaming.events import AsrRequest

log = logging.getLogger(__name__)


class Engine(Protocol):
    def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Decode: ...


@runtime_checkable
class BatchEngine(Protocol):
    def transcribe_batch(
        self, requests: Sequence[AsrRequest], task: Task = "transcribe"
    ) -> list[Decode]: ...


@dataclass(frozen=True)
class SchedulerOptions:
    max_batch: int = 8
    #: How long a lone request waits for companions when the worker is idle.
    max_wait_s: float = 0.005
    #: Smoothing of the load figures (per batch).
    ewma: float = 0.2


@dataclass(frozen=True)
class Timed:
    decode: Decode
    queue_s: float  # waiting for the worker
    asr_s: float  # in the model (the whole batch)
    batch: int  # requests decoded together


@dataclass
class _Item:
    request: AsrRequest
    task: Task
    future: asyncio.Future[Timed]
    submitted: float


class AsrScheduler:
    def __init__(self, engine: Engine, options: SchedulerOptions | None = None) -> None:
        self.engine = engine
        self.opts = options or SchedulerOptions()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-asr")
        self._queue: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._busy_since: float | None = None
        self._last_end = time.monotonic()
        #: Load figures, smoothed: fraction of time the model is busy, queue wait.
        self.utilization = 0.0
        self.queue_wait_s = 0.0
        self.batches = 0
        self.decoded = 0
        self.largest_batch = 0

    @property
    def depth(self) -> int:
        """Requests waiting (not yet in the model)."""
        return len(self._queue)

    async def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Timed:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="parley-asr-scheduler")
        future: asyncio.Future[Timed] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(request, task, future, time.monotonic()))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            if len(self._queue) < self.opts.max_batch and self.opts.max_wait_s > 0:
                await asyncio.sleep(self.opts.max_wait_s)
            batch = self._take()
            if not batch:
                continue
            start = time.monotonic()
            idle = start - self._last_end
            try:
                decodes = await loop.run_in_executor(self._executor, self._decode, batch)
            except Exception as exc:  # the model failed: every waiter hears it, others go on
                log.exception("ASR batch of %d failed", len(batch))
                error = exc if isinstance(exc, ModelError) else ModelError(
                    f"speech recognition failed: {type(exc).__name__}"
                )
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            finally:
                self._last_end = time.monotonic()
            busy = self._last_end - start
            self._account(busy, idle, batch, start)
            for item, decode in zip(batch, decodes, strict=True):
                if not item.future.done():  # the session may have gone away
                    item.future.set_result(
                        Timed(decode, start - item.submitted, decode.asr_s, len(batch))
                    )

    def _take(self) -> list[_Item]:
        """The oldest ready requests of one task, up to max_batch, skipping cancelled ones."""
        while self._queue and self._queue[0].future.done():
            self._queue.popleft()
        if not self._queue:
            return []
        task = self._queue[0].task
        batch: list[_Item] = []
        keep: deque[_Item] = deque()
        while self._queue and len(batch) < self.opts.max_batch:
            item = self._queue.popleft()
            if item.future.done():
                continue
            (batch if item.task == task else keep).append(item)
        self._queue.extendleft(reversed(keep))
        return batch

    def _decode(self, batch: list[_Item]) -> list[Decode]:
        requests = [i.request for i in batch]
        task = batch[0].task
        if isinstance(self.engine, BatchEngine):
            return self.engine.transcribe_batch(requests, task)
        return [self.engine.transcribe(r, task) for r in requests]

    def _account(self, busy: float, idle: float, batch: list[_Item], start: float) -> None:
        a = self.opts.ewma
        share = busy / max(busy + idle, 1e-6)
        self.utilization = (1 - a) * self.utilization + a * share
        wait = max(start - i.submitted for i in batch)
        self.queue_wait_s = (1 - a) * self.queue_wait_s + a * wait
        self.batches += 1
        self.decoded += len(batch)
        self.largest_batch = max(self.largest_batch, len(batch))

    def load(self) -> float:
        """Busy fraction, decayed towards 0 while nothing has run for a while."""
        quiet = time.monotonic() - self._last_end
        if self._queue or quiet < 1.0:
            return self.utilization
        return self.utilization * max(0.0, 1.0 - (quiet - 1.0) / 5.0)

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(ModelError("server shutting down"))
        self._queue.clear()
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
