"""Runs recognition off the event loop, for every session, on one shared model.

Sessions submit requests here. `workers` engine calls run at once (the engine
was loaded with as many CTranslate2 replicas, which share the weights). A free
worker takes its share of the ready requests (an equal split among all the
workers, up to `max_batch`; when no other worker is free it first waits up to
`max_wait_s` for companions) and decodes them in one engine call when the
engine can batch (`transcribe_batch`), else one after another. On CPU, parallel
calls beat batching: on 2 cores a batch of two cost 0.85x two single calls,
while two calls side by side took about what one does
(`python -m benchmarks.asr_engine --sections workers`).

Each session keeps at most one decode in flight (the policy's invariant), so
FIFO order is also fair: no session can take two places in a batch, none waits
more than one batch behind another.

A call is CROWDED when other requests share it, other calls are running, or requests
are left waiting, and for `crowd_hold_s` after such a call: a batching engine then picks
its cheaper encoder windows, so one session alone gets the most accurate decode and many
sessions keep real time.

The scheduler also measures its own load (busy fraction of the workers and
queue wait, exponentially averaged): admission control and adaptive cadence
read it.
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
        self, requests: Sequence[AsrRequest], task: Task = "transcribe", *, crowded: bool = False
    ) -> list[Decode]: ...


@dataclass(frozen=True)
class SchedulerOptions:
    #: Engine calls in flight at once (the engine's `AsrOptions.workers`).
    workers: int = 1
    max_batch: int = 8
    #: How long a lone request waits for companions when the worker is idle.
    max_wait_s: float = 0.005
    #: Smoothing of the load figures (per batch).
    ewma: float = 0.2
    #: Calls stay CROWDED this long after the last one that shared the CPU: sessions
    #: speaking at once do not always overlap their decodes, and a lone long-window
    #: decode among them makes the other session late.
    crowd_hold_s: float = 2.0

    def __post_init__(self) -> None:
        if self.workers < 1 or self.max_batch < 1:
            raise ValueError("workers and max_batch must be >= 1")
        if self.crowd_hold_s < 0:
            raise ValueError("crowd_hold_s must be >= 0")


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
        workers = self.opts.workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parley-asr")
        self._queue: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._free = workers  # workers not given a call
        self._last_end = time.monotonic()
        self._crowded_until = float("-inf")
        # Busy worker-seconds since `_sample_start`, integrated whenever `_free` changes.
        self._busy_area = 0.0
        self._mark = self._sample_start = self._last_end
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

    @property
    def busy(self) -> int:
        """Workers given a call (at most `opts.workers`)."""
        return self.opts.workers - self._free

    async def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Timed:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="parley-asr-scheduler")
        future: asyncio.Future[Timed] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(request, task, future, time.monotonic()))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            while not (self._queue and self._free > 0):
                self._wakeup.clear()
                await self._wakeup.wait()
            # Wait for companions only when they would share a call: a request that
            # arrives during the wait gets a worker of its own while one is free.
            if self._free <= len(self._queue) < self.opts.max_batch and self.opts.max_wait_s > 0:
                await asyncio.sleep(self.opts.max_wait_s)
            # An equal share per worker, busy ones included: the next to finish takes
            # the rest, so no request waits behind a batch its peers made too long.
            batch = self._take(-(-len(self._queue) // self.opts.workers))
            if not batch:
                continue
            now = time.monotonic()
            # Other decodes share the CPU with this call: the engine picks cheaper windows.
            if len(batch) > 1 or self.busy > 0 or self._queue:
                self._crowded_until = now + self.opts.crowd_hold_s
            crowded = now <= self._crowded_until
            self._set_free(now, self._free - 1)
            call = asyncio.create_task(self._call(batch, crowded), name="parley-asr-call")
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _call(self, batch: list[_Item], crowded: bool) -> None:
        """One engine call on a free worker; the worker is free again when it returns."""
        start = time.monotonic()
        try:
            decodes = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._decode, batch, crowded
            )
        except Exception as exc:  # the model failed: every waiter hears it, others go on
            log.exception("ASR batch of %d failed", len(batch))
            error = exc if isinstance(exc, ModelError) else ModelError(
                f"speech recognition failed: {type(exc).__name__}"
            )
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        finally:
            self._last_end = time.monotonic()
            self._set_free(self._last_end, self._free + 1)
            self._wakeup.set()
        self._account(batch, start)
        for item, decode in zip(batch, decodes, strict=True):
            if not item.future.done():  # the session may have gone away
                item.future.set_result(
                    Timed(decode, start - item.submitted, decode.asr_s, len(batch))
                )

    def _take(self, share: int) -> list[_Item]:
        """The oldest ready requests of one task, up to `share` and max_batch, skipping
        cancelled ones."""
        while self._queue and self._queue[0].future.done():
            self._queue.popleft()
        if not self._queue:
            return []
        task = self._queue[0].task
        batch: list[_Item] = []
        keep: deque[_Item] = deque()
        while self._queue and len(batch) < min(share, self.opts.max_batch):
            item = self._queue.popleft()
            if item.future.done():
                continue
            (batch if item.task == task else keep).append(item)
        self._queue.extendleft(reversed(keep))
        return batch

    def _decode(self, batch: list[_Item], crowded: bool) -> list[Decode]:
        requests = [i.request for i in batch]
        task = batch[0].task
        if isinstance(self.engine, BatchEngine):
            return self.engine.transcribe_batch(requests, task, crowded=crowded)
        return [self.engine.transcribe(r, task) for r in requests]

    def _set_free(self, now: float, free: int) -> None:
        self._busy_area += self.busy * (now - self._mark)
        self._mark = now
        self._free = free

    def _account(self, batch: list[_Item], start: float) -> None:
        """After each call: the pool's busy share since the previous call ended."""
        a = self.opts.ewma
        now = self._mark
        span = max(now - self._sample_start, 1e-6) * self.opts.workers
        share = min(1.0, self._busy_area / span)
        self._busy_area, self._sample_start = 0.0, now
        self.utilization = (1 - a) * self.utilization + a * share
        wait = max(start - i.submitted for i in batch)
        self.queue_wait_s = (1 - a) * self.queue_wait_s + a * wait
        self.batches += 1
        self.decoded += len(batch)
        self.largest_batch = max(self.largest_batch, len(batch))

    def load(self) -> float:
        """Busy fraction, decayed towards 0 while nothing has run for a while."""
        quiet = time.monotonic() - self._last_end
        if self._queue or self._calls or quiet < 1.0:
            return self.utilization
        return self.utilization * max(0.0, 1.0 - (quiet - 1.0) / 5.0)

    async def aclose(self) -> None:
        for task in (self._worker, *self._calls):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(ModelError("server shutting down"))
        self._queue.clear()
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
