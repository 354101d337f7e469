"""Room event shapes and which events a listener receives (sans-I/O).

Listeners get the speaker's `transcript` events, the `translation` events of
their own language, and `end`; plus two room events: `joined` (first event
of a listener connection) and `speaker` (a speaker started in the room).
Every event a listener gets carries the speaker's `session_id` and the
listener connection's own `seq` (stamped by the hub, 1, 2, 3...).
"""

from __future__ import annotations

from typing import Any

from server.protocol.events import traits
from server.protocol.messages import Event


def forwarded(event: Event) -> bool:
    """Whether a speaker event goes to the room at all (metrics/errors/ready stay private)."""
    return traits(event).for_room


def wants(event: Event, lang: str | None) -> bool:
    """Whether a listener of `lang` (None: transcript only) receives this room event."""
    if event.get("type") == "translation":
        return lang is not None and event.get("lang") == lang
    return True


def is_final(event: Event) -> bool:
    return traits(event).final


def speaker_info(
    session_id: str, replica: str, source_language: str | None, targets: list[str]
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "replica": replica,
        "source_language": source_language,
        "target_languages": targets,
    }


def joined_event(
    room: str, lang: str | None, speakers: list[dict[str, Any]], route: dict[str, Any] | None
) -> Event:
    """`route`: how a local speaker produces `lang` (`server.mt.routes.route_json`), or None."""
    return {
        "type": "joined",
        "protocol": 1,
        "room": room,
        "lang": lang,
        "speaker": bool(speakers),
        "speakers": speakers,
        #: "mt" / "whisper" / "pivot" / "transcript", or None
        "translation": None if route is None else route["via"],
        "route": route,
    }


def speaker_event(room: str, info: dict[str, Any]) -> Event:
    return {"type": "speaker", "room": room, **info}


def disconnected_end(session_id: str) -> Event:
    """`end` for a speaker whose connection dropped without `stop`."""
    return {"type": "end", "reason": "disconnected", "session_id": session_id}
