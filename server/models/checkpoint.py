"""What a Transformers checkpoint is, read from its files without loading it: the model
family, which tokenizer files serve it, and which languages it translates.

Families (`MtKind`) by config.json `model_type`:
  marian -> marian; m2m_100 -> nllb (NllbTokenizer) or m2m100; mbart -> mbart (mBART-50);
  t5 / mt5 / umt5 -> t5 (MADLAD-400, `<2xx>` tokens); a causal LM CTranslate2's Generator
  runs (Llama, Mistral, Qwen2/3, Gemma 1-3, Phi-3 ... including EuroLLM and Tower, which are
  Llama models) -> llm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.errors import ModelError
from server.models.languages import (
    all_pairs,
    m2m100_tokens_in,
    marian_tokens_in,
    mbart_tokens_in,
    nllb_tokens_in,
    t5_tokens_in,
)
from server.models.types import MtKind

Pair = tuple[str, str]

_SEQ2SEQ: dict[str, MtKind] = {
    "marian": "marian",
    "m2m_100": "m2m100",
    "mbart": "mbart",
    "t5": "t5",
    "mt5": "t5",
    "umt5": "t5",
}
#: Decoder-only model types that CTranslate2's converter and Generator support.
_LLM_TYPES = frozenset({
    "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text",
    "phi", "phi3", "gpt2", "gpt_neox", "falcon", "bloom", "mpt", "opt", "gpt_bigcode",
    "codegen", "gptj",
})  # fmt: skip
#: SentencePiece files of seq2seq families, by the names their repos use.
SP_FILES = ("sentencepiece.bpe.model", "spm.model", "sentencepiece.model", "spiece.model")
#: Languages an LLM is offered between when no --pair narrows it.
LLM_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "uk", "zh", "ja", "ko")
_OPUS_NAME_RE = re.compile(r"opus-mt-(?:tc-(?:big|base)-)?([a-z]{2,3})-([a-z]+)(?:$|[-_.])")


@dataclass(frozen=True)
class Family:
    kind: MtKind
    architecture: str  # config.json model_type


def family_of(config: dict[str, Any], tokenizer_config: dict[str, Any]) -> Family:
    """The family of a checkpoint from its config.json (and tokenizer_config.json)."""
    model_type = str(config.get("model_type", ""))
    architectures = [str(a) for a in config.get("architectures") or []]
    kind = _SEQ2SEQ.get(model_type)
    if kind == "m2m100":
        tokenizer_class = str(
            tokenizer_config.get("tokenizer_class") or config.get("tokenizer_class") or ""
        )
        if "nllb" in tokenizer_class.lower():
            kind = "nllb"
    if kind is None and (
        model_type in _LLM_TYPES or any(a.endswith("ForCausalLM") for a in architectures)
    ):
        kind = "llm"
    if kind is None:
        raise ModelError(
            f"unsupported model type {model_type or '(none)'!r}: Parley converts Marian/OPUS-MT, "
            "NLLB-200, M2M100, mBART-50, MADLAD-400/T5 and decoder-only LLMs (Llama, Mistral, "
            "Qwen2, Gemma, EuroLLM, Tower ...)"
        )
    return Family(kind=kind, architecture=model_type)


def tokenizer_files(src: Path, family: Family) -> dict[str, str | None]:
    """Which tokenizer files the served model uses: SentencePiece where the checkpoint has
    it (seq2seq families), else tokenizer.json (LLMs always: see server.mt.pieces)."""
    if family.kind == "marian":
        if (src / "source.spm").is_file() and (src / "target.spm").is_file():
            return {"sp_source": "source.spm", "sp_target": "target.spm", "tokenizer": None}
    elif family.kind != "llm":
        for name in SP_FILES:
            if (src / name).is_file():
                return {"sp_source": name, "sp_target": name, "tokenizer": None}
    return {"sp_source": None, "sp_target": None, "tokenizer": "tokenizer.json"}


def marian_name_pairs(label: str, tokens: dict[str, str]) -> tuple[Pair, ...] | None:
    """Pairs from an OPUS-MT name: opus-mt-en-de -> en->de; opus-mt-en-ROMANCE with
    `>>fr<<`... tokens -> en->each token's language. None if the name does not say."""
    m = _OPUS_NAME_RE.search(label.lower().rstrip("/").rsplit("/", 1)[-1])
    if not m:
        return None
    source, target = m.group(1), m.group(2)
    if len(target) <= 3 and (not tokens or target in tokens):
        return ((source, target),)
    if tokens:
        return tuple((source, t) for t in sorted(tokens) if t != source)
    return None


def _tokens_for(kind: MtKind, vocabulary: list[str]) -> dict[str, str]:
    if kind == "nllb":
        return nllb_tokens_in(vocabulary)
    if kind == "m2m100":
        return m2m100_tokens_in(vocabulary)
    if kind == "mbart":
        return mbart_tokens_in(vocabulary)
    if kind == "t5":
        return t5_tokens_in(vocabulary)
    if kind == "marian":
        return marian_tokens_in(vocabulary)
    return {}


def describe_languages(
    kind: MtKind, label: str, vocabulary: list[str], hint: tuple[Pair, ...] | None
) -> tuple[tuple[Pair, ...], dict[str, str]]:
    """(pairs, ISO code -> language token) of a converted model.

    `hint` (--pair) wins where given, but every language its family names by token must
    have one. Without it: an OPUS-MT name, the language tokens, or for an LLM every pair of
    LLM_LANGUAGES.
    """
    tokens = _tokens_for(kind, vocabulary)
    if kind in ("nllb", "m2m100", "mbart", "t5") and not tokens:
        raise ModelError(f"{label}: no {kind} language tokens in the vocabulary")
    if hint:
        needs = {t for _, t in hint} if kind in ("t5", "marian") else {c for p in hint for c in p}
        if kind == "llm" or (kind == "marian" and not tokens):
            needs = set()
        missing = sorted(needs - tokens.keys())
        if missing:
            raise ModelError(f"{label}: the model has no language token for {', '.join(missing)}")
        return hint, tokens
    if kind == "marian":
        pairs = marian_name_pairs(label, tokens)
        if pairs is None:
            raise ModelError(
                f"{label}: cannot tell the language pair of this Marian model from its name; "
                "give it with --pair SRC-TGT (e.g. --pair en-de)"
            )
        return pairs, tokens
    if kind == "llm":
        return all_pairs(LLM_LANGUAGES), tokens
    return all_pairs(tokens), tokens
