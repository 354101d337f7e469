"""Wire protocol v1: typed client messages, parsing, and server event shapes.

Sans-I/O: `parse_client_text` takes the text of one WebSocket frame and returns
a typed message or raises `ProtocolError` with a stable code. Server events are
plain dicts built by the helpers at the bottom, so they serialize straight to
JSON; their shapes are pinned by the JSON Schemas in `schema/` and by tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from server.audio.decode import AudioSpec
from server.errors import ParleyError, ProtocolError
from server.streaming.policy import LATENCY_MODES, LatencyMode

PROTOCOL_VERSION = 1

_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_ROOM_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_TARGETS = 8


@dataclass(frozen=True)
class StartMessage:
    type: Literal["start"]
    audio: AudioSpec
    source_language: str | None  # None: detect
    target_languages: tuple[str, ...]
    room: str | None = None
    token: str | None = None
    #: Resume an earlier session (after a dropped connection); None for a new session.
    resume: ResumeRequest | None = None
    partials: bool = True
    #: Latency mode of this session's recognition; None: the server's default (`--latency`).
    latency: LatencyMode | None = None


@dataclass(frozen=True)
class ResumeRequest:
    session_id: str
    resume_token: str
    last_seq: int


@dataclass(frozen=True)
class FlushMessage:
    type: Literal["flush"]


@dataclass(frozen=True)
class StopMessage:
    type: Literal["stop"]


ClientMessage: TypeAlias = StartMessage | FlushMessage | StopMessage
ClientType = Literal["start", "flush", "stop"]


def parse_client_text(text: str) -> ClientMessage:
    """Parse one text frame from a speaker. Raises ProtocolError."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and ints over 4300 digits
        raise ProtocolError(f"text frame is not valid JSON: {exc}", code="bad_json") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a control message must be a JSON object", code="bad_json")
    kind = obj.get("type")
    if kind == "start":
        try:
            return _parse_start(obj)
        except ParleyError as exc:
            exc.fatal = True  # no session can exist after a failed start
            raise
    if kind == "flush":
        return FlushMessage(type="flush")
    if kind == "stop":
        return StopMessage(type="stop")
    if not isinstance(kind, str):
        raise ProtocolError("message has no string field 'type'", code="bad_message")
    raise ProtocolError(
        f"unknown message type {kind[:40]!r}; expected start, flush or stop", code="unknown_type"
    )


def normalize_language(value: object, what: str) -> str:
    if not isinstance(value, str) or not _LANG_RE.match(value.strip()):
        raise ProtocolError(
            f"{what} must be a language code such as 'en' or 'zh', got {_show(value)}",
            code="unsupported_language",
        )
    return value.strip().split("-")[0].lower()


def _parse_start(obj: dict[str, Any]) -> StartMessage:
    protocol = obj.get("protocol", PROTOCOL_VERSION)
    if protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol {_show(protocol)} is not supported; this server speaks {PROTOCOL_VERSION}",
            code="bad_message",
        )
    if "audio" not in obj:
        raise ProtocolError("start needs an 'audio' object", code="bad_message")
    audio = AudioSpec.parse(obj["audio"])

    src = obj.get("source_language")
    source: str | None
    if src is None or src == "auto":
        source = None
    else:
        source = normalize_language(src, "source_language")

    raw_targets = obj.get("target_languages", [])
    if raw_targets is None:
        raw_targets = []
    if not isinstance(raw_targets, list):
        raise ProtocolError("target_languages must be a list of language codes", code="bad_message")
    if len(raw_targets) > MAX_TARGETS:
        raise ProtocolError(f"at most {MAX_TARGETS} target languages", code="bad_message")
    targets: list[str] = []
    for t in raw_targets:
        code = normalize_language(t, "each of target_languages")
        if code not in targets:
            targets.append(code)

    room = obj.get("room")
    if room is not None and (not isinstance(room, str) or not _ROOM_RE.match(room)):
        raise ProtocolError(
            "room must be 1-64 characters of letters, digits, '_', '-', '.'", code="bad_message"
        )
    token = obj.get("token")
    if token is not None and not isinstance(token, str):
        raise ProtocolError("token must be a string", code="bad_message")
    partials = obj.get("partials", True)
    if not isinstance(partials, bool):
        raise ProtocolError("partials must be true or false", code="bad_message")
    latency = obj.get("latency")
    if latency is not None and latency not in LATENCY_MODES:
        raise ProtocolError(
            f"latency must be one of {', '.join(map(repr, LATENCY_MODES))} (or absent for the "
            f"server's default), got {_show(latency)}",
            code="bad_message",
        )
    return StartMessage(
        type="start",
        audio=audio,
        source_language=source,
        target_languages=tuple(targets),
        room=room,
        token=token,
        resume=_parse_resume(obj.get("resume")),
        partials=partials,
        latency=latency,
    )


def _parse_resume(value: object) -> ResumeRequest | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("resume must be an object", code="bad_message")
    sid, tok, last = value.get("session_id"), value.get("resume_token"), value.get("last_seq", 0)
    if not isinstance(sid, str) or not isinstance(tok, str):
        raise ProtocolError("resume needs session_id and resume_token strings", code="bad_message")
    if not isinstance(last, int) or isinstance(last, bool) or last < 0:
        raise ProtocolError("resume.last_seq must be a non-negative integer", code="bad_message")
    return ResumeRequest(session_id=sid, resume_token=tok, last_seq=last)


def _show(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- server events ---------------------------------------------------------

EventType = Literal["ready", "transcript", "translation", "metrics", "error", "end"]
Event: TypeAlias = dict[str, Any]


@dataclass
class Sequencer:
    """Numbers every event a session emits; `seq` starts at 1 and never repeats."""

    last: int = 0

    def next(self) -> int:
        self.last += 1
        return self.last

    def stamp(self, event: Event) -> Event:
        event["seq"] = self.next()
        return event


def dumps(event: Event) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))
