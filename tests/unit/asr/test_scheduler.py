"""The ASR scheduler with a fake engine: batching, fairness, failure isolation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from server.asr.scheduler import AsrScheduler, SchedulerOptions
from server.asr.whisper import Decode, Task
from server.errors import ModelError
from server.streaming.events import AsrRequest, AsrResult
from server.streaming.words import Word


def request(i: int) -> AsrRequest:
    return AsrRequest(i, np.zeros(1600, np.float32), 0.0, 0.1, "", "en", False)


class FakeBatchEngine:
    def __init__(self, fail_on: int | None = None, delay_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.crowded: list[bool] = []
        self.fail_on = fail_on
        self.delay_s = delay_s
        self.gate = threading.Event()
        self.gate.set()

    def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Decode:
        return self.transcribe_batch([request], task)[0]

    def transcribe_batch(
        self, requests: Sequence[AsrRequest], task: Task = "transcribe", *, crowded: bool = False
    ) -> list[Decode]:
        self.crowded.append(crowded)  # in the order the calls start
        self.gate.wait(5)
        time.sleep(self.delay_s)
        ids = [r.id for r in requests]
        self.batches.append(ids)
        if self.fail_on in ids:
            raise RuntimeError("boom")
        return [Decode(AsrResult([Word(f" w{r.id}", 0, 0.1)], "en"), 0.01) for r in requests]


async def test_concurrent_requests_share_one_batch() -> None:
    engine = FakeBatchEngine()
    sched = AsrScheduler(engine, SchedulerOptions(max_batch=8, max_wait_s=0.01))
    results = await asyncio.gather(*(sched.transcribe(request(i)) for i in range(5)))
    assert engine.batches == [[0, 1, 2, 3, 4]]
    assert [r.decode.result.words[0].text for r in results] == [f" w{i}" for i in range(5)]
    assert all(r.batch == 5 for r in results)
    await sched.aclose()


async def test_batches_are_bounded_and_fifo() -> None:
    engine = FakeBatchEngine()
    sched = AsrScheduler(engine, SchedulerOptions(max_batch=3, max_wait_s=0.01))
    await asyncio.gather(*(sched.transcribe(request(i)) for i in range(7)))
    assert engine.batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert sched.largest_batch == 3 and sched.decoded == 7
    await sched.aclose()


async def test_a_failing_batch_fails_its_waiters_and_the_next_one_runs() -> None:
    engine = FakeBatchEngine(fail_on=1)
    sched = AsrScheduler(engine, SchedulerOptions(max_batch=2, max_wait_s=0.01))
    outcomes = await asyncio.gather(
        *(sched.transcribe(request(i)) for i in range(4)), return_exceptions=True
    )
    assert isinstance(outcomes[0], ModelError) and isinstance(outcomes[1], ModelError)
    assert not isinstance(outcomes[2], BaseException) and not isinstance(outcomes[3], BaseException)
    await sched.aclose()


async def test_load_reflects_busy_time() -> None:
    engine = FakeBatchEngine()
    sched = AsrScheduler(engine, SchedulerOptions(max_batch=1, max_wait_s=0, ewma=0.5))
    for i in range(6):
        await sched.transcribe(request(i))
    assert 0.0 < sched.load() <= 1.0
    await sched.aclose()


async def test_aclose_fails_queued_requests() -> None:
    engine = FakeBatchEngine()
    engine.gate.clear()
    sched = AsrScheduler(engine, SchedulerOptions(max_batch=1, max_wait_s=0))
    first = asyncio.create_task(sched.transcribe(request(0)))
    second = asyncio.create_task(sched.transcribe(request(1)))
    await asyncio.sleep(0.05)
    engine.gate.set()
    await sched.aclose()
    with pytest.raises(ModelError):
        await second
    first.cancel()


class FakeParallelEngine(FakeBatchEngine):
    """Each call waits for `meet` calls to be inside the engine at once."""

    def __init__(self, meet: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(meet)

    def transcribe_batch(
        self, requests: Sequence[AsrRequest], task: Task = "transcribe", *, crowded: bool = False
    ) -> list[Decode]:
        self.barrier.wait(2)  # BrokenBarrierError unless the calls overlap
        return super().transcribe_batch(requests, task, crowded=crowded)


async def test_workers_decode_in_parallel_one_request_each() -> None:
    engine = FakeParallelEngine(meet=2)
    sched = AsrScheduler(engine, SchedulerOptions(workers=2, max_batch=8, max_wait_s=0.01))
    results = await asyncio.gather(*(sched.transcribe(request(i)) for i in range(2)))
    assert sorted(engine.batches) == [[0], [1]]
    assert [r.batch for r in results] == [1, 1]
    await sched.aclose()


async def test_one_worker_decodes_one_call_at_a_time() -> None:
    engine = FakeParallelEngine(meet=2)
    sched = AsrScheduler(engine, SchedulerOptions(workers=1, max_batch=1, max_wait_s=0))
    outcomes = await asyncio.gather(
        *(sched.transcribe(request(i)) for i in range(2)), return_exceptions=True
    )
    assert all(isinstance(o, ModelError) for o in outcomes)  # the barrier never met
    await sched.aclose()


async def test_a_backlog_is_split_among_the_workers() -> None:
    engine = FakeBatchEngine()
    engine.gate.clear()
    sched = AsrScheduler(engine, SchedulerOptions(workers=2, max_batch=8, max_wait_s=0))
    first = [asyncio.create_task(sched.transcribe(request(i))) for i in range(2)]
    await asyncio.sleep(0.05)  # both workers hold one request, blocked in the engine
    rest = [asyncio.create_task(sched.transcribe(request(i))) for i in range(2, 6)]
    await asyncio.sleep(0.05)
    engine.gate.set()
    await asyncio.gather(*first, *rest)
    # The first worker free takes its half of the four; of the two left, the second
    # takes one and leaves one for whichever finishes next.
    assert sorted(map(sorted, engine.batches)) == [[0], [1], [2, 3], [4], [5]]
    await sched.aclose()


async def test_a_lone_call_is_not_crowded_and_a_shared_cpu_is() -> None:
    engine = FakeBatchEngine()
    opts = SchedulerOptions(workers=2, max_batch=8, max_wait_s=0, crowd_hold_s=0.3)
    sched = AsrScheduler(engine, opts)
    for i in range(2):  # one session, one decode at a time
        await sched.transcribe(request(i))
    assert engine.crowded == [False, False]
    engine.gate.clear()
    first = asyncio.create_task(sched.transcribe(request(2)))
    await asyncio.sleep(0.05)  # in the engine, alone
    second = asyncio.create_task(sched.transcribe(request(3)))  # beside a running call
    await asyncio.sleep(0.05)
    engine.gate.set()
    await asyncio.gather(first, second)
    assert engine.crowded == [False, False, False, True]
    await sched.transcribe(request(9))  # alone, but sessions were just speaking at once
    await asyncio.sleep(0.35)
    await sched.transcribe(request(10))  # alone, the hold is over
    assert engine.crowded[-2:] == [True, False]
    engine.crowded.clear()
    await asyncio.gather(*(sched.transcribe(request(i)) for i in range(4, 8)))
    assert len(engine.crowded) >= 2 and all(engine.crowded)  # a backlog, split
    await sched.aclose()


async def test_load_is_the_busy_share_of_the_whole_pool() -> None:
    engine = FakeBatchEngine(delay_s=0.05)
    one = AsrScheduler(engine, SchedulerOptions(workers=1, max_batch=1, max_wait_s=0, ewma=1.0))
    two = AsrScheduler(engine, SchedulerOptions(workers=2, max_batch=1, max_wait_s=0, ewma=1.0))
    for sched in (one, two):
        for i in range(3):  # back to back: one worker always busy
            await sched.transcribe(request(i))
    assert one.load() > 0.8
    assert 0.3 < two.load() < 0.6  # one worker of two
    await one.aclose()
    await two.aclose()


def test_options_refuse_a_negative_crowd_hold() -> None:
    with pytest.raises(ValueError, match="crowd_hold_s"):
        SchedulerOptions(crowd_hold_s=-1.0)


def test_options_refuse_no_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        SchedulerOptions(workers=0)
