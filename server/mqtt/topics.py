"""Topic names (sans-I/O).

    {prefix}/rooms/{room}/transcript              transcript events (partial QoS 0, final QoS 1 retained)
    {prefix}/rooms/{room}/translation/{lang}      translation events into `lang` (same)
    {prefix}/rooms/{room}/status/{session_id}     `speaker` while live, then `end` (QoS 1 retained)
    {prefix}/rooms/{room}/demand/{replica}        languages a replica's listeners want (QoS 1 retained)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["transcript", "translation", "status", "demand"]


def room_base(prefix: str, room: str) -> str:
    return f"{prefix}/rooms/{room}"


def transcript(prefix: str, room: str) -> str:
    return f"{room_base(prefix, room)}/transcript"


def translation(prefix: str, room: str, lang: str) -> str:
    return f"{room_base(prefix, room)}/translation/{lang}"


def status(prefix: str, room: str, session_id: str) -> str:
    return f"{room_base(prefix, room)}/status/{session_id}"


def demand(prefix: str, room: str, replica: str) -> str:
    return f"{room_base(prefix, room)}/demand/{replica}"


def all_demand(prefix: str) -> str:
    return f"{prefix}/rooms/+/demand/+"


def watch(prefix: str, room: str, langs: frozenset[str]) -> set[str]:
    """The subscriptions a replica needs to follow `room` for listeners of `langs`."""
    base = room_base(prefix, room)
    return {f"{base}/transcript", f"{base}/status/+"} | {f"{base}/translation/{x}" for x in langs}


@dataclass(frozen=True)
class Parsed:
    room: str
    kind: Kind
    #: the lang (translation), session id (status) or replica (demand); None for transcript
    arg: str | None


def parse(prefix: str, topic: str) -> Parsed | None:
    head = f"{prefix}/rooms/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/")
    if len(parts) == 2 and parts[1] == "transcript":
        return Parsed(parts[0], "transcript", None)
    if len(parts) == 3 and parts[2]:
        kind = _WITH_ARG.get(parts[1])
        if kind is not None:
            return Parsed(parts[0], kind, parts[2])
    return None


_WITH_ARG: dict[str, Kind] = {"translation": "translation", "status": "status", "demand": "demand"}
