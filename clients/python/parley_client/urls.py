"""Server URLs: accept ws://, wss://, http://, https://, with or without a path."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

DEFAULT_URL = "ws://127.0.0.1:8765"


def _base(url: str) -> tuple[str, str]:
    parts = urlsplit(url if "://" in url else f"ws://{url}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a Parley server URL: {url!r} (use ws://HOST:PORT)")
    return scheme, parts.netloc


def stream_url(url: str) -> str:
    """The speaker endpoint: .../v1/stream (an explicit path is kept)."""
    parts = urlsplit(url if "://" in url else f"ws://{url}")
    scheme, netloc = _base(url)
    path = parts.path if parts.path not in ("", "/") else "/v1/stream"
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def http_url(url: str, path: str) -> str:
    """An HTTP endpoint of the same server (`path` such as "/v1/models", "/metrics")."""
    scheme, netloc = _base(url)
    return urlunsplit(("https" if scheme == "wss" else "http", netloc, path, "", ""))


def listen_url(url: str, room: str, lang: str | None = None) -> str:
    """The listener endpoint: .../v1/listen?room=R&lang=L."""
    scheme, netloc = _base(url)
    query = {"room": room} | ({"lang": lang} if lang else {})
    return urlunsplit((scheme, netloc, "/v1/listen", urlencode(query), ""))
