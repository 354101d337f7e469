from __future__ import annotations

import json

from server.mqtt import topics
from server.mqtt.messages import (
    demand_message,
    event_message,
    parse_demand,
    parse_event,
    status_message,
)


def test_topics_round_trip() -> None:
    assert topics.transcript("parley", "r1") == "parley/rooms/r1/transcript"
    assert topics.parse("parley", "parley/rooms/r1/transcript") == topics.Parsed(
        "r1", "transcript", None)
    assert topics.parse("p/q", topics.translation("p/q", "r", "de")) == topics.Parsed(
        "r", "translation", "de")
    assert topics.parse("parley", topics.status("parley", "r", "s9")).arg == "s9"
    assert topics.parse("parley", topics.demand("parley", "r", "b")).kind == "demand"
    assert topics.parse("parley", "parley/rooms/r/other/x") is None
    assert topics.parse("parley", "other/rooms/r/transcript") is None
    assert topics.watch("parley", "r", frozenset({"de"})) == {
        "parley/rooms/r/transcript", "parley/rooms/r/status/+", "parley/rooms/r/translation/de"}


def test_partials_qos0_finals_qos1_retained() -> None:
    partial = event_message("parley", "r", {"type": "transcript", "final": False}, 1.0)
    final = event_message("parley", "r", {"type": "translation", "final": True, "lang": "de",
                                          "text": "ä"}, 1.0)
    assert partial is not None and final is not None
    assert (partial.qos, partial.retain, partial.expiry_s, partial.final) == (0, False, 10, False)
    assert (final.qos, final.retain, final.expiry_s, final.final) == (1, True, 3600, True)
    assert final.topic == "parley/rooms/r/translation/de"
    assert json.loads(final.payload)["text"] == "ä"
    assert event_message("parley", "r", {"type": "metrics"}, 0) is None


def test_status_and_demand() -> None:
    live = status_message("parley", "r", "s", {"type": "speaker"}, 0, refresh_s=30)
    end = status_message("parley", "r", "s", {"type": "end"}, 0, refresh_s=30)
    assert (live.retain, live.qos, live.expiry_s, end.expiry_s) == (True, 1, 90, 300)
    d = demand_message("parley", "r", "b", frozenset({"fr", "de"}), 0, refresh_s=30)
    assert parse_demand(d.payload) == {"de", "fr"} and d.retain
    clear = demand_message("parley", "r", "b", None, 0, refresh_s=30)
    assert clear.payload == b"" and parse_demand(clear.payload) == frozenset()
    assert parse_demand(b"{not json") == frozenset() and parse_demand(b"[1]") == frozenset()
    assert parse_event(b'{"type":"end"}') == {"type": "end"}
    assert parse_event(b"[]") is None and parse_event(b"\xff") is None
