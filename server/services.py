"""What is loaded once per process and shared by every session."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from server.asr.scheduler import AsrScheduler
from server.asr.whisper import WhisperEngine
from server.audio.vad import SileroVadModel, VadStream
from server.config import ServerConfig
from server.models.resolve import resolve_asr, resolve_mt
from server.models.types import AsrModelInfo, MtModelInfo
from server.mt.incremental import IncrementalOptions
from server.mt.requests import TranslationRequest, TranslationResult
from server.mt.scheduler import TranslationScheduler
from server.mt.translator import Translator, TranslatorOptions

log = logging.getLogger(__name__)


@dataclass
class _MtModel:
    info: MtModelInfo
    scheduler: TranslationScheduler


class Services:
    def __init__(
        self,
        config: ServerConfig,
        asr_info: AsrModelInfo,
        asr: AsrScheduler,
        vad_model: SileroVadModel,
        mt: list[_MtModel],
    ) -> None:
        self.config = config
        self.asr_info = asr_info
        self.asr = asr
        self.vad_model = vad_model
        self._mt = mt

    @classmethod
    def load(cls, config: ServerConfig) -> Services:
        """Resolve and load every model named in the config (blocking; call once)."""
        asr_info = resolve_asr(config.asr_model)
        engine = WhisperEngine(asr_info, config.asr)
        engine.warm_up()
        mt: list[_MtModel] = []
        for spec in config.mt_models:
            info = resolve_mt(spec)
            translator = Translator(info, TranslatorOptions(compute_type=config.mt_compute_type))
            mt.append(_MtModel(info, TranslationScheduler(translator)))
        return cls(config, asr_info, AsrScheduler(engine), SileroVadModel(), mt)

    async def start(self) -> None:
        for m in self._mt:
            await m.scheduler.start()

    async def aclose(self) -> None:
        for m in self._mt:
            await m.scheduler.aclose()
        await self.asr.aclose()

    def new_vad(self) -> VadStream:
        return VadStream(self.vad_model)

    # -- translation ---------------------------------------------------------

    def _mt_for(self, source: str, target: str) -> _MtModel | None:
        return next((m for m in self._mt if m.info.covers(source, target)), None)

    def mt_covers(self, source: str, target: str) -> bool:
        return self._mt_for(source, target) is not None

    def mt_targets_any(self, target: str) -> bool:
        return any(t == target for m in self._mt for _, t in m.info.pairs)

    def config_mt_incremental(self) -> IncrementalOptions:
        return IncrementalOptions()

    async def translate(self, request: TranslationRequest, *, final: bool) -> TranslationResult:
        model = self._mt_for(request.source, request.target)
        if model is None:
            from server.errors import UnsupportedError

            raise UnsupportedError(
                f"no model translates {request.source} -> {request.target}",
                code="unsupported_pair",
            )
        return await model.scheduler.translate(request, priority="final" if final else "partial")

    def describe_pairs(self) -> str:
        pairs = [f"{s}->{t}" for m in self._mt for s, t in m.info.pairs]
        if self.asr_info.can_translate_to_english:
            pairs.append("any->en (Whisper translate)")
        return ", ".join(pairs) or "nothing (no translation model loaded)"

    def describe_models(self) -> dict[str, Any]:
        a = self.asr_info
        return {
            "asr": {
                "name": a.name,
                "multilingual": a.multilingual,
                "languages": list(a.languages),
                "translate_to_english": a.can_translate_to_english,
            },
            "mt": [
                {"name": m.info.name, "kind": m.info.kind, "pairs": [list(p) for p in m.info.pairs]}
                for m in self._mt
            ],
        }
