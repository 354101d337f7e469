"""The JSON Schemas of protocol v1 (server/protocol/schema/*.json), for validation in tests
and by clients that want it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
MESSAGE_TYPES = ("start", "flush", "stop", "ready", "transcript", "translation", "metrics", "error", "end")


@cache
def schema_for(message_type: str) -> dict[str, Any]:
    if message_type not in MESSAGE_TYPES:
        raise KeyError(f"no schema for message type {message_type!r}")
    result: dict[str, Any] = json.loads((SCHEMA_DIR / f"{message_type}.json").read_text())
    return result
