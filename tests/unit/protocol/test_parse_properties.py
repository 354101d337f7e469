"""Property tests of `parse_client_text`: any text is a typed message or a clean error.

The oracle (what must hold for every input) lives in tests/fuzz/targets.py and
is shared with the atheris fuzzer (tests/fuzz/fuzz_protocol.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.audio.decode import AudioSpec
from server.errors import ParleyError
from server.protocol.messages import StartMessage, parse_client_text
from tests.fuzz.targets import MAX_ERROR_MESSAGE, PROTOCOL_SEEDS, check_protocol_text

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=6,
)
#: Cheaper than json_values: one level of nesting is enough to hit every type check.
field_values = json_scalars | st.lists(json_scalars, max_size=3) | st.dictionaries(
    st.sampled_from(["session_id", "resume_token", "last_seq", "x"]), json_scalars, max_size=3
)
KEYS = ("type", "audio", "source_language", "target_languages", "room", "token",
        "partials", "resume", "protocol", "latency")


@settings(max_examples=100, deadline=None)
@given(st.text())
@example("")
@example("{")
@example("[" * 100_000)  # deep nesting: RecursionError inside json
@example('{"type":"start","audio":' + "1" * 5000 + "}")  # over json's int-digit limit
@example('{"type":"start","audio":{"encoding":"' + "x" * 1000 + '"}}')  # huge echo
def test_any_text_gives_a_message_or_a_protocol_error(text: str) -> None:
    check_protocol_text(text)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_any_json_value(value: Any) -> None:
    check_protocol_text(json.dumps(value))


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(KEYS),
        field_values | st.sampled_from(["start", "flush", "stop", "pcm_s16le", "en", "zh"]),
    ),
    st.sampled_from(["start", "flush", "stop", "other"]),
    st.dictionaries(st.sampled_from(["encoding", "sample_rate", "channels", "rate"]),
                    field_values | st.sampled_from(["pcm_f32le", "webm", 16000, 2])),
)
def test_start_like_objects_with_wrong_fields(
    obj: dict[str, Any], kind: str, audio: dict[str, Any]
) -> None:
    check_protocol_text(json.dumps({**obj, "type": kind, "audio": audio}))


# -- valid starts round-trip ----------------------------------------------------

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ALNUM = _LOWER + _LOWER.upper() + "0123456789"
lang = st.builds(
    lambda base, sub: base + (f"-{sub}" if sub else ""),
    st.text(_LOWER, min_size=2, max_size=3),
    st.none() | st.text(_ALNUM, min_size=2, max_size=8),
)
room = st.text(_ALNUM + "_.-", min_size=1, max_size=64)
pcm_audio = st.fixed_dictionaries({
    "encoding": st.sampled_from(["pcm_s16le", "pcm_f32le"]),
    "sample_rate": st.integers(8000, 192000),
}, optional={"channels": st.integers(1, 8)})
container_audio = st.fixed_dictionaries(
    {"encoding": st.sampled_from(["webm", "ogg"])},
    optional={"sample_rate": st.integers(8000, 192000), "channels": st.integers(1, 8)},
)
valid_start = st.fixed_dictionaries(
    {"type": st.just("start"), "audio": pcm_audio | container_audio},
    optional={
        "source_language": st.none() | st.just("auto") | lang,
        "target_languages": st.none() | st.lists(lang, max_size=8),
        "room": st.none() | room,
        "token": st.none() | st.text(max_size=40),
        "partials": st.booleans(),
        "latency": st.none() | st.sampled_from(["fast", "balanced", "accurate"]),
        "protocol": st.just(1),
        "resume": st.none() | st.fixed_dictionaries({
            "session_id": st.text(max_size=20),
            "resume_token": st.text(max_size=20),
            "last_seq": st.integers(0, 2**53),
        }),
    },
)


def norm(code: str) -> str:
    return code.split("-")[0].lower()


def to_wire(msg: StartMessage) -> dict[str, Any]:
    """A StartMessage back to its JSON form (what a client would send)."""
    out: dict[str, Any] = {
        "type": "start",
        "audio": {"encoding": msg.audio.encoding, "sample_rate": msg.audio.sample_rate,
                  "channels": msg.audio.channels},
        "source_language": msg.source_language,
        "target_languages": list(msg.target_languages),
        "room": msg.room,
        "token": msg.token,
        "partials": msg.partials,
        "latency": msg.latency,
    }
    if msg.resume is not None:
        out["resume"] = {"session_id": msg.resume.session_id,
                         "resume_token": msg.resume.resume_token,
                         "last_seq": msg.resume.last_seq}
    return out


@settings(max_examples=100, deadline=None)
@given(valid_start)
def test_valid_start_parses_and_round_trips(obj: dict[str, Any]) -> None:
    msg = parse_client_text(json.dumps(obj))
    assert isinstance(msg, StartMessage)
    audio = obj["audio"]
    assert msg.audio.encoding == audio["encoding"]
    assert msg.audio.channels == audio.get("channels", 1)
    if "sample_rate" in audio:
        assert msg.audio.sample_rate == audio["sample_rate"]
    src = obj.get("source_language")
    assert msg.source_language == (None if src in (None, "auto") else norm(src))
    expected_targets: list[str] = []
    for t in obj.get("target_languages") or []:
        if norm(t) not in expected_targets:
            expected_targets.append(norm(t))
    assert list(msg.target_languages) == expected_targets
    assert msg.room == obj.get("room")
    assert msg.token == obj.get("token")
    assert msg.partials == obj.get("partials", True)
    assert msg.latency == obj.get("latency")
    resume = obj.get("resume")
    assert (msg.resume is None) == (resume is None)
    if msg.resume is not None:
        assert (msg.resume.session_id, msg.resume.last_seq) == (
            resume["session_id"], resume["last_seq"])
    # Its own wire form parses to the same message (compact and pretty-printed).
    assert parse_client_text(json.dumps(to_wire(msg))) == msg
    assert parse_client_text(json.dumps(to_wire(msg), indent=2, ensure_ascii=False)) == msg


@pytest.mark.parametrize("text", PROTOCOL_SEEDS)
def test_seed_corpus_is_checked(text: str) -> None:
    check_protocol_text(text)


def test_error_messages_are_bounded_for_huge_fields() -> None:
    big = "y" * 1000
    cases = [
        {"type": "start", "audio": {"encoding": big}},
        {"type": "start", "audio": {"encoding": "pcm_s16le", "sample_rate": [1] * 400}},
        {"type": "start", "audio": {"encoding": "pcm_s16le", big: 1}},
        {"type": "start", "audio": {"encoding": "webm"}, "source_language": big},
        {"type": big},
    ]
    for obj in cases:
        with pytest.raises(ParleyError) as exc:
            parse_client_text(json.dumps(obj))
        assert len(exc.value.message) <= MAX_ERROR_MESSAGE, obj.keys()


def test_audio_spec_of_a_valid_start_is_an_audio_spec() -> None:
    msg = parse_client_text(PROTOCOL_SEEDS[0])
    assert isinstance(msg, StartMessage) and isinstance(msg.audio, AudioSpec)
