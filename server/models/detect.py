"""Look at a model directory on disk and say what it is.

No model is loaded here: only config, vocabulary and metadata files are read, so these checks
are cheap enough for startup and for `parley models list`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from server.errors import ModelError
from server.models.languages import (
    WHISPER_MULTILINGUAL_MIN_VOCAB,
    WHISPER_V3_MIN_VOCAB,
    all_pairs,
    m2m100_tokens_in,
    nllb_tokens_in,
    whisper_language_codes,
)
from server.models.manifest import MANIFEST_NAME
from server.models.types import AsrModelInfo, MtModelInfo

Pair = tuple[str, str]

_PAIR_RE = re.compile(r"^[a-z]{2,3}-[a-z]{2,3}$")
# opus-mt-de-en, opus-mt-tc-big-en-fr, Helsinki-NLP--opus-mt-zh-en-ct2-int8 ...
_OPUS_NAME_RE = re.compile(r"opus-mt-(?:tc-(?:big|base)-)?([a-z]{2,3})-([a-z]{2,3})(?:$|[-_.])")
_SP_CANDIDATES = ("sentencepiece.bpe.model", "spm.model", "sentencepiece.model", "source.spm")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc


# --------------------------------------------------------------------------- ASR


def whisper_vocabulary(path: Path) -> list[str] | None:
    """The token list of a faster-whisper directory, or None if it has no vocabulary file."""
    vjson = path / "vocabulary.json"
    if vjson.is_file():
        data = _read_json(vjson)
        if isinstance(data, list):
            return [str(t) for t in data]
    vtxt = path / "vocabulary.txt"
    if vtxt.is_file():
        return vtxt.read_text("utf-8").splitlines()
    tok = path / "tokenizer.json"
    if tok.is_file():
        data = _read_json(tok)
        vocab: dict[str, int] = dict(data.get("model", {}).get("vocab", {}))
        for added in data.get("added_tokens", []):
            vocab.setdefault(str(added["content"]), int(added["id"]))
        ordered = sorted(vocab.items(), key=lambda kv: kv[1])
        return [t for t, _ in ordered]
    return None


def inspect_asr_dir(path: Path, name: str | None = None) -> AsrModelInfo:
    """Describe a faster-whisper (CTranslate2) directory: English-only or multilingual."""
    if not path.is_dir():
        raise ModelError(f"not a directory: {path}")
    missing = [f for f in ("model.bin", "config.json") if not (path / f).is_file()]
    if missing:
        raise ModelError(
            f"{path} is not a faster-whisper (CTranslate2) model directory: "
            f"missing {', '.join(missing)}"
        )
    config = _read_json(path / "config.json")
    if not isinstance(config, dict):
        raise ModelError(f"{path / 'config.json'} is not a JSON object")
    vocab = whisper_vocabulary(path)
    if "is_multilingual" in config:
        multilingual = bool(config["is_multilingual"])
    elif vocab is not None:
        multilingual = len(vocab) >= WHISPER_MULTILINGUAL_MIN_VOCAB
    else:
        raise ModelError(
            f"{path}: cannot tell English-only from multilingual "
            "(no vocabulary.json, vocabulary.txt or tokenizer.json)"
        )
    if multilingual:
        languages = _whisper_languages(config, vocab)
    else:
        languages = ("en",)
    return AsrModelInfo(
        name=name or path.name, path=path, multilingual=multilingual, languages=languages
    )


def _whisper_languages(config: dict[str, Any], vocab: list[str] | None) -> tuple[str, ...]:
    """Language codes from the `<|xx|>` tokens at config["lang_ids"], else Whisper's list."""
    if vocab is not None:
        codes: list[str] = []
        for idx in config.get("lang_ids", []):
            if isinstance(idx, int) and 0 <= idx < len(vocab):
                tok = vocab[idx]
                if tok.startswith("<|") and tok.endswith("|>"):
                    codes.append(tok[2:-2])
        if codes:
            return tuple(codes)
    with_yue = vocab is not None and len(vocab) >= WHISPER_V3_MIN_VOCAB
    return whisper_language_codes(with_cantonese=with_yue)


# --------------------------------------------------------------------------- MT


def parse_pairs_hint(hint: str) -> tuple[Pair, ...]:
    """ "de-en" or "en-de,en-fr" -> (("de", "en"),) ...; ModelError if malformed."""
    pairs: list[Pair] = []
    for part in hint.split(","):
        part = part.strip().lower()
        if not _PAIR_RE.match(part):
            raise ModelError(
                f"bad language pair {part!r}: expected 'source-target' ISO codes, e.g. 'de-en'"
            )
        src, tgt = part.split("-")
        if src == tgt:
            raise ModelError(f"bad language pair {part!r}: source and target are the same")
        pairs.append((src, tgt))
    return tuple(pairs)


def split_spec_hint(spec: str) -> tuple[str, tuple[Pair, ...] | None]:
    """Split "PATH#de-en" into ("PATH", (("de","en"),)); a spec without a pair hint is kept."""
    if "#" in spec:
        base, _, hint = spec.rpartition("#")
        if base and all(_PAIR_RE.match(p.strip().lower()) for p in hint.split(",")):
            return base, parse_pairs_hint(hint)
    return spec, None


