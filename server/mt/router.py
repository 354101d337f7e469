"""Picks the loaded translation model (its scheduler) for a language pair.

`--mt-model` may be given several times; each model gets its own Translator
and TranslationScheduler, and the router sends a (source, target) pair to the
first one, in the order given, that covers it. Which pairs are chained through
English is decided above this layer (`server.mt.routes`); the router only ever
sees single hops.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.errors import UnsupportedError
from server.mt.requests import TranslationRequest, TranslationResult
from server.mt.scheduler import Priority, TranslationScheduler


class TranslationRouter:
    def __init__(self, schedulers: Sequence[TranslationScheduler]) -> None:
        self._schedulers = tuple(schedulers)
        self._routes: dict[tuple[str, str], TranslationScheduler] = {}

    @property
    def schedulers(self) -> tuple[TranslationScheduler, ...]:
        return self._schedulers

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every pair some model covers, first model first, without repeats."""
        seen: dict[tuple[str, str], None] = {}
        for scheduler in self._schedulers:
            for pair in scheduler.translator.supported_pairs:
                seen.setdefault(pair, None)
        return tuple(seen)

    @property
    def pair_models(self) -> dict[tuple[str, str], str]:
        """Every pair some model covers -> the name of the model that serves it (the first
        one given that covers it, as `route` picks)."""
        found: dict[tuple[str, str], str] = {}
        for scheduler in self._schedulers:
            for pair in scheduler.translator.supported_pairs:
                found.setdefault(pair, scheduler.name)
        return found

    def covers(self, source: str, target: str) -> bool:
        return self._find(source, target) is not None

    def route(self, source: str, target: str) -> TranslationScheduler:
        """The scheduler of the model for source -> target; UnsupportedError if none."""
        scheduler = self._find(source, target)
        if scheduler is None:
            raise UnsupportedError(
                f"no translation model for {source}->{target}", code="unsupported_pair"
            )
        return scheduler

    async def translate(
        self, request: TranslationRequest, *, priority: Priority
    ) -> TranslationResult:
        return await self.route(request.source, request.target).translate(
            request, priority=priority
        )

    async def start(self) -> None:
        for scheduler in self._schedulers:
            await scheduler.start()

    async def aclose(self) -> None:
        for scheduler in self._schedulers:
            await scheduler.aclose()

    def _find(self, source: str, target: str) -> TranslationScheduler | None:
        key = (source, target)
        if key not in self._routes:
            for scheduler in self._schedulers:
                if scheduler.covers(source, target):
                    self._routes[key] = scheduler
                    break
            else:
                return None
        return self._routes[key]
