"""What is loaded once per process and shared by every session."""

from __future__ import annotations

import logging
from typing import Any

from server.asr.batched import BatchedWhisperEngine
from server.asr.scheduler import AsrScheduler, SchedulerOptions
from server.asr.whisper import WhisperEngine
from server.audio.vad import SileroVadModel, VadStream
from server.config import ServerConfig
from server.errors import OverloadedError
from server.models.resolve import resolve_asr, resolve_mt
from server.models.types import AsrModelInfo, MtModelInfo
from server.mt.incremental import IncrementalOptions
from server.mt.requests import TranslationRequest, TranslationResult
from server.mt.router import TranslationRouter
from server.mt.routes import describe_available, route_json, route_table
from server.mt.scheduler import TranslationScheduler
from server.mt.translator import Translator, TranslatorOptions

log = logging.getLogger(__name__)


class Services:
    def __init__(
        self,
        config: ServerConfig,
        asr_info: AsrModelInfo,
        asr: AsrScheduler,
        vad_model: SileroVadModel,
        mt_models: list[MtModelInfo],
        mt: TranslationRouter,
    ) -> None:
        self.config = config
        self.asr_info = asr_info
        self.asr = asr
        self.vad_model = vad_model
        self.mt_models = mt_models
        self.mt = mt

    @classmethod
    def load(cls, config: ServerConfig) -> Services:
        """Resolve and load every model named in the config (blocking; call once)."""
        # Every name resolved before any model loads: a wrong `--mt-model` fails at once.
        asr_info = resolve_asr(config.asr_model)
        infos = [resolve_mt(spec) for spec in config.mt_models]
        engine = (
            BatchedWhisperEngine(asr_info, config.asr, config.batch)
            if config.asr_engine == "batched"
            else WhisperEngine(asr_info, config.asr)
        )
        engine.warm_up()
        opts = TranslatorOptions(compute_type=config.mt_compute_type)
        router = TranslationRouter([TranslationScheduler(Translator(i, opts)) for i in infos])
        asr = AsrScheduler(engine, SchedulerOptions(workers=engine.opts.workers))
        return cls(config, asr_info, asr, SileroVadModel(), infos, router)

    async def start(self) -> None:
        await self.mt.start()

    async def aclose(self) -> None:
        await self.mt.aclose()
        await self.asr.aclose()

    # -- load: adaptive cadence and admission control ----------------------------

    def decode_interval(self, base: float | None = None) -> float:
        """Re-decode cadence for the current load: stretches from `base` (default: the
        configured interval; a session's latency mode may set its own) when idle to
        `max_cadence_stretch` times it (saturated)."""
        base = self.config.policy.decode_interval_s if base is None else base
        over = max(0.0, self.asr.load() - 0.5) / 0.5
        return base * (1.0 + (self.config.admission.max_cadence_stretch - 1.0) * over)

    def overload(self) -> OverloadedError | None:
        """An error to refuse a new session with, or None when it can be served."""
        adm = self.config.admission
        if self.asr.queue_wait_s > adm.max_queue_wait_s and self.asr.load() > adm.max_load:
            return OverloadedError(
                f"speech recognition is saturated (requests wait {self.asr.queue_wait_s:.1f} s); "
                "try again shortly",
                retry_after_ms=adm.retry_after_ms,
            )
        return None

    def new_vad(self) -> VadStream:
        return VadStream(self.vad_model)

    # -- translation ---------------------------------------------------------

    def mt_targets_any(self, target: str) -> bool:
        return any(t == target for _, t in self.mt.pairs)

    def config_mt_incremental(self) -> IncrementalOptions:
        return IncrementalOptions()

    async def translate(self, request: TranslationRequest, *, final: bool) -> TranslationResult:
        return await self.mt.translate(request, priority="final" if final else "partial")

    def describe_pairs(self) -> str:
        available = describe_available(self.asr_info, self.mt.pair_models)
        return "nothing (no translation model loaded)" if available == "nothing" else available

    def describe_routes(self) -> list[dict[str, Any]]:
        """Every (source, target) this server serves and its route (`/v1/models`); source
        "*" stands for every other language the recognizer speaks."""
        return [
            {"source": source, "target": target, **route_json(route)}
            for source, target, route in route_table(self.asr_info, self.mt.pair_models)
        ]

    def _batching(self) -> dict[str, Any]:
        """The batched engine's encoder windows and beam widths as chosen at start-up
        (alone / crowded)."""
        engine = self.asr.engine
        if not isinstance(engine, BatchedWhisperEngine):
            return {}
        return {"windows_s": {"alone": list(engine.buckets(crowded=False)),
                              "crowded": list(engine.buckets(crowded=True))},
                "beam": {"alone": engine.beam(crowded=False),
                         "crowded": engine.beam(crowded=True)}}

    def describe_models(self) -> dict[str, Any]:
        a = self.asr_info
        return {
            "asr": {
                "name": a.name,
                "multilingual": a.multilingual,
                "languages": list(a.languages),
                "translate_to_english": a.can_translate_to_english,
                "engine": self.config.asr_engine,
                **self._batching(),
            },
            "mt": [
                {"name": m.name, "kind": m.kind, "pairs": [list(p) for p in m.pairs]}
                for m in self.mt_models
            ],
        }
