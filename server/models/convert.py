"""`parley models convert`: a Transformers translation model or LLM -> a served model.

    SOURCE (a local checkpoint folder, a .gguf file, or a Hugging Face repo id "org/name")
      1. a repo id is downloaded with huggingface_hub (its progress bars) after a quick check
         that the hub answers at all: offline, it fails at once and says how to convert on
         another machine and copy the folder;
      2. the family is read from config.json (server.models.families);
      3. CTranslate2's own TransformersConverter writes an int8 model (any --quantization it
         knows), copying the SentencePiece model(s), or tokenizer.json where there is none;
      4. the languages: from the converted vocabulary's language tokens, `--pair`, an OPUS-MT
         name (opus-mt-en-de) or, for an LLM, a default set; an LLM's prompt is rendered from
         its tokenizer's chat template (server.mt.prompts);
      5. parley-model.json is written and the folder renamed into the model cache under NAME,
         so `parley models list` shows it and `--mt-model NAME` serves it.

Conversion needs `torch` and `transformers` (`pip install 'parley[convert]'`); serving the
result does not. `ensure_converted` is what `--mt-model ORG/NAME` (or a checkpoint folder)
runs on first use; later starts find the converted copy by its recorded source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from server.errors import ModelError
from server.models import paths
from server.models.catalog import KNOWN_MODELS
from server.models.checkpoint import (
    Family,
    describe_languages,
    family_of,
    tokenizer_files,
)
from server.models.detect import mt_vocabulary
from server.models.fetch import install, make_models_dir, model_lock, normalize_modes
from server.models.manifest import Manifest, load_valid, scan_files, write_manifest
from server.models.types import LlmPrompt

log = logging.getLogger(__name__)

Pair = tuple[str, str]
Progress = Callable[[str], None]

HUB_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][\w.+-]*$")
_PROBE_TIMEOUT_S = 3.0
#: What a translation checkpoint needs from a repo (weights, configs, tokenizer files).
_HUB_PATTERNS = [
    "*.json",
    "*.model",
    "*.spm",
    "*.jinja",
    "merges.txt",
    "vocab.txt",
]
CONVERT_EXTRA_HINT = "pip install 'parley[convert]' (torch and transformers)"


@dataclass(frozen=True)
class ConvertOptions:
    name: str | None = None
    pairs: tuple[Pair, ...] | None = None
    quantization: str = "int8"
    force: bool = False


def _say(message: str) -> None:
    log.info("%s", message)


# --------------------------------------------------------------------------- source


def default_name(source: str) -> str:
    """The cache name a source gets without --name: the folder, file stem or repo name."""
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        return path.stem
    return path.name if path.exists() else source.rstrip("/").rsplit("/", 1)[-1]


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ModelError(
            f"bad model name {name!r}: use letters, digits, '.', '_', '-' or '+' "
            "(give one with --name)"
        )
    if name in KNOWN_MODELS:
        raise ModelError(f"{name!r} is the name of a packaged model; choose another --name")
    return name


def is_checkpoint_dir(path: Path) -> bool:
    """A Transformers checkpoint folder (config.json with a model_type, no model.bin)."""
    config = path / "config.json"
    if not config.is_file() or (path / "model.bin").is_file():
        return False
    try:
        data = json.loads(config.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "model_type" in data


def _offline_reason() -> str | None:
    """Why the hub cannot be reached, found within a few seconds; None if it answers."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"
    url = urlparse(endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
                outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port}: {exc.strerror or exc}")

    # A thread bounds name resolution too, which a socket timeout does not.
    thread = threading.Thread(target=probe, daemon=True, name="hub-probe")
    thread.start()
    thread.join(_PROBE_TIMEOUT_S + 0.5)
    if not outcome:
        return f"{host}:{port} did not answer within {_PROBE_TIMEOUT_S:.0f} s"
    return outcome[0]


def offline_message(repo_id: str, reason: str) -> str:
    name = repo_id.rsplit("/", 1)[-1]
    return (
        f"cannot download {repo_id!r}: the Hugging Face hub cannot be reached ({reason}). "
        f"On a machine with internet run `parley models convert {repo_id}`, then copy the "
        f"folder {paths.models_dir() / name} from there into this machine's models "
        f"directory ({paths.models_dir()}); or download the checkpoint there, copy it here "
        "and run `parley models convert FOLDER`"
    )


