"""Parse a listener's request line: /v1/listen?room=R&lang=L (sans-I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from server.errors import ErrorCode, ProtocolError
from server.protocol.messages import normalize_language

ROOM_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")  # same rule as `start.room`


@dataclass(frozen=True)
class ListenRequest:
    room: str
    #: None: the transcript only (in whatever language the speaker speaks)
    lang: str | None


def parse_listen_query(path: str) -> ListenRequest:
    """Raises ProtocolError (fatal) with a stable code when the query is unusable."""
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    rooms = query.get("room", [])
    if len(rooms) != 1 or not ROOM_RE.match(rooms[0]):
        raise _fatal(
            "listen needs exactly one ?room= of 1-64 letters, digits, '_', '-', '.'",
            "bad_message",
        )
    langs = [v for v in query.get("lang", []) if v.strip()]
    if len(langs) > 1:
        raise _fatal("listen takes at most one ?lang=", "bad_message")
    lang = None
    if langs:
        try:
            lang = normalize_language(langs[0], "lang")
        except ProtocolError as exc:
            raise _fatal(exc.message, exc.code) from None
    return ListenRequest(room=rooms[0], lang=lang)


def _fatal(message: str, code: ErrorCode) -> ProtocolError:
    exc = ProtocolError(message, code=code)
    exc.fatal = True
    return exc
