"""Rooms: one speaker's events fanned out to many listeners, here and on other replicas.

The hub runs on the event loop and never awaits: a speaker's `emit` hands it
each event, and it copies the event into every interested listener's bounded
`Outbox` (one writer task per listener drains it to the socket), so a slow
listener costs the speaker one `put`, never a wait. A listener whose outbox
overflows with finals (`SlowConsumer`) is disconnected with close code 1008
"slow_consumer"; partials may be dropped for it first (Outbox policy).

Translation happens once per room and language: the hub adds a target to the
speaker's `Translations` when the first listener of a language joins and
removes it when the last one leaves (never a language the speaker asked for).
A language reached through English shares the speaker's one English leg with
English listeners and every other such language (server.session.translations).

Across replicas the hub talks to a `RoomBridge` (the MQTT link): it publishes
local speakers' events, says which rooms and languages its listeners follow
(`set_interest`, which also publishes this replica's language demand), and
receives remote speakers' events and other replicas' demand.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from server.errors import UnsupportedError
from server.models.languages import check_known_target
from server.protocol.close_codes import CLOSE_POLICY
from server.protocol.events import error_of
from server.protocol.messages import Event, Sequencer, StartMessage
from server.rooms.demand import LanguageDemand, plan_target_changes
from server.rooms.events import (
    disconnected_end,
    forwarded,
    joined_event,
    speaker_event,
    speaker_info,
    wants,
)
from server.session.outbox import Outbox, SlowConsumer

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)

#: Ended remote sessions remembered per room, so late duplicates (MQTT replays) are ignored.
_ENDED_MEMORY = 64


class Speaker(Protocol):
    """What the hub needs of a speaker `Session`."""

    @property
    def id(self) -> str: ...
    @property
    def start(self) -> StartMessage: ...
    @property
    def closed(self) -> bool: ...
    @property
    def language(self) -> str | None:
        """The spoken language: announced, or detected (None until then)."""

    def routes(self) -> Mapping[str, str]:
        """target -> how the speaker produces it ("mt" / "whisper" / "pivot")."""

    def describe_routes(self) -> dict[str, dict[str, Any]]:
        """target -> its route in wire form."""

    def add_target(self, target: str) -> str:
        """Translate into `target` from now on; returns how. Raises UnsupportedError."""

    def remove_target(self, target: str) -> None:
        """Stop translating into `target` (pending finals still go out)."""


class RoomBridge(Protocol):
    """The hub's link to other replicas (server.mqtt.link.MqttLink)."""

    def publish_event(self, room: str, event: Event) -> None: ...
    def publish_status(self, room: str, session_id: str, event: Event) -> None: ...
    def set_interest(self, room: str, langs: frozenset[str] | None) -> None: ...


@dataclass(eq=False)
class Listener:
    id: int
    room: str
    lang: str | None
    outbox: Outbox
    seq: Sequencer = field(default_factory=Sequencer)
    #: Set when the hub disconnects the listener (slow, or its language became unservable).
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = 1000
    close_reason: str = "done"


@dataclass(eq=False)
class _LocalSpeaker:
    session: Speaker
    info: dict[str, Any]
    #: languages the room added (the only ones it may remove)
    added: set[str] = field(default_factory=set)
    #: languages that could not be added, with the error listeners of them get
    refused: dict[str, UnsupportedError] = field(default_factory=dict)


@dataclass(eq=False)
class Room:
    name: str
    demand: LanguageDemand
    listeners: dict[int, Listener] = field(default_factory=dict)
    speakers: dict[str, _LocalSpeaker] = field(default_factory=dict)
    #: live speakers on other replicas: session id -> speaker info
    remote: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (session id, topic kind) -> highest speaker seq delivered (drops MQTT duplicates)
    high_water: dict[tuple[str, str], int] = field(default_factory=dict)
    ended: deque[str] = field(default_factory=lambda: deque(maxlen=_ENDED_MEMORY))
    #: the interest last told to the bridge (None: not watching)
    watched: frozenset[str] | None = None

    @property
    def idle(self) -> bool:
        return not self.listeners and not self.speakers and self.demand.empty


