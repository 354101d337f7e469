"""Served translation models the integration tests make themselves.

No English->X weights can be had here, so a test that needs one makes it: the tiny
random-weight Marian checkpoint of tests/mt_checkpoints.py (SentencePiece trained on
local sentences), converted by the real `parley models convert` (CTranslate2 int8 and
Parley's manifest) into a models directory that `--mt-model NAME` serves. Random
weights translate into nonsense: tests assert the plumbing, never the words.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.mt_checkpoints import build_marian as build_marian_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def english_sentences(limit: int = 400) -> list[str]:
    """English lines of Fish Fillets NG's dialogue (the Dutch speech data's references)."""
    from benchmarks.data import dutch_clips

    lines = [c.translation_en for c in dutch_clips(fetch=False) if c.translation_en]
    return lines[:limit]


def build_marian(root: Path, name: str, pair: tuple[str, str], sentences: Sequence[str]) -> Path:
    """`root/NAME`: a random-weight Marian model for `pair`, converted by `parley models
    convert` into the models directory `root`."""
    work = root.parent / f"{root.name}-{name}.build"
    work.mkdir(parents=True, exist_ok=True)
    text = work / "corpus.txt"
    text.write_text("\n".join(s for s in sentences if s.strip()) + "\n", "utf-8")
    checkpoint = build_marian_checkpoint(text, work / "checkpoint")
    command = [sys.executable, "-m", "server", "models", "--models-dir", str(root), "convert",
               str(checkpoint), "--name", name, "--pair", "-".join(pair)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return root / name


def models_dir_with(root: Path, cache: Path, names: Sequence[str]) -> Path:
    """`root` as a models directory: links to the cached `names` (base, zh-en...) beside
    the models built into it, so PARLEY_MODELS_DIR=root serves all of them by name."""
    for name in names:
        link = root / name
        if not link.exists():
            link.symlink_to(cache / name, target_is_directory=True)
    return root
