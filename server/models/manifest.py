"""`parley-model.json`: what a cached model directory holds and how to check it is whole.

Every model directory Parley writes has one. It records the kind of model (for translation
models also the family: argos, marian, nllb, m2m100, mbart, t5, llm), its languages or pairs,
the language tokens, where the CTranslate2 directory and the SentencePiece files or
tokenizer.json are inside it, an LLM's prompt template, where it came from, and every file with its size and sha256. A directory is "cached" only when its manifest
parses and every listed file is there with the listed size (the cheap check done at every
start); `verify(deep=True)` also re-hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from server.errors import ModelError
from server.models.types import MT_KINDS, LlmPrompt, MtKind

MANIFEST_NAME = "parley-model.json"
FORMAT_VERSION = 1
ModelKind = Literal["asr", "mt"]
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    name: str
    kind: ModelKind
    #: ASR: the languages recognized. MT: every language appearing in `pairs`.
    languages: tuple[str, ...]
    files: dict[str, FileEntry]  # POSIX path relative to the model directory -> entry
    multilingual: bool = False  # ASR only
    pairs: tuple[tuple[str, str], ...] = ()  # MT only
    mt_kind: MtKind | None = None  # MT only
    #: The CTranslate2 model directory, relative to the model directory ("." = itself).
    model_subdir: str = "."
    sp_source: str | None = None  # MT only, relative path
    sp_target: str | None = None  # MT only, relative path
    lang_tokens: dict[str, str] = field(default_factory=dict)
    tokenizer: str | None = None  # MT only: a tokenizer.json, relative path
    prompt: LlmPrompt | None = None  # MT family "llm" only
    #: Provenance: packages and their sha256, or the file / directory it was made from.
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files.values())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "name": self.name,
            "kind": self.kind,
            "languages": list(self.languages),
        }
        if self.kind == "asr":
            data["multilingual"] = self.multilingual
        else:
            data["mt_kind"] = self.mt_kind
            data["pairs"] = [list(p) for p in self.pairs]
            data["sp_source"] = self.sp_source
            data["sp_target"] = self.sp_target
            data["lang_tokens"] = dict(self.lang_tokens)
            if self.tokenizer is not None:
                data["tokenizer"] = self.tokenizer
            if self.prompt is not None:
                data["prompt"] = {"template": self.prompt.template, "stop": list(self.prompt.stop)}
        data["model_subdir"] = self.model_subdir
        data["source"] = self.source
        data["files"] = {
            p: {"size": e.size, "sha256": e.sha256} for p, e in sorted(self.files.items())
        }
        return data

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Parse a manifest; raises ModelError naming the first bad field."""
        try:
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            if data.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported format {data.get('format')!r}")
            kind = data["kind"]
            if kind not in ("asr", "mt"):
                raise ValueError(f"bad kind {kind!r}")
            mt_kind = data.get("mt_kind")
            if kind == "mt" and mt_kind not in MT_KINDS:
                raise ValueError(f"bad mt_kind {mt_kind!r}")
            files = {
                str(p): FileEntry(size=int(e["size"]), sha256=str(e["sha256"]))
                for p, e in dict(data["files"]).items()
            }
            pairs = tuple((str(s), str(t)) for s, t in data.get("pairs", []))
            return cls(
                name=str(data["name"]),
                kind=cast(ModelKind, kind),
                languages=tuple(str(x) for x in data.get("languages", [])),
                files=files,
                multilingual=bool(data.get("multilingual", False)),
                pairs=pairs,
                mt_kind=cast(MtKind | None, mt_kind if kind == "mt" else None),
                model_subdir=str(data.get("model_subdir", ".")),
                sp_source=_opt_str(data.get("sp_source")),
                sp_target=_opt_str(data.get("sp_target")),
                lang_tokens={str(k): str(v) for k, v in dict(data.get("lang_tokens", {})).items()},
                tokenizer=_opt_str(data.get("tokenizer")),
                prompt=_prompt(data.get("prompt")),
                source=dict(data.get("source", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"invalid model manifest: {exc}") from exc


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _prompt(value: Any) -> LlmPrompt | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("template"), str):
        raise TypeError("prompt must be an object with a 'template' string")
    return LlmPrompt(template=value["template"], stop=tuple(str(t) for t in value.get("stop", [])))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan_files(root: Path) -> dict[str, FileEntry]:
    """Size and sha256 of every regular file under `root` except the manifest itself."""
    out: dict[str, FileEntry] = {}
    for dirpath, _dirs, names in os.walk(root):
        for fname in names:
            path = Path(dirpath) / fname
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST_NAME or not path.is_file():
                continue
            out[rel] = FileEntry(size=path.stat().st_size, sha256=sha256_file(path))
    return out


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write `root/parley-model.json` atomically (temp file + rename)."""
    target = root / MANIFEST_NAME
    tmp = root / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=False) + "\n", "utf-8")
    os.replace(tmp, target)
    return target


def read_manifest(root: Path) -> Manifest:
    """Read and parse `root/parley-model.json`; ModelError if missing or malformed."""
    path = root / MANIFEST_NAME
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as exc:
        raise ModelError(f"no {MANIFEST_NAME} in {root}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"invalid model manifest {path}: {exc}") from exc
    return Manifest.from_json(data)


def problems(root: Path, manifest: Manifest, *, deep: bool = False) -> list[str]:
    """What is wrong with `root` against its manifest (empty list: whole).

    The shallow check compares sizes only; `deep` also re-hashes every file.
    """
    found: list[str] = []
    for rel, entry in sorted(manifest.files.items()):
        path = root / rel
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            found.append(f"{rel}: missing")
            continue
        if size != entry.size:
            found.append(f"{rel}: size {size}, expected {entry.size}")
        elif deep and sha256_file(path) != entry.sha256:
            found.append(f"{rel}: sha256 mismatch")
    return found


def load_valid(root: Path, *, deep: bool = False) -> Manifest | None:
    """The manifest of `root` if the directory is whole, else None."""
    try:
        manifest = read_manifest(root)
    except ModelError:
        return None
    return None if problems(root, manifest, deep=deep) else manifest
