"""TranslationScheduler and TranslationRouter with a fake translator."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from server.errors import ModelError, UnsupportedError
from server.mt.requests import TranslationRequest, TranslationResult
from server.mt.router import TranslationRouter
from server.mt.scheduler import Dropped, SchedulerOptions, TranslationScheduler


class FakeTranslator:
    """Upper-cases text; records every batch; can be gated and made to fail."""

    def __init__(
        self, name: str = "fake", pairs: tuple[tuple[str, str], ...] = (("zh", "en"),)
    ) -> None:
        self._name = name
        self._pairs = pairs
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.gate: threading.Event | None = None  # when set, calls block until it opens
        self.entered = threading.Event()
        self.fail_on: str | None = None  # text that makes a batch raise
        self.boom: Exception = RuntimeError("model exploded")

    @property
    def name(self) -> str:
        return self._name

    @property
    def supported_pairs(self) -> tuple[tuple[str, str], ...]:
        return self._pairs

    def covers(self, source: str, target: str) -> bool:
        return (source, target) in self._pairs

    def translate_batch(self, requests: Sequence[TranslationRequest]) -> list[TranslationResult]:
        self.threads.add(threading.get_ident())
        self.calls.append([r.text for r in requests])
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail_on is not None and any(r.text == self.fail_on for r in requests):
            raise self.boom
        return [TranslationResult(r.text.upper(), len(r.text)) for r in requests]


def req(text: str) -> TranslationRequest:
    return TranslationRequest(text=text, source="zh", target="en")


async def started(translator: FakeTranslator, **options: float) -> TranslationScheduler:
    scheduler = TranslationScheduler(translator, SchedulerOptions(**options))  # type: ignore[arg-type]
    await scheduler.start()
    return scheduler


async def wait_entered(translator: FakeTranslator) -> None:
    assert await asyncio.to_thread(translator.entered.wait, 5)
    translator.entered.clear()


async def test_concurrent_requests_share_one_batch() -> None:
    fake = FakeTranslator()
    scheduler = await started(fake)
    try:
        results = await asyncio.gather(
            *(scheduler.translate(req(f"s{i}"), priority="final") for i in range(5))
        )
    finally:
        await scheduler.aclose()
    assert [r.text for r in results] == [f"S{i}" for i in range(5)]
    assert len(fake.calls) == 1 and sorted(fake.calls[0]) == [f"s{i}" for i in range(5)]
    assert all(r.mt_ms >= 0 and r.queue_ms >= 0 for r in results)
    assert scheduler.stats.batches == 1 and scheduler.stats.largest_batch == 5


async def test_idle_worker_waits_briefly_for_companions() -> None:
    """A request that reaches an idle worker waits up to max_wait_s for others."""
    for wait, expected_calls in ((0.2, 1), (0.0, 2)):
        fake = FakeTranslator()
        scheduler = await started(fake, max_wait_s=wait)
        try:
            first = asyncio.create_task(scheduler.translate(req("a"), priority="final"))
            await asyncio.sleep(0.02)  # 20 ms later, from another session
            await asyncio.gather(first, scheduler.translate(req("b"), priority="final"))
        finally:
            await scheduler.aclose()
        assert len(fake.calls) == expected_calls, (wait, fake.calls)


async def test_all_calls_run_on_one_worker_thread() -> None:
    fake = FakeTranslator()
    scheduler = await started(fake, max_wait_s=0.0)
    try:
        for i in range(3):
            await scheduler.translate(req(f"s{i}"), priority="partial")
    finally:
        await scheduler.aclose()
    assert len(fake.calls) == 3
    assert len(fake.threads) == 1 and threading.get_ident() not in fake.threads


async def test_batch_size_is_bounded() -> None:
    fake = FakeTranslator()
    scheduler = await started(fake, max_batch=4)
    try:
        await asyncio.gather(
            *(scheduler.translate(req(f"s{i}"), priority="final") for i in range(10))
        )
    finally:
        await scheduler.aclose()
    assert [len(c) for c in fake.calls] == [4, 4, 2]


async def test_finals_go_before_partials() -> None:
    fake = FakeTranslator()
    fake.gate = threading.Event()
    scheduler = await started(fake, max_batch=3, max_wait_s=0.0)
    try:
        first = asyncio.create_task(scheduler.translate(req("busy"), priority="partial"))
        await wait_entered(fake)  # the worker is now inside a model call
        tasks = [
            asyncio.create_task(scheduler.translate(req(text), priority=prio))  # type: ignore[arg-type]
            for text, prio in [
                ("p1", "partial"),
                ("p2", "partial"),
                ("f1", "final"),
                ("p3", "partial"),
                ("f2", "final"),
            ]
        ]
        await asyncio.sleep(0.01)
        fake.gate.set()
        await asyncio.gather(first, *tasks)
    finally:
        await scheduler.aclose()
    assert fake.calls == [["busy"], ["f1", "f2", "p1"], ["p2", "p3"]]


async def test_model_error_reaches_caller_and_scheduler_keeps_serving() -> None:
    fake = FakeTranslator()
    fake.fail_on = "bad"
    scheduler = await started(fake)
    try:
        with pytest.raises(ModelError) as info:
            await scheduler.translate(req("bad"), priority="final")
        assert info.value.code == "model_error"
        assert info.value.__cause__ is fake.boom
        ok = await scheduler.translate(req("good"), priority="final")
        assert ok.text == "GOOD"
    finally:
        await scheduler.aclose()
    assert scheduler.stats.failed == 1


async def test_failing_request_only_fails_its_own_caller() -> None:
    fake = FakeTranslator()
    fake.fail_on = "bad"
    scheduler = await started(fake)
    try:
        outcomes = await asyncio.gather(
            scheduler.translate(req("a"), priority="final"),
            scheduler.translate(req("bad"), priority="final"),
            scheduler.translate(req("b"), priority="partial"),
            return_exceptions=True,
        )
    finally:
        await scheduler.aclose()
    assert isinstance(outcomes[0], TranslationResult) and outcomes[0].text == "A"
    assert isinstance(outcomes[1], ModelError)
    assert isinstance(outcomes[2], TranslationResult) and outcomes[2].text == "B"
    assert fake.calls[0] == ["a", "bad", "b"]  # one batch, then retried one by one


async def test_parley_errors_pass_through_unchanged() -> None:
    fake = FakeTranslator()
    fake.fail_on = "x"
    fake.boom = UnsupportedError("no", code="unsupported_pair")
    scheduler = await started(fake)
    try:
        with pytest.raises(UnsupportedError) as info:
            await scheduler.translate(req("x"), priority="final")
    finally:
        await scheduler.aclose()
    assert info.value.code == "unsupported_pair"


async def test_bounded_queue_drops_partials_never_finals() -> None:
    fake = FakeTranslator()
    fake.gate = threading.Event()
    scheduler = await started(fake, max_queue=2, max_batch=8, max_wait_s=0.0)
    try:
        busy = asyncio.create_task(scheduler.translate(req("busy"), priority="final"))
        await wait_entered(fake)
        p1 = asyncio.create_task(scheduler.translate(req("p1"), priority="partial"))
        p2 = asyncio.create_task(scheduler.translate(req("p2"), priority="partial"))
        await asyncio.sleep(0)
        assert scheduler.stats.queued == 2
        with pytest.raises(Dropped):  # queue full: a partial is refused at once
            await scheduler.translate(req("p3"), priority="partial")
        f1 = asyncio.create_task(scheduler.translate(req("f1"), priority="final"))
        await asyncio.sleep(0)
        with pytest.raises(Dropped):  # the final took the place of the oldest partial
            await p1
        f2 = asyncio.create_task(scheduler.translate(req("f2"), priority="final"))
        f3 = asyncio.create_task(scheduler.translate(req("f3"), priority="final"))
        await asyncio.sleep(0.01)
        assert scheduler.stats.queued == 2  # bound holds: f3 waits for room
        assert not f3.done()
        fake.gate.set()
        results = await asyncio.gather(busy, p2, f1, f2, f3, return_exceptions=True)
    finally:
        await scheduler.aclose()
    texts = [r.text if isinstance(r, TranslationResult) else type(r).__name__ for r in results]
    assert texts[0] == "BUSY" and texts[2:] == ["F1", "F2", "F3"]
    assert texts[1] == "Dropped"  # p2 was evicted by f2
    assert scheduler.stats.dropped == 3
    assert max(len(c) for c in fake.calls) <= 8


async def test_cancelled_caller_is_skipped() -> None:
    fake = FakeTranslator()
    fake.gate = threading.Event()
    scheduler = await started(fake, max_wait_s=0.0)
    try:
        busy = asyncio.create_task(scheduler.translate(req("busy"), priority="final"))
        await wait_entered(fake)
        gone = asyncio.create_task(scheduler.translate(req("gone"), priority="partial"))
        kept = asyncio.create_task(scheduler.translate(req("kept"), priority="partial"))
        await asyncio.sleep(0)
        gone.cancel()
        fake.gate.set()
        await busy
        assert (await kept).text == "KEPT"
    finally:
        await scheduler.aclose()
    assert ["gone"] not in fake.calls and all("gone" not in c for c in fake.calls)


async def test_aclose_translates_queued_finals_and_drops_partials() -> None:
    fake = FakeTranslator()
    fake.gate = threading.Event()
    scheduler = await started(fake, max_wait_s=0.0)
    busy = asyncio.create_task(scheduler.translate(req("busy"), priority="final"))
    await wait_entered(fake)
    fin = asyncio.create_task(scheduler.translate(req("fin"), priority="final"))
    part = asyncio.create_task(scheduler.translate(req("part"), priority="partial"))
    await asyncio.sleep(0)
    closing = asyncio.create_task(scheduler.aclose())
    await asyncio.sleep(0.01)
    fake.gate.set()
    await closing
    assert (await busy).text == "BUSY" and (await fin).text == "FIN"
    with pytest.raises(Dropped):
        await part
    with pytest.raises(Dropped):
        await scheduler.translate(req("late"), priority="final")


async def test_translate_before_start_is_an_error() -> None:
    scheduler = TranslationScheduler(FakeTranslator())
    with pytest.raises(RuntimeError):
        await scheduler.translate(req("x"), priority="final")


async def test_router_picks_first_covering_model() -> None:
    a = FakeTranslator("a", (("zh", "en"), ("de", "en")))
    b = FakeTranslator("b", (("de", "en"), ("en", "fr")))
    router = TranslationRouter([TranslationScheduler(a), TranslationScheduler(b)])
    await router.start()
    try:
        assert router.covers("de", "en") and router.covers("en", "fr")
        assert not router.covers("en", "zh")
        assert router.route("de", "en").name == "a"
        assert router.route("en", "fr").name == "b"
        assert router.pairs == (("zh", "en"), ("de", "en"), ("en", "fr"))
        with pytest.raises(UnsupportedError) as info:
            router.route("en", "zh")
        assert info.value.code == "unsupported_pair"
        result = await router.translate(TranslationRequest("bonjour", "en", "fr"), priority="final")
        assert result.text == "BONJOUR"
    finally:
        await router.aclose()
    assert a.calls == [] and b.calls == [["bonjour"]]
