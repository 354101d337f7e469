"""What the rest of the server needs to know about a resolved model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

#: The model family: how a model is framed (language tokens, prompt) and run.
#: argos/marian/nllb/m2m100/mbart/t5: CTranslate2 Translator (encoder-decoder);
#: llm: a decoder-only model run with CTranslate2 Generator and a prompt.
MtKind = Literal["argos", "marian", "nllb", "m2m100", "mbart", "t5", "llm"]
MT_KINDS: tuple[MtKind, ...] = ("argos", "marian", "nllb", "m2m100", "mbart", "t5", "llm")


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
class LlmPrompt:
    """How a decoder-only model is asked to translate.

    `template` is the whole prompt up to the start of the answer (chat markup included,
    rendered once at conversion time from the tokenizer's chat template) with the
    placeholders {source_language}, {target_language} (English names) and {text}.
    """

    template: str
    #: Tokens that end an answer (end of turn, end of text).
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class MtModelInfo:
    """A CTranslate2 translation model with its tokenizer (SentencePiece or tokenizer.json)."""

    name: str
    kind: MtKind
    path: Path  # CTranslate2 model directory (model.bin, shared_vocabulary.* ...)
    #: SentencePiece model for the source side (None: the model uses `tokenizer`).
    sp_source: Path | None
    #: SentencePiece model for the target side (often the same file).
    sp_target: Path | None
    #: Pairs this model translates, as (source, target) ISO 639-1 codes.
    pairs: tuple[tuple[str, str], ...]
    #: For multilingual models: ISO 639-1 -> the model's language token, e.g. {"fr":
    #: "fra_Latn"} (NLLB), "__fr__" (M2M100), "fr_XX" (mBART-50), "<2fr>" (MADLAD/T5),
    #: ">>fra<<" (multi-target Marian). Empty for single-pair models and LLMs.
    lang_tokens: dict[str, str] = field(default_factory=dict)
    #: A Hugging Face tokenizer.json, for models without a SentencePiece model (LLMs).
    tokenizer: Path | None = None
    #: LLMs only: the prompt.
    prompt: LlmPrompt | None = None

    @property
    def needs_target_prefix(self) -> bool:
        """The output starts with the target language's token (forced as a prefix)."""
        return self.kind in ("nllb", "m2m100", "mbart")

    def covers(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs
