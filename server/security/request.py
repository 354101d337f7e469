"""Where a client puts its token in an HTTP / WebSocket request, and log redaction.

Order: `Authorization: Bearer <token>` header, then the `token` query
parameter (browsers cannot set headers on a WebSocket). A speaker may instead
send it in its `start` message (`start.token`); the gateway uses
`token_from_request(...) or start.token`.

Query strings end up in access logs and browser history: log `redact_path(path)`,
never the raw path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

_BEARER = re.compile(r"^\s*Bearer\s+(\S+)\s*$", re.IGNORECASE)
_TOKEN_PARAM = re.compile(r"([?&]token=)[^&#]*", re.IGNORECASE)


def token_from_request(headers: object, path: str) -> str | None:
    """The token a request carries, or None.

    `headers`: websockets' `Headers` (or any mapping with `.items()`, or a list
    of (name, value) pairs); names are matched case-insensitively. `path`: the
    request target, query string included (`/v1/listen?room=a&token=...`).
    """
    for name, value in _pairs(headers):
        if name.lower() == "authorization":
            match = _BEARER.match(value)
            if match:
                return match.group(1)
    query = urlsplit(path).query
    if query:
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "token" and value:
                return value
    return None


def redact_path(path: str) -> str:
    """`path` with the value of any `token` query parameter replaced by `***`."""
    return _TOKEN_PARAM.sub(r"\1***", path)


def _pairs(headers: object) -> list[tuple[str, str]]:
    items = getattr(headers, "raw_items", None) or getattr(headers, "items", None)
    raw: object = items() if callable(items) else headers
    if not isinstance(raw, Iterable):
        return []
    out: list[tuple[str, str]] = []
    for pair in raw:
        if isinstance(pair, tuple) and len(pair) == 2:
            name, value = pair
            if isinstance(name, str) and isinstance(value, str):
                out.append((name, value))
    return out
