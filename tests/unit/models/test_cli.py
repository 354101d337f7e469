"""`parley models` argument parsing and output, on an empty and on a fake cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from server.models.cli import add_models_parser, models_dir_from_args, run_models
from server.models.manifest import Manifest, scan_files, write_manifest
from tests.unit.models.fakes import whisper_dir


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parley")
    add_models_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def _cache_tiny(models: Path) -> Path:
    root = whisper_dir(models / "tiny.en", multilingual=False)
    write_manifest(
        root, Manifest(name="tiny.en", kind="asr", languages=("en",), files=scan_files(root))
    )
    return root


def test_list_shows_known_models_not_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_models(_parse("models", "--models-dir", str(tmp_path), "list")) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert set(lines) == {"tiny.en", "base", "small", "zh-en", "gemma3-270m"}
    assert "not cached" in lines["tiny.en"] and "unavailable" in lines["small"]
    assert "zh->en" in lines["zh-en"] and "99 languages" in lines["base"]


def test_list_json_with_a_cached_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _cache_tiny(tmp_path / "models")
    assert run_models(_parse("models", "--cache-dir", str(tmp_path), "list", "--json")) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tiny.en"]["cached"] is True and rows["tiny.en"]["path"] == str(root)
    assert rows["tiny.en"]["translates_to_english"] is False
    assert rows["base"]["cached"] is False and rows["base"]["translates_to_english"] is True
    assert rows["zh-en"]["pairs"] == [["zh", "en"]]


def test_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _cache_tiny(tmp_path)
    assert run_models(_parse("models", "--models-dir", str(tmp_path), "path", "tiny.en")) == 0
    assert capsys.readouterr().out.strip() == str(root)
    assert run_models(_parse("models", "--models-dir", str(tmp_path), "path", "base")) == 1
    err = capsys.readouterr().err
    assert "model 'base' is not in the cache" in err and "parley models pull base" in err
    assert run_models(_parse("models", "--models-dir", str(tmp_path), "path", "nope")) == 1
    assert "no cached model named 'nope'" in capsys.readouterr().err
    # small is known but cannot be pulled: no advice to pull it
    assert run_models(_parse("models", "--models-dir", str(tmp_path), "path", "small")) == 1
    err = capsys.readouterr().err
    assert "'small' is not in the cache, and cannot be pulled" in err and "run:" not in err


def test_pull_unknown_and_unavailable_fail_without_downloading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_models(_parse("models", "--models-dir", str(tmp_path), "pull", "nope", "small"))
    assert code == 1
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "'small' cannot be pulled" in err


def test_models_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.delenv("PARLEY_MODELS_DIR", raising=False)
    assert models_dir_from_args(_parse("models", "list")) == tmp_path / "env" / "models"
    args = _parse("models", "--cache-dir", str(tmp_path / "flag"), "list")
    assert models_dir_from_args(args) == tmp_path / "flag" / "models"
    args = _parse("models", "--cache-dir", "x", "--models-dir", str(tmp_path / "m"), "list")
    assert models_dir_from_args(args) == tmp_path / "m"


def test_subcommand_is_required() -> None:
    with pytest.raises(SystemExit):
        _parse("models")
