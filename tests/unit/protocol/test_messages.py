from __future__ import annotations

import json

import jsonschema
import pytest

from server.errors import ParleyError
from server.protocol.messages import (
    FlushMessage,
    StartMessage,
    StopMessage,
    parse_client_text,
)
from server.protocol.schema import MESSAGE_TYPES, schema_for

START = {
    "type": "start",
    "audio": {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1},
    "source_language": "en",
    "target_languages": ["zh", "de"],
    "room": "hall-1",
}


def test_start_parses_to_a_typed_message() -> None:
    msg = parse_client_text(json.dumps(START))
    assert isinstance(msg, StartMessage)
    assert msg.source_language == "en" and msg.target_languages == ("zh", "de")
    assert msg.audio.sample_rate == 16000 and msg.room == "hall-1"
    jsonschema.validate(START, schema_for("start"))


def test_auto_language_and_dedup_targets() -> None:
    msg = parse_client_text(json.dumps({**START, "source_language": "auto", "target_languages": ["en", "EN"]}))
    assert isinstance(msg, StartMessage)
    assert msg.source_language is None and msg.target_languages == ("en",)


def test_latency_mode_is_read_and_optional() -> None:
    msg = parse_client_text(json.dumps({**START, "latency": "accurate"}))
    assert isinstance(msg, StartMessage) and msg.latency == "accurate"
    plain = parse_client_text(json.dumps(START))
    assert isinstance(plain, StartMessage) and plain.latency is None
    with pytest.raises(ParleyError, match="'fast', 'balanced', 'accurate'"):
        parse_client_text(json.dumps({**START, "latency": "slow"}))


def test_flush_and_stop() -> None:
    assert isinstance(parse_client_text('{"type":"flush"}'), FlushMessage)
    assert isinstance(parse_client_text('{"type":"stop"}'), StopMessage)


@pytest.mark.parametrize(
    ("text", "code", "fatal"),
    [
        ("not json", "bad_json", False),
        ("[1,2]", "bad_json", False),
        ('{"no":"type"}', "bad_message", False),
        ('{"type":"dance"}', "unknown_type", False),
        (json.dumps({**START, "audio": {"encoding": "mp3"}}), "bad_audio_format", True),
        (json.dumps({**START, "audio": {**START["audio"], "sample_rate": 7}}), "bad_audio_format", True),
        (json.dumps({**START, "source_language": "english!"}), "unsupported_language", True),
        (json.dumps({**START, "target_languages": "zh"}), "bad_message", True),
        (json.dumps({**START, "room": "no spaces allowed"}), "bad_message", True),
        (json.dumps({**START, "protocol": 2}), "bad_message", True),
        (json.dumps({**START, "latency": "slow"}), "bad_message", True),
        (json.dumps({**START, "latency": 1}), "bad_message", True),
        (json.dumps({k: v for k, v in START.items() if k != "audio"}), "bad_message", True),
    ],
)
def test_bad_messages_get_stable_codes(text: str, code: str, fatal: bool) -> None:
    with pytest.raises(ParleyError) as info:
        parse_client_text(text)
    assert info.value.code == code
    assert info.value.fatal is fatal
    assert info.value.message


def test_every_message_type_has_a_valid_schema() -> None:
    for kind in MESSAGE_TYPES:
        jsonschema.Draft202012Validator.check_schema(schema_for(kind))


def test_routes_and_pivot_translations_match_their_schemas() -> None:
    from server.mt.routes import Direct, Pivot, WhisperTranslate, route_json

    pivot = route_json(Pivot(WhisperTranslate("base"), Direct("en-de", "en", "de")))
    routes = schema_for("ready")["properties"]["routes"]
    validator = jsonschema.Draft202012Validator({**routes, "$defs": schema_for("ready")["$defs"]})
    assert validator.is_valid({"de": pivot, "en": {"via": "whisper", "model": "base"}})
    assert not validator.is_valid({"de": {**pivot, "legs": pivot["legs"][:1]}})
    assert not validator.is_valid({"de": {"via": "mt"}})  # which model?
    event = {"type": "translation", "seq": 3, "final": True, "lang": "de", "segment": 0,
             "text": "x", "source_segments": [0], "via": "pivot", "latency_ms": 900.0}
    assert not jsonschema.Draft202012Validator(schema_for("translation")).is_valid(event)
    jsonschema.validate({**event, "pivot_text": "y"}, schema_for("translation"))
