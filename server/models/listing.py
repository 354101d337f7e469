"""`parley models list`: known models (cached or not) and any other cached model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from server.models import paths
from server.models.catalog import KNOWN_MODELS, KnownModel
from server.models.detect import format_pairs
from server.models.manifest import Manifest, ModelKind, load_valid

Pair = tuple[str, str]


@dataclass(frozen=True)
class ModelRow:
    name: str
    kind: ModelKind
    cached: bool
    #: Bytes on disk when cached, else the size the assembled model will have (None: unknown).
    size: int | None
    languages: str  # a short summary: "en", "99 languages", "zh, en"
    #: ASR: whether Whisper's translate task gives X->English; None for MT models.
    translates_to_english: bool | None
    pairs: tuple[Pair, ...]
    path: Path | None  # the model directory when cached
    note: str = ""  # "not cached", "damaged: ...", "unavailable: ..."
    #: Translation models: the family (marian, nllb, m2m100, mbart, t5, llm, argos).
    family: str | None = None


def _summary(languages: tuple[str, ...]) -> str:
    if len(languages) <= 4:
        return ", ".join(languages)
    return f"{len(languages)} languages"


def _row_from_manifest(root: Path, manifest: Manifest) -> ModelRow:
    asr = manifest.kind == "asr"
    return ModelRow(
        name=root.name,
        kind=manifest.kind,
        cached=True,
        size=manifest.size,
        languages=_summary(manifest.languages),
        translates_to_english=manifest.multilingual if asr else None,
        pairs=manifest.pairs,
        path=root,
        family=manifest.mt_kind,
    )


def _row_from_catalog(known: KnownModel, note: str) -> ModelRow:
    asr = known.kind == "asr"
    if asr:
        languages = "99 languages" if known.multilingual else "en"
    else:
        langs = tuple(dict.fromkeys(c for p in known.pairs for c in p))
        languages = _summary(langs)
    return ModelRow(
        name=known.name,
        kind=known.kind,
        cached=False,
        size=known.model_size or None,
        languages=languages,
        translates_to_english=known.multilingual if asr else None,
        pairs=known.pairs,
        path=None,
        note=note,
    )


def list_models(*, models_dir: Path | None = None) -> list[ModelRow]:
    """Every known model (cached or not), then every other cached model directory."""
    models = models_dir or paths.models_dir()
    rows: list[ModelRow] = []
    for name, known in KNOWN_MODELS.items():
        root = models / name
        manifest = load_valid(root)
        if manifest is not None:
            rows.append(_row_from_manifest(root, manifest))
        elif known.unavailable:
            rows.append(_row_from_catalog(known, "unavailable"))
        elif root.exists():
            rows.append(_row_from_catalog(known, "incomplete: pull --force"))
        else:
            rows.append(_row_from_catalog(known, "not cached"))
    if models.is_dir():
        for root in sorted(models.iterdir()):
            if root.name.startswith(".") or root.name in KNOWN_MODELS or not root.is_dir():
                continue
            manifest = load_valid(root)
            if manifest is not None:
                rows.append(_row_from_manifest(root, manifest))
    return rows


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size / 1e6:.0f} MB"


def format_table(rows: list[ModelRow]) -> str:
    """A plain-text table of `rows` for the terminal."""
    header = ("NAME", "KIND", "CACHED", "SIZE", "LANGUAGES", "X->EN", "PAIRS", "NOTE")
    body = [
        (
            r.name,
            f"mt/{r.family}" if r.family else r.kind,
            "yes" if r.cached else "no",
            _size(r.size),
            r.languages,
            "-"
            if r.translates_to_english is None
            else ("yes" if r.translates_to_english else "no"),
            format_pairs(r.pairs)
            if r.pairs and len(r.pairs) <= 3
            else (f"{len(r.pairs)} pairs" if r.pairs else "-"),
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in (header, *body)) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
        for line in (header, *body)
    ]
    return "\n".join(lines)