def download(repo_id: str, dest: Path, say: Progress) -> Path:
    """A repo's checkpoint files into `dest` (huggingface_hub prints progress bars)."""
    reason = _offline_reason()
    if reason is not None:
        raise ModelError(offline_message(repo_id, reason))
    try:
        from huggingface_hub import HfApi, snapshot_download

        files = HfApi().list_repo_files(repo_id)
        weights = [f for f in files if f.endswith(".safetensors")]
        patterns = [*_HUB_PATTERNS, "*.safetensors" if weights else "*.bin"]
        say(f"downloading {repo_id} from the Hugging Face hub")
        return Path(snapshot_download(repo_id, local_dir=dest, allow_patterns=patterns))
    except ModelError:
        raise
    except Exception as exc:  # hub and network errors come in many classes
        raise ModelError(
            f"could not download {repo_id!r} from the Hugging Face hub "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def _require_converter_deps() -> None:
    missing = []
    for module in ("torch", "transformers"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ModelError(
            f"converting a model needs {' and '.join(missing)}: {CONVERT_EXTRA_HINT}"
        )


def gguf_to_checkpoint(gguf: Path, dest: Path, say: Progress) -> Path:
    """Dequantize a GGUF file into a Transformers checkpoint folder (transformers + gguf)."""
    _require_converter_deps()
    import transformers

    say(f"loading {gguf.name} with transformers (dequantizing GGUF)")
    try:
        kwargs = {"gguf_file": gguf.name}
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), dtype="float32", **kwargs
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    except ImportError as exc:
        raise ModelError(
            f"reading GGUF needs gguf and accelerate: {CONVERT_EXTRA_HINT} ({exc})"
        ) from exc
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"transformers cannot load {gguf}: {exc}") from exc
    # The weights are dequantized now; only the flags say "gguf", and with them the model is
    # not serializable and CTranslate2's loaders refuse its quantization_config.
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    setattr(model, "hf_quantizer", None)  # noqa: B010 - torch types the attribute as a Module
    setattr(model, "is_quantized", False)  # noqa: B010
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


# --------------------------------------------------------------------------- convert


def _copy_or_write_tokenizer(src: Path, family: Family, out: Path) -> dict[str, str | None]:
    """Tokenizer files into `out`: the SentencePiece model(s), else tokenizer.json."""
    chosen = tokenizer_files(src, family)
    for rel in {v for v in chosen.values() if v is not None}:
        if (src / rel).is_file():
            shutil.copyfile(src / rel, out / rel)
    if chosen["tokenizer"] is not None and not (out / chosen["tokenizer"]).is_file():
        import transformers

        tok = transformers.AutoTokenizer.from_pretrained(str(src))
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is None:
            raise ModelError(f"{src}: no SentencePiece model and no tokenizer.json")
        backend.save(str(out / chosen["tokenizer"]))
    return chosen


def _llm_prompt(src: Path, name: str, vocabulary: list[str]) -> LlmPrompt:
    """The prompt template, rendered once from the tokenizer's chat template."""
    import transformers

    from server.mt.prompts import COMPLETION, STOP_CANDIDATES, instruction_for

    tok = transformers.AutoTokenizer.from_pretrained(str(src))
    vocab = set(vocabulary)
    stop = [t for t in STOP_CANDIDATES if t in vocab]
    template = COMPLETION
    if getattr(tok, "chat_template", None):
        message = [{"role": "user", "content": instruction_for(name)}]
        try:
            template = str(
                tok.apply_chat_template(message, tokenize=False, add_generation_prompt=True)
            )
        except Exception as exc:  # noqa: BLE001 - a template may refuse our message: fall back
            log.warning("chat template of %s failed (%s); using a completion prompt", name, exc)
    if template == COMPLETION:
        newline = tok.convert_ids_to_tokens(tok("\n", add_special_tokens=False)["input_ids"])
        if len(newline) == 1:
            stop.append(str(newline[0]))  # a completion ends with its line
    bos = tok.bos_token
    if bos and not template.startswith(bos):
        ids = tok("a")["input_ids"]
        if ids and ids[0] == tok.bos_token_id:  # this model is trained with BOS first
            template = bos + template
    if tok.eos_token and tok.eos_token not in stop:
        stop.append(str(tok.eos_token))
    return LlmPrompt(template=template, stop=tuple(stop))


def convert_file(
    gguf: Path, out: Path, *, name: str, options: ConvertOptions, say: Progress
) -> Manifest:
    """Convert a .gguf file into `out` (through a dequantized checkpoint next to it)."""
    checkpoint = out.parent / f"{out.name}-checkpoint"
    try:
        gguf_to_checkpoint(gguf, checkpoint, say)
        return convert_checkpoint(
            checkpoint, out, name=name, label=gguf.name, options=options, say=say
        )
    finally:
        shutil.rmtree(checkpoint, ignore_errors=True)


