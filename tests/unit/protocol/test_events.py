"""server.protocol.events: each typed event's wire form against the JSON Schemas, its traits,
and the round trip through from_wire."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from server.errors import OverloadedError, ProtocolError
from server.protocol.events import (
    AudioInfo,
    End,
    Error,
    Joined,
    Metrics,
    Ready,
    ServerEvent,
    SpeakerStarted,
    Transcript,
    Translation,
    Word,
    error_of,
    from_wire,
    traits,
)
from server.protocol.schema import schema_for

READY = Ready(
    session_id="abc", models={"asr": "tiny.en", "mt": {}},
    audio=AudioInfo("pcm_s16le", 16000, 1), source_language="en", target_languages=("de",),
    translation={"de": "mt"}, routes={"de": {"via": "mt", "model": "opus-mt-en-de"}},
    room=None, latency="balanced", limits={"max_frame_bytes": 65536, "sample_rate": 16000},
    seq=1,
)
PARTIAL = Transcript(False, 0, "hello wor", "hello", " wor", 0.12345, 1.0, "en", 412.345,
                     3.21, 40.06, seq=2)
FINAL = Transcript(True, 0, "hello world", "hello world", "", 0.1, 1.23456, "en", None,
                   3.0, 40.0, reason="endpoint",
                   words=(Word("hello", 0.1, 0.5, 0.98765), Word("world", 0.6, 1.2, 0.9)), seq=3)
TRANSLATION = Translation(True, "de", 0, "Hallo Welt", "Hallo Welt", (0,), "hello world", 0.1,
                          1.2, "mt", 800.05, 120.04, 3.0, 40.0, seq=4)
PIVOT = Translation(False, "fr", 1, "Bonjour", "", (1,), "hallo", 0.0, 1.0, "pivot", None,
                    0.0, 0.0, 0.0, pivot_text="hello", seq=5)
METRICS = Metrics(3, False, 2.5, 1.5, 0.25, 1.0, 20.0, 0.0133333, seq=6)
ERROR = Error("overloaded", "busy", True, 1000, seq=7)
END = End("stop", 2, 4, 2.5, 3.25, seq=8)
SPEAKER_EVENTS: list[ServerEvent] = [READY, PARTIAL, FINAL, TRANSLATION, PIVOT, METRICS, ERROR,
                                     END]


@pytest.mark.parametrize("event", SPEAKER_EVENTS, ids=lambda e: f"{e.type}-{e.seq}")
def test_wire_form_matches_its_schema(event: ServerEvent) -> None:
    wire = event.to_wire()
    jsonschema.validate(wire, schema_for(event.type))
    assert json.loads(json.dumps(wire)) == wire


def test_ready_with_resume_fields_matches_its_schema() -> None:
    from dataclasses import replace

    fresh = replace(READY, resume_token="t" * 32, resume_grace_s=30.0).to_wire()
    jsonschema.validate(fresh, schema_for("ready"))
    assert list(fresh)[-3:] == ["seq", "resume_token", "resume_grace_s"]
    resumed = replace(READY, resumed=True, resume_grace_s=30.0, audio_bytes=3200,
                      audio_s=0.1, replayed=2).to_wire()
    jsonschema.validate(resumed, schema_for("ready"))
    assert list(resumed)[-6:] == ["seq", "resumed", "resume_grace_s", "audio_bytes", "audio_s",
                                  "replayed"]


def test_wire_fields_order_and_rounding_are_the_protocols() -> None:
    assert PARTIAL.to_wire() == {
        "type": "transcript", "final": False, "segment": 0, "text": "hello wor",
        "stable": "hello", "unstable": " wor", "start": 0.123, "end": 1.0, "language": "en",
        "latency_ms": 412.3, "queue_ms": 3.2, "asr_ms": 40.1, "seq": 2,
    }
    assert list(FINAL.to_wire()) == [
        "type", "final", "segment", "text", "stable", "unstable", "start", "end", "language",
        "reason", "words", "latency_ms", "queue_ms", "asr_ms", "seq"]
    assert FINAL.to_wire()["words"][0] == {"word": "hello", "start": 0.1, "end": 0.5,
                                           "probability": 0.988}
    assert list(PIVOT.to_wire()) == [
        "type", "final", "lang", "segment", "text", "stable", "source_segments", "source_text",
        "start", "end", "via", "pivot_text", "latency_ms", "mt_ms", "queue_ms", "asr_ms", "seq"]
    assert "pivot_text" not in TRANSLATION.to_wire()
    assert METRICS.to_wire()["rtf"] == 0.013
    assert "seq" not in END.__class__("stop").to_wire()
    assert End("disconnected").to_wire() == {"type": "end", "reason": "disconnected"}


@pytest.mark.parametrize("event", [*SPEAKER_EVENTS,
                                   Joined("r", "de", ({"session_id": "s"},), {"via": "mt"}, 1),
                                   SpeakerStarted("r", "s", "rep", "en", ("de",), {}, 2)],
                         ids=lambda e: f"{e.type}-{e.seq}")
def test_from_wire_reads_back_what_to_wire_wrote(event: ServerEvent) -> None:
    wire = event.to_wire()
    again = from_wire(json.loads(json.dumps(wire)))
    assert again.to_wire() == wire
    assert type(again) is type(event)
    assert traits(wire) == event.traits


def test_from_wire_ignores_the_room_envelope() -> None:
    wire = {**FINAL.to_wire(), "session_id": "s1", "replica": "r", "room": "x"}
    assert from_wire(wire) == from_wire(FINAL.to_wire())


@pytest.mark.parametrize("wire", [
    {"type": "transcript"}, {"type": "nope"}, {}, {"type": "error", "code": "x"},
    {"type": "translation", "final": True, "lang": "de", "segment": 0, "text": "",
     "source_segments": [], "via": "teleport"},
    {"type": "end", "reason": "x", "segments": "many"},
])
def test_from_wire_refuses_a_malformed_event(wire: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as err:
        from_wire(wire)
    assert err.value.code == "bad_message"


def test_what_each_event_is() -> None:
    assert PARTIAL.traits.droppable and not PARTIAL.traits.kept_for_resume
    assert PARTIAL.traits.for_room and not PARTIAL.traits.final
    assert FINAL.traits.final and FINAL.traits.kept_for_resume and not FINAL.traits.droppable
    assert TRANSLATION.traits.kept_for_resume and not PIVOT.traits.kept_for_resume
    assert METRICS.traits.droppable and not METRICS.traits.for_room
    assert METRICS.final is False and not METRICS.traits.kept_for_resume
    assert ERROR.traits.kept_for_resume and not ERROR.traits.for_room
    assert END.traits.kept_for_resume and END.traits.for_room
    assert not READY.traits.kept_for_resume and not READY.traits.droppable
    assert not traits({"type": 3}).droppable and not traits({"type": "future"}).for_room


def test_error_of_an_exception() -> None:
    wire = error_of(OverloadedError("busy", retry_after_ms=500)).to_wire()
    jsonschema.validate({**wire, "seq": 1}, schema_for("error"))
    assert wire == {"type": "error", "code": "overloaded", "message": "busy", "fatal": True,
                    "retry_after_ms": 500}
