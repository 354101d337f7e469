"""server.session.resume: replay buffer, session channel and resume key (sans-I/O)."""

from __future__ import annotations

import pytest

from server.protocol.messages import Event, Sequencer
from server.session.outbox import Outbox
from server.session.resume import ReplayBuffer, ReplayGap, ResumeKey, SessionChannel, retained


def events(seq: Sequencer, *kinds: str) -> list[Event]:
    out = []
    for kind in kinds:
        name, _, final = kind.partition(":")
        event: Event = {"type": name}
        if name in ("transcript", "translation"):
            event["final"] = final == "final"
        out.append(seq.stamp(event))
    return out


def test_only_what_a_client_must_not_lose_is_retained() -> None:
    assert retained({"type": "transcript", "final": True})
    assert retained({"type": "translation", "final": True})
    assert retained({"type": "end"}) and retained({"type": "error"})
    assert not retained({"type": "transcript", "final": False})
    assert not retained({"type": "metrics"}) and not retained({"type": "ready"})


def test_since_returns_retained_events_after_last_seq() -> None:
    seq = Sequencer()
    buf = ReplayBuffer(10)
    evs = events(seq, "ready", "transcript:partial", "metrics", "transcript:final",
                 "translation:final", "transcript:partial", "end")
    for e in evs:
        buf.add(e)
    assert [e["seq"] for e in buf.since(0)] == [4, 5, 7]
    assert [e["seq"] for e in buf.since(4)] == [5, 7]
    assert buf.since(7) == []


def test_an_evicted_event_the_client_missed_is_a_gap() -> None:
    seq = Sequencer()
    buf = ReplayBuffer(2)
    for e in events(seq, "transcript:final", "transcript:final", "transcript:final"):
        buf.add(e)
    assert len(buf) == 2 and buf.evicted_through == 1
    assert [e["seq"] for e in buf.since(1)] == [2, 3]  # the client had seq 1
    with pytest.raises(ReplayGap):
        buf.since(0)


async def test_channel_delivers_live_events_and_replays_on_attach() -> None:
    seq = Sequencer()
    seen: list[Event] = []
    channel = SessionChannel(ReplayBuffer(), observe=seen.append)
    first = Outbox(16)
    channel.attach(first)
    a, b, c = events(seq, "transcript:final", "transcript:partial", "transcript:final")
    channel.put(a)
    channel.detach()  # the connection dropped
    channel.put(b)
    channel.put(c)
    assert len(first) == 1 and seen == [a, b, c]
    second = Outbox(16)
    channel.attach(second, replay=channel.replay.since(a["seq"]))
    d = events(seq, "end")[0]
    channel.put(d)
    assert [await second.get() for _ in range(len(second))] == [c, d]


async def test_a_slow_consumer_is_detached_not_raised_into_the_session() -> None:
    seq = Sequencer()
    slow: list[str] = []
    channel = SessionChannel()
    outbox = Outbox(2)
    channel.attach(outbox, on_slow=lambda: slow.append("slow"))
    finals = events(seq, "transcript:final", "transcript:final", "transcript:final")
    for e in finals:
        channel.put(e)  # the third does not fit: no exception here
    assert slow == ["slow"] and not channel.attached
    assert [e["seq"] for e in channel.replay.since(0)] == [1, 2, 3]  # kept for a resume


def test_resume_key_matches_its_token_only() -> None:
    key, token = ResumeKey.new()
    other, token2 = ResumeKey.new()
    assert len(token) >= 32 and token != token2
    assert key.matches(token) and not key.matches(token2) and not other.matches(token)
    assert not key.matches("") and not key.matches(token + "x")