class RoomHub:
    def __init__(
        self,
        *,
        replica_id: str,
        servable: Callable[[str], bool],
        listener_capacity: int = 512,
        demand_ttl_s: float = 90.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replica_id = replica_id
        self._servable = servable
        self.listener_capacity = listener_capacity
        self._demand_ttl_s = demand_ttl_s
        self._clock = clock
        self.rooms: dict[str, Room] = {}
        self.bridge: RoomBridge | None = None
        self._ids = itertools.count(1)
        #: listeners disconnected for being too far behind ("slow_consumer")
        self.slow_disconnects = 0
        #: partial and metrics events dropped from slow listeners' queues (Outbox policy)
        self.dropped_events = 0

    @classmethod
    def for_services(cls, services: Services, replica_id: str) -> RoomHub:
        asr = services.asr_info

        def servable(lang: str) -> bool:
            # A language is worth waiting for if a speaker could speak it (transcript) or
            # some model could translate into it.
            return (
                lang in asr.languages
                or services.mt_targets_any(lang)
                or (lang == "en" and asr.can_translate_to_english)
            )

        return cls(
            replica_id=replica_id,
            servable=servable,
            listener_capacity=services.config.limits.outbox_events,
        )

    # -- speakers (local sessions) -------------------------------------------

    def speaker_emit(
        self, room: str, session_id: str, put: Callable[[Event], None]
    ) -> Callable[[Event], None]:
        """An `emit` for a speaker session in `room`: to the room, then to the speaker."""

        def emit(event: Event) -> None:
            try:
                self.on_speaker_event(room, session_id, event)
            except Exception:  # a room problem must never break the speaker's own session
                log.exception("room %s: fan-out failed", room)
            put(event)

        return emit

    def attach_speaker(self, room_name: str, session: Speaker) -> None:
        room = self._room(room_name)
        info = speaker_info(
            session.id,
            self.replica_id,
            session.start.source_language,
            list(session.start.target_languages),
        )
        entry = _LocalSpeaker(session, info)
        room.speakers[session.id] = entry
        self._kick_refused(room, self._sync_speaker(room, entry))
        # How each language is made, for listeners who joined before this speaker.
        event = speaker_event(room_name, {**info, "routes": session.describe_routes()})
        self._fanout(room, event)
        if self.bridge is not None:
            self.bridge.publish_status(room_name, session.id, self._wire(room_name, session.id, event))
        log.info("room %s: speaker %s joined (%d listeners)", room_name, session.id, len(room.listeners))

    def on_speaker_event(self, room_name: str, session_id: str, event: Event) -> None:
        if not forwarded(event):
            return
        room = self.rooms.get(room_name)
        if room is None or session_id not in room.speakers:
            return  # already ended
        payload = {**event, "session_id": session_id}
        if self.bridge is not None:
            wire = self._wire(room_name, session_id, event)
            if event.get("type") == "end":
                self.bridge.publish_status(room_name, session_id, wire)
            else:
                self.bridge.publish_event(room_name, wire)
        self._fanout(room, payload)
        if event.get("type") == "end":
            del room.speakers[session_id]
            log.info("room %s: speaker %s left", room_name, session_id)
            self._gc(room)

    def detach_speaker(self, room_name: str, session_id: str) -> None:
        """The speaker's connection is gone; listeners get `end` unless they already did."""
        room = self.rooms.get(room_name)
        if room is not None and session_id in room.speakers:
            self.on_speaker_event(room_name, session_id, disconnected_end(session_id))

    def _wire(self, room: str, session_id: str, event: Event) -> Event:
        """The event as published to other replicas (keeps the speaker's seq for dedup)."""
        return {**event, "session_id": session_id, "replica": self.replica_id, "room": room}

    # -- listeners -------------------------------------------------------------

    def join(self, room_name: str, lang: str | None, outbox: Outbox) -> Listener:
        """Add a listener; raises UnsupportedError: unsupported_language if `lang` is no
        language, unsupported_pair if it cannot be served."""
        if lang is not None:
            check_known_target(lang)
            if not self._servable(lang):
                raise UnsupportedError(
                    f"this server cannot produce {lang!r}: no speech model speaks it and no "
                    "translation model translates into it",
                    code="unsupported_pair",
                )
        room = self._room(room_name)
        listener = Listener(next(self._ids), room_name, lang, outbox)
        room.listeners[listener.id] = listener
        room.demand.add_local(lang)
        failures: dict[str, UnsupportedError] = {}
        for entry in list(room.speakers.values()):
            failures.update(self._sync_speaker(room, entry))
            if lang is not None and lang in entry.refused:
                failures[lang] = entry.refused[lang]
        if lang is not None and lang in failures:
            self._remove_listener(listener)
            raise failures.pop(lang)
        self._kick_refused(room, failures)
        route = None
        for entry in room.speakers.values():
            route = route or entry.session.describe_routes().get(lang or "")
        speakers = [e.info for e in room.speakers.values()] + list(room.remote.values())
        self._deliver(listener, joined_event(room_name, lang, speakers, route))
        self._update_interest(room)
        log.info("room %s: listener %d joined (lang %s)", room_name, listener.id, lang)
        return listener

    def leave(self, listener: Listener) -> None:
        self._remove_listener(listener)

    def listeners(self, room_name: str) -> int:
        room = self.rooms.get(room_name)
        return len(room.listeners) if room else 0

    def _remove_listener(self, listener: Listener) -> None:
        room = self.rooms.get(listener.room)
        if room is None or room.listeners.pop(listener.id, None) is None:
            return
        room.demand.remove_local(listener.lang)
        self._sync_room(room)
        self._update_interest(room)
        self._gc(room)

    # -- remote (other replicas, via the bridge) -------------------------------

    def on_remote_event(self, room_name: str, event: Event, *, retained: bool = False) -> None:
        if event.get("replica") == self.replica_id:
            return  # our own publication
        room = self.rooms.get(room_name)
        if room is None or not room.listeners:
            return
        sid = str(event.get("session_id", ""))
        kind = event.get("type")
        if sid in room.ended or sid in room.speakers:
            return
        if kind == "speaker":
            if sid not in room.remote:
                info = {k: event.get(k) for k in ("session_id", "replica", "source_language",
                                                   "target_languages")}
                room.remote[sid] = info
                self._fanout(room, speaker_event(room_name, info))
            return
        if kind == "end":
            if room.remote.pop(sid, None) is not None:
                room.ended.append(sid)
                for key in [k for k in room.high_water if k[0] == sid]:
                    del room.high_water[key]
                self._fanout(room, event)
            return
        if retained or kind not in ("transcript", "translation"):
            return  # a retained final is history, not a live caption
        key = (sid, "transcript" if kind == "transcript" else f"translation/{event.get('lang')}")
        seq = event.get("seq")
        if isinstance(seq, int):
            if seq <= room.high_water.get(key, 0):
                return  # a duplicate (the publisher replays after reconnecting)
            room.high_water[key] = seq
        if sid not in room.remote:
            room.remote[sid] = {"session_id": sid, "replica": event.get("replica")}
        self._fanout(room, event)

    def on_remote_demand(self, room_name: str, replica: str, langs: frozenset[str]) -> None:
        if replica == self.replica_id:
            return
        room = self.rooms.get(room_name)
        if room is None:
            if not langs:
                return
            room = self._room(room_name)
        if room.demand.set_remote(replica, langs, self._clock()):
            self._sync_room(room)
        self._gc(room)

    def sweep(self) -> None:
        """Forget stale remote demand (call every few seconds)."""
        now = self._clock()
        for room in list(self.rooms.values()):
            if room.demand.expire(now):
                self._sync_room(room)
            self._gc(room)

    # -- internals -------------------------------------------------------------

    def _room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name, LanguageDemand(ttl_s=self._demand_ttl_s))
        return room

    def _gc(self, room: Room) -> None:
        if room.idle and room.watched is None and self.rooms.get(room.name) is room:
            del self.rooms[room.name]

    def _update_interest(self, room: Room) -> None:
        interest = room.demand.local_langs() if room.listeners else None
        if interest != room.watched:
            room.watched = interest
            if self.bridge is not None:
                self.bridge.set_interest(room.name, interest)

    def _sync_room(self, room: Room) -> None:
        failures: dict[str, UnsupportedError] = {}
        for entry in list(room.speakers.values()):
            failures.update(self._sync_speaker(room, entry))
        self._kick_refused(room, failures)

    def _sync_speaker(self, room: Room, entry: _LocalSpeaker) -> dict[str, UnsupportedError]:
        """Make the speaker translate what the room wants; returns newly refused languages."""
        session = entry.session
        if session.closed:
            return {}
        changes = plan_target_changes(
            wanted=room.demand.wanted(),
            routes=frozenset(session.routes()),
            required=frozenset(session.start.target_languages),
            added=frozenset(entry.added),
            refused=frozenset(entry.refused),
            source=session.start.source_language or session.language,
        )
        refused: dict[str, UnsupportedError] = {}
        for lang in changes.add:
            try:
                via = session.add_target(lang)
            except UnsupportedError as exc:
                entry.refused[lang] = refused[lang] = exc
                log.info("room %s: cannot add %s to speaker %s: %s", room.name, lang,
                         session.id, exc.code)
            else:
                entry.added.add(lang)
                log.info("room %s: speaker %s now translates to %s (%s)", room.name,
                         session.id, lang, via)
        for lang in changes.remove:
            session.remove_target(lang)
            entry.added.discard(lang)
            log.info("room %s: speaker %s stops translating to %s", room.name, session.id, lang)
        return refused

    def _kick_refused(self, room: Room, refused: dict[str, UnsupportedError]) -> None:
        for lang, exc in refused.items():
            for listener in [x for x in room.listeners.values() if x.lang == lang]:
                self._kick(listener, CLOSE_POLICY, exc.code, error_of(exc).to_wire())

    def kick(self, listener: Listener, code: int, reason: str, error: Event | None = None) -> None:
        """Disconnect `listener` (after `error`, if any): its endpoint closes with `code`."""
        self._kick(listener, code, reason, error)

    def _kick(self, listener: Listener, code: int, reason: str, error: Event | None = None) -> None:
        if listener.gone.is_set():
            return
        if error is not None:
            try:
                listener.outbox.put(listener.seq.stamp(dict(error)))
            except SlowConsumer:
                pass
        listener.close_code, listener.close_reason = code, reason
        listener.gone.set()
        self._remove_listener(listener)

    def _fanout(self, room: Room, event: Event) -> None:
        for listener in list(room.listeners.values()):
            if wants(event, listener.lang):
                self._deliver(listener, event)

    def _deliver(self, listener: Listener, event: Event) -> None:
        if listener.gone.is_set():
            return
        outbox = listener.outbox
        before = outbox.dropped
        try:
            outbox.put(listener.seq.stamp(dict(event)))
        except SlowConsumer:
            self.slow_disconnects += 1
            log.warning("room %s: listener %d too far behind (%d partial events dropped for "
                        "it), disconnecting", listener.room, listener.id, outbox.dropped)
            self._kick(listener, CLOSE_POLICY, "slow_consumer")
        finally:
            self.dropped_events += outbox.dropped - before
