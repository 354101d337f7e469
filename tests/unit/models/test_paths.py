"""Cache locations and their environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.models.paths import cache_root, data_dir, models_dir


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("PARLEY_CACHE_DIR", "PARLEY_MODELS_DIR", "PARLEY_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "parley"
    assert models_dir() == tmp_path / ".cache" / "parley" / "models"
    assert data_dir() == tmp_path / ".cache" / "parley" / "data"


def test_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PARLEY_MODELS_DIR", raising=False)
    monkeypatch.delenv("PARLEY_DATA_DIR", raising=False)
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path / "c"))
    assert models_dir() == tmp_path / "c" / "models"
    assert data_dir() == tmp_path / "c" / "data"
    monkeypatch.setenv("PARLEY_MODELS_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "d"))
    assert models_dir() == tmp_path / "m"
    assert data_dir() == tmp_path / "d"
    assert cache_root() == tmp_path / "c"
    monkeypatch.setenv("PARLEY_CACHE_DIR", "  ")  # blank means unset
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "parley"
