"""What is published for each room event: topic, QoS, retain, MQTT 5 expiry (sans-I/O).

Policy (docs/rooms-mqtt.md):
- partial transcript/translation: QoS 0, not retained, expiry 10 s (stale
  seconds later; a lost partial is replaced by the next one anyway);
- final transcript/translation: QoS 1, retained (the last final per topic,
  for late subscribers), expiry 1 h;
- status (`speaker` while live, refreshed; `end` at the end): QoS 1, retained,
  expiry 3x the refresh period while live, 5 min after the end;
- demand (languages a replica's listeners want): QoS 1, retained, expiry 3x
  the refresh period; an empty retained payload clears it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from server.mqtt import topics
from server.protocol.events import traits
from server.protocol.messages import Event

PARTIAL_EXPIRY_S = 10
FINAL_EXPIRY_S = 3600
END_EXPIRY_S = 300


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    expiry_s: int
    #: loop time when queued; a partial still queued after its expiry is not sent
    created: float
    #: finals, status and demand are never dropped while there is room for them
    final: bool


def encode(event: Event) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def event_message(prefix: str, room: str, event: Event, now: float) -> Outgoing | None:
    kind = event.get("type")
    if kind == "transcript":
        topic = topics.transcript(prefix, room)
    elif kind == "translation" and isinstance(event.get("lang"), str):
        topic = topics.translation(prefix, room, event["lang"])
    else:
        return None
    final = traits(event).final
    return Outgoing(
        topic=topic,
        payload=encode(event),
        qos=1 if final else 0,
        retain=final,
        expiry_s=FINAL_EXPIRY_S if final else PARTIAL_EXPIRY_S,
        created=now,
        final=final,
    )


def status_message(
    prefix: str, room: str, session_id: str, event: Event, now: float, refresh_s: float
) -> Outgoing:
    live = event.get("type") != "end"
    return Outgoing(
        topic=topics.status(prefix, room, session_id),
        payload=encode(event),
        qos=1,
        retain=True,
        expiry_s=int(3 * refresh_s) if live else END_EXPIRY_S,
        created=now,
        final=True,
    )


def demand_message(
    prefix: str, room: str, replica: str, langs: frozenset[str] | None, now: float,
    refresh_s: float,
) -> Outgoing:
    payload = b"" if langs is None else encode({"replica": replica, "langs": sorted(langs)})
    return Outgoing(
        topic=topics.demand(prefix, room, replica),
        payload=payload,
        qos=1,
        retain=True,
        expiry_s=int(3 * refresh_s),
        created=now,
        final=True,
    )


def parse_demand(payload: bytes) -> frozenset[str]:
    """Languages in a demand payload; empty (cleared or unreadable) -> no demand."""
    if not payload:
        return frozenset()
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return frozenset()
    langs = obj.get("langs") if isinstance(obj, dict) else None
    if not isinstance(langs, list):
        return frozenset()
    return frozenset(x for x in langs if isinstance(x, str) and 0 < len(x) <= 16)


def parse_event(payload: bytes) -> Event | None:
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("type"), str) else None
