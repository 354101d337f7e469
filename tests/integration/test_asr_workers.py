"""Parallel recognition workers on one shared model (`--asr-workers`), real tiny.en on
real speech: calls really overlap, and each gives what it gives alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from server.asr.batched import BatchedWhisperEngine, BatchOptions
from server.asr.scheduler import AsrScheduler, SchedulerOptions
from server.asr.whisper import AsrOptions, Decode, Task, WhisperEngine
from server.models.resolve import resolve_asr
from server.streaming.events import AsrRequest
from server.streaming.words import join_words
from tests.integration.test_asr_batched import requests

WORKERS = AsrOptions(cpu_threads=1, workers=2)


class Overlap:
    """Counts the engine calls in flight at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._now -= 1


class CountedBatched(BatchedWhisperEngine):
    overlap = Overlap()

    def transcribe_batch(
        self, requests: Sequence[AsrRequest], task: Task = "transcribe", *,
        word_timestamps: bool = True, crowded: bool = False,
    ) -> list[Decode]:
        with self.overlap:
            return super().transcribe_batch(
                requests, task, word_timestamps=word_timestamps, crowded=crowded
            )


class CountedWhisper(WhisperEngine):
    overlap = Overlap()

    def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Decode:
        with self.overlap:
            return super().transcribe(request, task)


async def through_scheduler(engine: WhisperEngine, reqs: list[AsrRequest]) -> list[str]:
    """Every request submitted at once, as many sessions would, on two workers."""
    sched = AsrScheduler(engine, SchedulerOptions(workers=2, max_batch=1))
    try:
        timed = await asyncio.gather(*(sched.transcribe(r) for r in reqs))
    finally:
        await sched.aclose()
    return [join_words(t.decode.result.words) for t in timed]


@pytest.mark.parametrize("engine_class", [CountedBatched, CountedWhisper])
def test_two_workers_decode_at_once_and_each_call_gives_its_own_text(
    engine_class: type[CountedBatched | CountedWhisper],
) -> None:
    engine = engine_class(resolve_asr("tiny.en"), WORKERS)
    if isinstance(engine, BatchedWhisperEngine):
        # Crowded calls pick other windows and beams (other text): one set for the comparison.
        engine.batch_opts = BatchOptions(
            crowded_window_buckets_s=None, crowded_beam_size=BatchOptions().beam_size
        )
    assert engine._model.model.num_workers == 2  # CTranslate2 replicas of one model
    reqs = requests()[:8]
    alone = [join_words(engine.transcribe(r).result.words) for r in reqs]
    assert engine.overlap.most == 1 and all(alone)
    parallel = asyncio.run(through_scheduler(engine, reqs))
    assert engine.overlap.most == 2
    assert parallel == alone


def test_requests_that_share_the_cpu_take_the_crowded_windows() -> None:
    engine = BatchedWhisperEngine(resolve_asr("tiny.en"), WORKERS)
    reqs = requests()[:4]
    alone = [join_words(engine.transcribe(r).result.words) for r in reqs]
    assert engine.stats["crowded"] == 0 and all(alone)
    crowded = asyncio.run(through_scheduler(engine, reqs))
    assert engine.stats["crowded"] >= 3  # all but perhaps the first call
    assert all(crowded)
