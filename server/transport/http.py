"""Plain HTTP routes served on the WebSocket port: health, models, web client."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

WEB_ROOT = Path(__file__).resolve().parents[2] / "clients" / "web"
WS_PATHS = ("/v1/stream", "/v1/listen")
#: OpenAI Realtime transcription and Deepgram live: speakers behind a translator
#: (server.compat), refused at the handshake in their API's own shape.
COMPAT_WS_PATHS = ("/v1/realtime", "/deepgram/v1/listen")


def response(status: int, body: bytes, content_type: str, reason: str = "") -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
        ]
    )
    return Response(status, reason or _REASONS.get(status, "OK"), headers, body)


def json_response(obj: Any, status: int = 200) -> Response:
    return response(status, (json.dumps(obj, indent=1) + "\n").encode(), "application/json")


def text_response(text: str, status: int = 200) -> Response:
    return response(status, text.encode(), "text/plain; charset=utf-8")


def static_response(path: str) -> Response | None:
    """A file of the web client, or None when there is no such file."""
    rel = "index.html" if path in ("", "/") else path.lstrip("/")
    target = (WEB_ROOT / rel).resolve()
    if not target.is_relative_to(WEB_ROOT.resolve()) or not target.is_file():
        return None
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".js":
        ctype = "text/javascript"
    if ctype.startswith("text/"):
        ctype += "; charset=utf-8"
    return response(200, target.read_bytes(), ctype)


def route_path(request: Request) -> str:
    return urlsplit(request.path).path


_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable", 426: "Upgrade Required"}