def is_argos_package(path: Path) -> bool:
    return (
        (path / "metadata.json").is_file()
        and (path / "sentencepiece.model").is_file()
        and (path / "model" / "model.bin").is_file()
    )


def find_argos_package(path: Path) -> Path | None:
    """`path` itself, or its only subdirectory (an unpacked .argosmodel), if an Argos package."""
    if is_argos_package(path):
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(subdirs) == 1 and is_argos_package(subdirs[0]):
        return subdirs[0]
    return None


def argos_pairs(package: Path) -> tuple[Pair, ...]:
    meta = _read_json(package / "metadata.json")
    try:
        src, tgt = str(meta["from_code"]).lower(), str(meta["to_code"]).lower()
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{package / 'metadata.json'} lacks from_code / to_code") from exc
    return ((src, tgt),)


def mt_vocabulary(path: Path) -> list[str]:
    """Target-side tokens of a CTranslate2 directory (JSON list or text lines); for a
    decoder-only model (Generator) its one vocabulary."""
    for stem in ("shared_vocabulary", "target_vocabulary", "vocabulary"):
        j = path / f"{stem}.json"
        if j.is_file():
            data = _read_json(j)
            if isinstance(data, list):
                return [str(t) for t in data]
        t = path / f"{stem}.txt"
        if t.is_file():
            return t.read_text("utf-8").splitlines()
    return []


def inspect_mt_dir(
    path: Path, name: str | None = None, hint: tuple[Pair, ...] | None = None
) -> MtModelInfo:
    """Describe a translation model directory: Argos package, Marian, NLLB or M2M100.

    `hint` (from "PATH#de-en") gives the pairs where the directory does not say; for
    multilingual models it narrows the pairs to the ones asked for.
    """
    if not path.is_dir():
        raise ModelError(f"not a directory: {path}")
    label = name or path.name
    package = find_argos_package(path)
    if package is not None:
        pairs = argos_pairs(package)
        if hint and not set(hint) <= set(pairs):
            raise ModelError(
                f"{package} translates {format_pairs(pairs)}, not {format_pairs(hint)}"
            )
        sp = package / "sentencepiece.model"
        return MtModelInfo(
            name=label,
            kind="argos",
            path=package / "model",
            sp_source=sp,
            sp_target=sp,
            pairs=pairs,
        )
    if not (path / "model.bin").is_file():
        raise ModelError(
            f"{path} is not a translation model: expected an Argos package (metadata.json, "
            "sentencepiece.model, model/) or a CTranslate2 directory with model.bin"
        )
    if (path / "source.spm").is_file() and (path / "target.spm").is_file():
        pairs = hint or _marian_pairs(path)
        return MtModelInfo(
            name=label,
            kind="marian",
            path=path,
            sp_source=path / "source.spm",
            sp_target=path / "target.spm",
            pairs=pairs,
        )
    vocab = mt_vocabulary(path)
    sp_model = _find_sentencepiece(path)
    m2m = m2m100_tokens_in(vocab)
    nllb = {} if m2m else nllb_tokens_in(vocab)
    tokens = m2m or nllb
    if not tokens:
        raise ModelError(
            f"{path}: unknown translation model layout (no source.spm/target.spm for Marian, "
            "no NLLB (eng_Latn) or M2M100 (__en__) language tokens in the vocabulary)"
        )
    if sp_model is None:
        raise ModelError(f"{path}: no SentencePiece model ({', '.join(_SP_CANDIDATES)})")
    if hint:
        unknown = sorted({c for p in hint for c in p} - tokens.keys())
        if unknown:
            raise ModelError(f"{path}: the model has no language token for {', '.join(unknown)}")
        pairs = hint
    else:
        pairs = all_pairs(tokens)
    return MtModelInfo(
        name=label,
        kind="m2m100" if m2m else "nllb",
        path=path,
        sp_source=sp_model,
        sp_target=sp_model,
        pairs=pairs,
        lang_tokens=tokens,
    )


def format_pairs(pairs: tuple[Pair, ...]) -> str:
    return ", ".join(f"{s}->{t}" for s, t in pairs)


def _find_sentencepiece(path: Path) -> Path | None:
    for cand in _SP_CANDIDATES:
        if (path / cand).is_file():
            return path / cand
    return None


def _marian_pairs(path: Path) -> tuple[Pair, ...]:
    """Pairs of a Marian directory: its parley-model.json "pairs", else its name."""
    manifest = path / MANIFEST_NAME
    if manifest.is_file():
        data = _read_json(manifest)
        raw = data.get("pairs") if isinstance(data, dict) else None
        if raw:
            try:
                return tuple((str(s).lower(), str(t).lower()) for s, t in raw)
            except (TypeError, ValueError) as exc:
                raise ModelError(f"{manifest}: bad 'pairs' {raw!r}") from exc
    m = _OPUS_NAME_RE.search(path.name.lower())
    if m:
        return ((m.group(1), m.group(2)),)
    raise ModelError(
        f"{path}: cannot tell the language pair of this Marian model; name the directory like "
        f"opus-mt-de-en, add 'pairs' to {MANIFEST_NAME}, or give it in the spec: '{path}#de-en'"
    )
