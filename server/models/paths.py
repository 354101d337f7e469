"""Where Parley keeps downloaded models and speech data.

Layout (every part overridable by environment, flags win over environment at the CLI edge):

    $PARLEY_CACHE_DIR (default ~/.cache/parley)
    ├── models/   $PARLEY_MODELS_DIR overrides; one directory per model, each with parley-model.json
    └── data/     $PARLEY_DATA_DIR overrides; benchmark speech (benchmarks.data)
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PARLEY_CACHE_DIR"
MODELS_ENV = "PARLEY_MODELS_DIR"
DATA_ENV = "PARLEY_DATA_DIR"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def cache_root() -> Path:
    """The cache root: $PARLEY_CACHE_DIR, else ~/.cache/parley."""
    return _env_path(CACHE_ENV) or Path.home() / ".cache" / "parley"


def models_dir() -> Path:
    """Where models live: $PARLEY_MODELS_DIR, else <cache root>/models."""
    return _env_path(MODELS_ENV) or cache_root() / "models"


def data_dir() -> Path:
    """Where benchmark speech lives: $PARLEY_DATA_DIR, else <cache root>/data."""
    return _env_path(DATA_ENV) or cache_root() / "data"
