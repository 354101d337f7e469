"""The room hub with fake speakers (no models, no sockets): fan-out, per-room translation
targets, slow listeners, and events from other replicas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from server.audio.decode import AudioSpec
from server.errors import UnsupportedError
from server.protocol.messages import Event, StartMessage
from server.rooms.hub import Listener, RoomHub
from server.session.outbox import Outbox


@dataclass
class FakeTranslations:
    routes: dict[str, str] = field(default_factory=dict)
    unsupported: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def add_target(self, target: str, language: str | None = None) -> str:
        self.calls.append(("add", target))
        if target in self.unsupported:
            raise UnsupportedError(f"no model for {target}", code="unsupported_pair")
        self.routes[target] = "mt"
        return "mt"

    def remove_target(self, target: str) -> None:
        self.calls.append(("remove", target))
        self.routes.pop(target, None)

    def describe(self) -> dict[str, str]:
        return dict(self.routes)

    def describe_routes(self) -> dict[str, dict[str, Any]]:
        return {t: {"via": via, "model": "m"} for t, via in self.routes.items()}


@dataclass
class FakeSession:
    id: str
    start: StartMessage
    translations: FakeTranslations
    language: str | None = None
    closed: bool = False

    def routes(self) -> dict[str, str]:
        return self.translations.describe()

    def describe_routes(self) -> dict[str, dict[str, Any]]:
        return self.translations.describe_routes()

    def add_target(self, target: str) -> str:
        return self.translations.add_target(target, self.language)

    def remove_target(self, target: str) -> None:
        self.translations.remove_target(target)


def session(sid: str = "s1", *, source: str | None = "en", targets: tuple[str, ...] = (),
            unsupported: set[str] | None = None) -> FakeSession:
    start = StartMessage(type="start", audio=AudioSpec("pcm_s16le"), source_language=source,
                         target_languages=targets, room="r")
    routes = {t: "mt" for t in targets}
    return FakeSession(sid, start, FakeTranslations(routes, unsupported or set()))


@dataclass
class FakeBridge:
    events: list[tuple[str, Event]] = field(default_factory=list)
    statuses: list[tuple[str, str, Event]] = field(default_factory=list)
    interest: list[tuple[str, frozenset[str] | None]] = field(default_factory=list)

    def publish_event(self, room: str, event: Event) -> None:
        self.events.append((room, event))

    def publish_status(self, room: str, session_id: str, event: Event) -> None:
        self.statuses.append((room, session_id, event))

    def set_interest(self, room: str, langs: frozenset[str] | None) -> None:
        self.interest.append((room, langs))


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def make_hub(servable: set[str] | None = None, clock: Clock | None = None) -> RoomHub:
    langs = servable if servable is not None else {"en", "de", "fr", "zh"}
    return RoomHub(replica_id="me", servable=langs.__contains__, listener_capacity=16,
                   clock=clock or Clock())


def drain(listener: Listener) -> list[Event]:
    out = list(listener.outbox._items)
    listener.outbox._items.clear()
    return out


def transcript(seg: int, final: bool, text: str = "hello", seq: int = 1) -> Event:
    return {"type": "transcript", "final": final, "segment": seg, "text": text, "seq": seq}


def translation(lang: str, final: bool, text: str = "hallo", seq: int = 1) -> Event:
    return {"type": "translation", "final": final, "lang": lang, "segment": 0, "text": text,
            "seq": seq}


def test_listeners_get_room_events_with_their_own_seq() -> None:
    hub = make_hub()
    a = hub.join("r", None, Outbox(16))
    b = hub.join("r", "de", Outbox(16))
    sp = session()
    hub.attach_speaker("r", sp)
    put: list[Event] = []
    emit = hub.speaker_emit("r", sp.id, put.append)
    for ev in (transcript(0, False, seq=2), {"type": "metrics", "seq": 3},
               translation("de", True, seq=4), translation("fr", True, seq=5),
               transcript(0, True, seq=6)):
        emit(ev)
    assert [e["seq"] for e in put] == [2, 3, 4, 5, 6]  # the speaker gets everything, unchanged
    got_a, got_b = drain(a), drain(b)
    assert [e["type"] for e in got_a] == ["joined", "speaker", "transcript", "transcript"]
    assert [e["type"] for e in got_b] == [
        "joined", "speaker", "transcript", "translation", "transcript"]
    assert [e["seq"] for e in got_b] == [1, 2, 3, 4, 5]
    assert got_b[3]["lang"] == "de" and got_b[3]["session_id"] == "s1"
    assert got_a[0]["speaker"] is False and got_a[1]["session_id"] == "s1"


def test_each_language_is_translated_once_and_dropped_with_its_last_listener() -> None:
    hub = make_hub()
    sp = session(targets=("fr",))
    hub.attach_speaker("r", sp)
    de = [hub.join("r", "de", Outbox(16)) for _ in range(3)]
    fr = hub.join("r", "fr", Outbox(16))
    en = hub.join("r", "en", Outbox(16))  # the source language: the transcript serves it
    assert sp.translations.calls == [("add", "de")]
    joined = drain(de[0])[0]
    assert joined["translation"] == "mt" and joined["route"] == {"via": "mt", "model": "m"}
    assert drain(en)[0]["route"] is None
    hub.leave(de[0])
    hub.leave(de[1])
    assert sp.translations.calls == [("add", "de")]
    hub.leave(de[2])
    assert sp.translations.calls == [("add", "de"), ("remove", "de")]
    hub.leave(fr)  # the speaker's own target stays
    hub.leave(en)
    assert ("remove", "fr") not in sp.translations.calls


def test_a_listener_waiting_before_the_speaker_gets_its_language_added() -> None:
    hub = make_hub()
    de = hub.join("r", "de", Outbox(16))
    sp = session()
    hub.attach_speaker("r", sp)
    assert sp.translations.routes == {"de": "mt"}
    events = drain(de)
    assert [e["type"] for e in events] == ["joined", "speaker"]
    assert events[1]["routes"] == {"de": {"via": "mt", "model": "m"}}  # how de is made


def test_unservable_and_unsupported_languages_are_refused() -> None:
    hub = make_hub(servable={"en", "de", "it"})
    with pytest.raises(UnsupportedError) as info:
        hub.join("r", "fr", Outbox(16))  # a language, but nothing here produces it
    assert info.value.code == "unsupported_pair"
    with pytest.raises(UnsupportedError, match="'xx' is not a language code") as info:
        hub.join("r", "xx", Outbox(16))
    assert info.value.code == "unsupported_language"
    waiting = hub.join("r", "it", Outbox(16))
    sp = session(unsupported={"it"})
    hub.attach_speaker("r", sp)  # this speaker cannot give `it`: its listeners are told, closed
    assert waiting.gone.is_set() and waiting.close_code == 1008
    assert waiting.close_reason == "unsupported_pair"
    assert [e["type"] for e in drain(waiting)] == ["joined", "error"]
    with pytest.raises(UnsupportedError):
        hub.join("r", "it", Outbox(16))  # refused at once now, without asking again
    assert sp.translations.calls == [("add", "it")]
    assert hub.listeners("r") == 0


def test_a_slow_listener_is_disconnected_without_slowing_others() -> None:
    hub = make_hub()
    slow = hub.join("r", None, Outbox(3))
    fast = hub.join("r", None, Outbox(64))
    sp = session()
    hub.attach_speaker("r", sp)
    put: list[Event] = []
    emit = hub.speaker_emit("r", sp.id, put.append)
    emit(transcript(0, False))  # slow: joined, speaker, partial (full)
    emit(transcript(0, False))  # the older partial is dropped for it
    assert slow.outbox.dropped == 1 and not slow.gone.is_set()
    assert hub.dropped_events == 1 and hub.slow_disconnects == 0
    emit(transcript(0, True))  # replaces the other partial
    assert hub.dropped_events == 2 and not slow.gone.is_set()
    emit(transcript(1, True))  # no room for a final: too far behind
    assert slow.gone.is_set() and slow.close_reason == "slow_consumer"
    assert slow.close_code == 1008 and hub.slow_disconnects == 1
    assert hub.dropped_events == 2  # partials first, then the disconnect
    emit(transcript(2, True))
    assert len(put) == 5
    assert [e["segment"] for e in drain(fast) if e["type"] == "transcript"] == [0, 0, 0, 1, 2]
    assert hub.listeners("r") == 1


def test_end_reaches_listeners_who_stay_for_the_next_speaker() -> None:
    hub = make_hub()
    bridge = FakeBridge()
    hub.bridge = bridge
    lis = hub.join("r", None, Outbox(16))
    first = session("s1")
    hub.attach_speaker("r", first)
    hub.speaker_emit("r", "s1", lambda e: None)({"type": "end", "reason": "stop", "seq": 9})
    hub.detach_speaker("r", "s1")  # after `end`: nothing more
    second = session("s2")
    hub.attach_speaker("r", second)
    hub.detach_speaker("r", "s2")  # dropped without `end`
    kinds = [(e["type"], e.get("session_id"), e.get("reason")) for e in drain(lis)]
    assert kinds == [("joined", None, None), ("speaker", "s1", None), ("end", "s1", "stop"),
                     ("speaker", "s2", None), ("end", "s2", "disconnected")]
    assert [(s[1], s[2]["type"]) for s in bridge.statuses] == [
        ("s1", "speaker"), ("s1", "end"), ("s2", "speaker"), ("s2", "end")]
    assert bridge.statuses[0][2]["replica"] == "me"


def test_the_bridge_gets_events_and_interest() -> None:
    hub = make_hub()
    bridge = FakeBridge()
    hub.bridge = bridge
    a = hub.join("r", "de", Outbox(16))
    b = hub.join("r", None, Outbox(16))
    sp = session()
    hub.attach_speaker("r", sp)
    emit = hub.speaker_emit("r", sp.id, lambda e: None)
    emit(transcript(0, True, seq=7))
    emit({"type": "metrics", "seq": 8})
    assert [e["seq"] for _, e in bridge.events] == [7]  # the speaker's seq, for dedup
    assert bridge.events[0][1]["session_id"] == "s1" and bridge.events[0][1]["room"] == "r"
    hub.leave(a)
    hub.leave(b)
    assert bridge.interest == [("r", frozenset({"de"})), ("r", frozenset()), ("r", None)]


def test_a_failing_room_never_breaks_the_speaker() -> None:
    hub = make_hub()

    class Broken(FakeBridge):
        def publish_event(self, room: str, event: Event) -> None:
            raise RuntimeError("boom")

    hub.bridge = Broken()
    sp = session()
    hub.attach_speaker("r", sp)
    put: list[Event] = []
    hub.speaker_emit("r", sp.id, put.append)(transcript(0, True))
    assert len(put) == 1


def remote(kind: str, seq: int, sid: str = "x1", replica: str = "other", **kw: Any) -> Event:
    return {"type": kind, "seq": seq, "session_id": sid, "replica": replica, **kw}


def test_events_from_other_replicas_reach_listeners_once() -> None:
    hub = make_hub()
    lis = hub.join("r", "de", Outbox(32))
    drain(lis)
    hub.on_remote_event("r", remote("speaker", 1, source_language="en"))
    hub.on_remote_event("r", remote("speaker", 1))  # a status refresh: not news
    hub.on_remote_event("r", remote("transcript", 2, final=False, segment=0, text="a"))
    hub.on_remote_event("r", remote("transcript", 3, final=True, segment=0, text="a b"))
    hub.on_remote_event("r", remote("transcript", 3, final=True, segment=0, text="a b"))  # replay
    hub.on_remote_event("r", remote("translation", 4, final=True, lang="de", text="x"))
    hub.on_remote_event("r", remote("translation", 5, final=True, lang="fr", text="y"))
    hub.on_remote_event("r", remote("transcript", 1, final=True, text="old"), retained=True)
    hub.on_remote_event("r", remote("transcript", 6, final=True, replica="me"))  # our own
    hub.on_remote_event("r", remote("end", 7, reason="stop"))
    hub.on_remote_event("r", remote("transcript", 8, final=True))  # after its end: ignored
    got = drain(lis)
    # (their own seq: `joined` was 1)
    assert [(e["type"], e.get("seq")) for e in got] == [
        ("speaker", 2), ("transcript", 3), ("transcript", 4), ("translation", 5), ("end", 6)]
    assert got[0]["session_id"] == "x1" and got[3]["lang"] == "de"
    # A retained `end` of a session we never saw live is history, not news.
    hub.on_remote_event("r", remote("end", 9, sid="old"), retained=True)
    assert drain(lis) == []


def test_remote_demand_adds_targets_until_withdrawn_or_stale() -> None:
    clock = Clock()
    hub = make_hub(clock=clock)
    sp = session()
    hub.attach_speaker("r", sp)
    hub.on_remote_demand("r", "b", frozenset({"de"}))
    hub.on_remote_demand("r", "me", frozenset({"fr"}))  # our own echo: ignored
    assert sp.translations.routes == {"de": "mt"}
    hub.on_remote_demand("r", "c", frozenset({"de", "zh"}))
    hub.on_remote_demand("r", "c", frozenset())
    assert sp.translations.calls == [("add", "de"), ("add", "zh"), ("remove", "zh")]
    clock.now = 200.0
    hub.sweep()  # b never refreshed: stale
    assert sp.translations.routes == {}
