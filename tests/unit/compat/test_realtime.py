"""The OpenAI Realtime translator alone: client events in, Parley messages and events out."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from server.compat.common import encode_parley
from server.compat.realtime import RealtimeTranslator
from server.protocol.events import AudioInfo, Error, Ready, Transcript, Translation, Word
from server.protocol.messages import FlushMessage, StartMessage, parse_client_text

GA = {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
    "format": {"type": "audio/pcm", "rate": 24000},
    "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
    "turn_detection": {"type": "server_vad"}}}}}


def _t(segment: int, text: str, stable: str, *, final: bool = False, reason: str | None = None,
       start: float = 1.0, end: float = 2.0) -> Transcript:
    words = tuple(Word(w, start, end, 0.9) for w in text.split()) if final else ()
    return Transcript(final=final, segment=segment, text=text, stable=stable,
                      unstable=text[len(stable):], start=start, end=end, language="en",
                      reason=reason, words=words, latency_ms=300.0, queue_ms=0.0, asr_ms=50.0)


def _ready(session_id: str, asr_model: str) -> Ready:
    return Ready(session_id=session_id, models={"asr": {"name": asr_model}},
                 audio=AudioInfo("pcm_s16le", 24000, 1), source_language="en",
                 target_languages=(), translation={}, routes={}, room=None, latency="fast",
                 limits={})


def _send(tr: RealtimeTranslator, event: dict[str, Any]) -> Any:
    return tr.on_client(json.dumps(event))


def _append(tr: RealtimeTranslator, data: bytes) -> Any:
    return _send(tr, {"type": "input_audio_buffer.append",
                      "audio": base64.b64encode(data).decode()})


def _configured(update: dict[str, Any] = GA, path: str = "/v1/realtime") -> RealtimeTranslator:
    tr = RealtimeTranslator(path, beta=False, token="k", ids="x")
    tr.open()
    step = _send(tr, update)
    assert isinstance(step.parley[0], StartMessage)
    tr.on_parley(_ready("s", "tiny.en"))
    return tr


def test_ga_update_becomes_parley_start_and_updated_follows_ready() -> None:
    tr = RealtimeTranslator("/v1/realtime?intent=transcription&target_languages=de",
                            beta=False, token="k", ids="x")
    created = tr.open().client
    assert created[0]["type"] == "session.created"
    assert created[0]["session"]["type"] == "transcription"
    step = _send(tr, GA)
    assert step.client == []
    start = step.parley[0]
    assert isinstance(start, StartMessage)
    assert (start.audio.encoding, start.audio.sample_rate) == ("pcm_s16le", 24000)
    assert start.source_language == "en" and start.target_languages == ("de",)
    assert start.token == "k"
    # the frame the speaker endpoint reads is a valid Parley start
    parsed = parse_client_text(str(encode_parley(start)))
    assert isinstance(parsed, StartMessage) and parsed.audio == start.audio
    updated = tr.on_parley(_ready("s", "tiny.en"))
    assert updated[0]["type"] == "session.updated"
    assert updated[0]["session"]["audio"]["input"]["transcription"]["language"] == "en"


def test_beta_form_names_its_events_and_takes_g711() -> None:
    tr = RealtimeTranslator("/v1/realtime?intent=transcription", beta=True, token=None, ids="x")
    assert tr.open().client[0]["type"] == "transcription_session.created"
    step = _send(tr, {"type": "transcription_session.update", "session": {
        "input_audio_format": "g711_ulaw", "turn_detection": None}})
    start = step.parley[0]
    assert isinstance(start, StartMessage) and start.audio.sample_rate == 8000
    assert tr.on_parley(_ready("s", "m"))[0]["type"] == "transcription_session.updated"
    pcm = _append(tr, b"\xff\x00").parley[0]
    assert pcm == (0).to_bytes(2, "little", signed=True) + (-32124).to_bytes(
        2, "little", signed=True)


@pytest.mark.parametrize(("event", "code", "param"), [
    ({"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": "e"},
     "session_not_configured", None),
    ({"type": "response.create"}, "invalid_event", "type"),
    ({"type": "session.update", "session": {"type": "realtime"}}, "invalid_value",
     "session.type"),
    ({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/flac"}}}}}, "invalid_value", "session.audio.input.format"),
    ({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"language": "not a language"}}}}}, "invalid_value",
     "session.audio.input.transcription.language"),
])
def test_refused_events_get_openais_error_shape(event: dict[str, Any], code: str,
                                                param: str | None) -> None:
    tr = RealtimeTranslator("/v1/realtime", beta=False, token=None, ids="x")
    tr.open()
    step = _send(tr, event)
    assert step.parley == []
    (err,) = step.client
    assert err["type"] == "error" and err["event_id"].startswith("event_")
    assert err["error"]["code"] == code and err["error"]["param"] == param
    assert err["error"]["type"] == "invalid_request_error" and err["error"]["message"]
    assert err["error"]["event_id"] == event.get("event_id")
    # the session goes on: it can still be configured
    assert isinstance(_send(tr, GA).parley[0], StartMessage)


def test_not_json_and_binary_frames_are_errors() -> None:
    tr = RealtimeTranslator("/v1/realtime", beta=False, token=None, ids="x")
    assert tr.on_client("{nope").client[0]["error"]["code"] == "invalid_json"
    assert tr.on_client(b"\0\0").client[0]["error"]["code"] == "invalid_event"


def test_server_vad_items_deltas_only_grow_and_complete_at_the_final() -> None:
    tr = _configured()
    assert _append(tr, b"\1\0" * 10).parley == [b"\1\0" * 10]
    out = tr.on_parley(_t(0, "Hello wor", "Hello"))
    assert [e["type"] for e in out] == ["input_audio_buffer.speech_started",
                                        "conversation.item.input_audio_transcription.delta"]
    item = out[0]["item_id"]
    assert out[0]["audio_start_ms"] == 1000 and out[1]["delta"] == "Hello"
    # unstable text is not sent; stable text that grows is
    assert tr.on_parley(_t(0, "Hello world how", "Hello")) == []
    out = tr.on_parley(_t(0, "Hello world, how", "Hello world,"))
    assert [e["delta"] for e in out] == [" world,"]
    out = tr.on_parley(_t(0, "Hello world, how are you?", "", final=True, reason="endpoint"))
    assert [e["type"] for e in out] == [
        "conversation.item.input_audio_transcription.delta",
        "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
        "conversation.item.added", "conversation.item.input_audio_transcription.completed"]
    assert out[0]["delta"] == " how are you?"
    assert out[3]["item"]["id"] == item and out[3]["item"]["role"] == "user"
    done = out[4]
    assert done["item_id"] == item and done["transcript"] == "Hello world, how are you?"
    assert done["usage"] == {"type": "duration", "seconds": 1.0}
    assert done["parley"]["latency_ms"] == 300.0
    # the next segment is the next item, chained to the first
    out = tr.on_parley(_t(1, "Fine.", "Fine.", final=True, reason="endpoint"))
    committed = next(e for e in out if e["type"] == "input_audio_buffer.committed")
    assert committed["previous_item_id"] == item and committed["item_id"] != item
    # translations ride along, named by the items they translate
    (tl,) = tr.on_parley(Translation(final=True, lang="de", segment=0, text="Hallo Welt", stable="Hallo Welt",
                    source_segments=(0,), source_text="Hello world", start=1.0, end=2.0,
                    via="mt", latency_ms=500.0, mt_ms=40.0, queue_ms=0.0, asr_ms=50.0))
    assert tl["type"] == "parley.translation" and tl["item_ids"] == [item]


def test_commit_under_vad_is_a_flush() -> None:
    tr = _configured()
    _append(tr, b"\0\0")
    step = _send(tr, {"type": "input_audio_buffer.commit"})
    assert step.parley == [FlushMessage(type="flush")] and step.client == []


def test_without_turn_detection_an_item_spans_finals_until_the_commit() -> None:
    update = json.loads(json.dumps(GA))
    update["session"]["audio"]["input"]["turn_detection"] = None
    tr = _configured(update)
    empty = _send(tr, {"type": "input_audio_buffer.commit"})
    assert empty.client[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    _append(tr, b"\0\0" * 100)
    out = tr.on_parley(_t(0, "One. Two", "One."))
    assert [e["type"] for e in out] == ["conversation.item.input_audio_transcription.delta"]
    out = tr.on_parley(_t(0, "One.", "", final=True, reason="sentence"))
    assert [e["type"] for e in out] == []  # nothing new, no completed before the commit
    step = _send(tr, {"type": "input_audio_buffer.commit"})
    assert step.parley == [FlushMessage(type="flush")]
    assert [e["type"] for e in step.client] == ["input_audio_buffer.committed",
                                                "conversation.item.added"]
    tr.on_parley(_t(1, "Two", "Two"))
    out = tr.on_parley(_t(1, "Two three.", "", final=True, reason="flush"))
    assert out[-1]["type"] == "conversation.item.input_audio_transcription.completed"
    assert out[-1]["transcript"] == "One. Two three."
    assert out[-1]["item_id"] == step.client[0]["item_id"]


def test_clear_drops_the_open_item() -> None:
    tr = _configured()
    _append(tr, b"\0\0")
    tr.on_parley(_t(0, "noise", "noise"))
    step = _send(tr, {"type": "input_audio_buffer.clear"})
    assert step.parley == [FlushMessage(type="flush")]
    assert step.client[0]["type"] == "input_audio_buffer.cleared"
    assert tr.on_parley(_t(0, "noise", "", final=True, reason="flush")) == []
    out = tr.on_parley(_t(1, "Real words.", "", final=True, reason="endpoint"))
    assert out[-1]["transcript"] == "Real words."


def test_second_update_may_change_turn_detection_only() -> None:
    tr = _configured()
    update = json.loads(json.dumps(GA))
    update["session"]["audio"]["input"]["turn_detection"] = None
    step = _send(tr, update)
    assert step.parley == [] and step.client[0]["type"] == "session.updated"
    assert step.client[0]["session"]["audio"]["input"]["turn_detection"] is None
    update["session"]["audio"]["input"]["transcription"]["language"] = "de"
    assert _send(tr, update).client[0]["error"]["param"] == "session"


def test_parley_errors_keep_their_code() -> None:
    tr = _configured()
    (err,) = tr.on_parley(Error("unauthorized", "an API token is required", True))
    assert err["error"]["type"] == "invalid_request_error"
    assert err["error"]["code"] == "unauthorized"
    (err,) = tr.on_parley(Error("overloaded", "busy", True))
    assert err["error"]["type"] == "server_error"


def test_the_gateway_routes_both_paths() -> None:
    from server.compat import deepgram, realtime
    from server.transport.http import COMPAT_WS_PATHS

    assert set(COMPAT_WS_PATHS) == {realtime.PATH, deepgram.PATH}