def convert_checkpoint(
    src: Path, out: Path, *, name: str, label: str, options: ConvertOptions, say: Progress
) -> Manifest:
    """Convert checkpoint folder `src` into `out` (which must not exist); its manifest."""
    config = _read_json(src / "config.json")
    family = family_of(config, _read_json_opt(src / "tokenizer_config.json"))
    _require_converter_deps()
    from ctranslate2.converters import TransformersConverter

    started = time.monotonic()
    say(f"[{name}] converting {label} ({family.kind}, {family.architecture}) "
        f"to CTranslate2 {options.quantization}")
    try:
        converter = TransformersConverter(str(src), low_cpu_mem_usage=True)
        converter.convert(str(out), quantization=options.quantization, force=True)
    except (ValueError, NotImplementedError, RuntimeError, OSError, KeyError) as exc:
        raise ModelError(f"CTranslate2 cannot convert {label}: {exc}") from exc
    chosen = _copy_or_write_tokenizer(src, family, out)
    vocabulary = mt_vocabulary(out)
    pairs, tokens = describe_languages(
        family.kind, label, vocabulary, options.pairs
    )
    prompt = _llm_prompt(src, label, vocabulary) if family.kind == "llm" else None
    languages = tuple(dict.fromkeys(code for pair in pairs for code in pair))
    say(f"[{name}] converted in {time.monotonic() - started:.1f} s: {len(pairs)} pairs")
    import ctranslate2
    import transformers

    return Manifest(
        name=name,
        kind="mt",
        languages=languages,
        files=scan_files(out),
        pairs=pairs,
        mt_kind=family.kind,
        sp_source=chosen["sp_source"],
        sp_target=chosen["sp_target"],
        lang_tokens=tokens,
        tokenizer=chosen["tokenizer"],
        prompt=prompt,
        source={
            "architecture": family.architecture,
            "quantization": options.quantization,
            "ctranslate2": ctranslate2.__version__,
            "transformers": transformers.__version__,
        },
    )


def _read_json(path: Path) -> dict[str, Any]:
    data = _read_json_opt(path)
    if not data:
        raise ModelError(f"{path} is missing or not a JSON object: not a Transformers checkpoint")
    return data


def _read_json_opt(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _origin(source: str) -> dict[str, str]:
    """What the manifest records as the source, to find a conversion again."""
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return {"gguf": str(path.resolve())}
    if path.is_dir():
        return {"directory": str(path.resolve())}
    return {"repo": source}


def converted_from(manifest: Manifest, source: str) -> bool:
    origin = _origin(source)
    return all(manifest.source.get(k) == v for k, v in origin.items())


@contextlib.contextmanager
def _scratch(models: Path, name: str) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=f".convert-{name}-", dir=models))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def convert(
    source: str,
    options: ConvertOptions | None = None,
    *,
    models_dir: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Convert `source` into the model cache; returns the model directory."""
    opts = options or ConvertOptions()
    say = progress or _say
    name = check_name(opts.name or default_name(source))
    models = models_dir or paths.models_dir()
    make_models_dir(models)
    target = models / name
    path = Path(source).expanduser()
    if not path.exists() and not HUB_REPO_RE.match(source):
        raise ModelError(
            f"{source}: no such folder or file, and not a Hugging Face repo id (org/name)"
        )
    with model_lock(models, name):
        existing = load_valid(target)
        if existing is not None and not opts.force:
            if converted_from(existing, source) and opts.pairs in (None, existing.pairs):
                say(f"[{name}] already converted in {target}")
                return target
            raise ModelError(
                f"a model named {name!r} is already in {models}; "
                "choose another --name or replace it with --force"
            )
        with _scratch(models, name) as work:
            built = work / "model"
            if path.is_file() and path.suffix == ".gguf":
                manifest = convert_file(path.resolve(), built, name=name, options=opts, say=say)
            elif path.is_dir():
                if not is_checkpoint_dir(path):
                    raise ModelError(
                        f"{source} is not a Transformers checkpoint (config.json with a "
                        "model_type and the weights); a CTranslate2 folder is served as it is: "
                        f"--mt-model {source}"
                    )
                manifest = convert_checkpoint(
                    path.resolve(), built, name=name, label=source, options=opts, say=say
                )
            elif path.exists():
                raise ModelError(f"{source}: a file, but not a .gguf file")
            else:
                src = download(source, work / "download", say)
                manifest = convert_checkpoint(
                    src, built, name=name, label=source, options=opts, say=say
                )
            manifest = dataclasses.replace(
                manifest, source={**_origin(source), **manifest.source}
            )
            write_manifest(built, manifest)
            normalize_modes(built)
            install(built, target, work)
            say(f"[{name}] installed in {target} ({manifest.size / 1e6:.1f} MB)")
    return target


def ensure_converted(source: str, *, models_dir: Path | None = None) -> Path:
    """The cached conversion of `source` (a repo id or checkpoint folder), made if missing."""
    models = models_dir or paths.models_dir()
    for name in (default_name(source), source.replace("/", "--")):
        manifest = load_valid(models / name)
        if manifest is not None and converted_from(manifest, source):
            return models / name
        if manifest is None:
            return convert(source, ConvertOptions(name=name), models_dir=models)
    raise ModelError(
        f"cannot convert {source!r} on first use: the names it would get are taken; "
        f"run: parley models convert {source} --name NAME"
    )
