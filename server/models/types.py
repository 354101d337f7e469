"""What the rest of the server needs to know about a resolved model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MtKind = Literal["argos", "marian", "nllb", "m2m100"]


@dataclass(frozen=True)
class AsrModelInfo:
    """A faster-whisper (CTranslate2) model directory ready to load."""

    name: str  # "tiny.en", "base", or the directory / repo id it came from
    path: Path  # CTranslate2 model directory (model.bin, config.json, tokenizer.json, ...)
    multilingual: bool  # False for *.en models
    #: ISO 639-1 codes the model recognizes; ("en",) for English-only models.
    languages: tuple[str, ...]

    @property
    def can_translate_to_english(self) -> bool:
        """Whisper's `translate` task gives any supported language -> English."""
        return self.multilingual


@dataclass(frozen=True)
class MtModelInfo:
    """A CTranslate2 translation model with its SentencePiece model(s)."""

    name: str
    kind: MtKind
    path: Path  # CTranslate2 model directory (model.bin, shared_vocabulary.* ...)
    sp_source: Path  # SentencePiece model for the source side
    sp_target: Path  # SentencePiece model for the target side (often the same file)
    #: Pairs this model translates, as (source, target) ISO 639-1 codes.
    pairs: tuple[tuple[str, str], ...]
    #: For multilingual models (NLLB, M2M100): ISO 639-1 -> the model's language token,
    #: e.g. {"fr": "fra_Latn"} or {"fr": "__fr__"}. Empty for single-pair models.
    lang_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def needs_target_prefix(self) -> bool:
        return self.kind in ("nllb", "m2m100")

    def covers(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs
