"""The Deepgram translator alone: query string, control messages, Parley events -> Results."""

from __future__ import annotations

import json

import pytest

from server.compat.common import g711_to_pcm16, presented_token
from server.compat.deepgram import DeepgramError, DeepgramTranslator, ListenOptions, parse_query
from server.protocol.events import End, Error, Transcript, Word
from server.protocol.messages import FlushMessage, StartMessage, StopMessage

Q = ("/deepgram/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000&channels=1"
     "&language=en-US&interim_results=true&punctuate=true&vad_events=true&utterance_end_ms=1000")


def _tr(path: str = Q) -> DeepgramTranslator:
    return DeepgramTranslator(parse_query(path), token="t", request_id="r-1",
                              created="2026-12-07T00:00:00Z")


def _t(segment: int, text: str, *, final: bool = False, reason: str | None = None) -> Transcript:
    words = tuple(Word(w, 1.0 + i, 1.5 + i, 0.8) for i, w in enumerate(text.split()))
    return Transcript(final=final, segment=segment, text=text, stable="", unstable=text,
                      start=1.0, end=3.5, language="en", reason=reason,
                      words=words if final else (), latency_ms=250.0, queue_ms=0.0, asr_ms=50.0)


def test_query_becomes_options_and_start() -> None:
    o = parse_query(Q)
    assert o == ListenOptions(encoding="linear16", sample_rate=16000, channels=1, language="en",
                              interim_results=True, punctuate=True, smart_format=False,
                              utterance_end_ms=1000, vad_events=True, model="nova-3")
    (start,) = _tr().open().parley
    assert isinstance(start, StartMessage)
    assert (start.audio.encoding, start.audio.sample_rate) == ("pcm_s16le", 16000)
    assert start.source_language == "en" and start.token == "t" and start.partials
    assert parse_query("/deepgram/v1/listen?encoding=mulaw&sample_rate=8000&language=multi"
                       ).language is None


@pytest.mark.parametrize("query", [
    "encoding=linear16",  # no sample_rate
    "encoding=flac&sample_rate=16000",
    "encoding=linear16&sample_rate=16000&diarize=true",
    "encoding=linear16&sample_rate=16000&multichannel=true",
    "encoding=linear16&sample_rate=16000&bogus=1",
    "encoding=linear16&sample_rate=1000",
    "encoding=linear16&sample_rate=16000&interim_results=yes",
    "encoding=linear16&sample_rate=16000&language=klingon-xx-yy",
])
def test_unsupported_parameters_are_refused(query: str) -> None:
    with pytest.raises(DeepgramError) as info:
        parse_query("/deepgram/v1/listen?" + query)
    assert info.value.code == "Bad Request" and info.value.message


def test_control_messages() -> None:
    tr = _tr()
    tr.open()
    assert tr.on_client(json.dumps({"type": "KeepAlive"})).parley == []
    assert tr.on_client(json.dumps({"type": "Finalize"})).parley == [FlushMessage(type="flush")]
    assert tr.on_client(json.dumps({"type": "CloseStream"})).parley == [StopMessage(type="stop")]
    assert tr.on_client(b"\0\0").parley == [b"\0\0"]
    err = tr.on_client(json.dumps({"type": "Nope"})).client[0]
    assert err["type"] == "Error" and err["description"]
    assert tr.on_client("not json").client[0]["type"] == "Error"


def test_results_interim_then_final_with_speech_events() -> None:
    tr = _tr()
    tr.open()
    out = tr.on_parley(_t(0, "Hello there"))
    assert [m["type"] for m in out] == ["SpeechStarted", "Results"]
    interim = out[1]
    assert interim["is_final"] is False and interim["speech_final"] is False
    assert interim["channel"]["alternatives"][0]["transcript"] == "Hello there"
    assert [m["type"] for m in tr.on_parley(_t(0, "Hello there, friend"))] == ["Results"]
    out = tr.on_parley(_t(0, "Hello there, friend.", final=True, reason="endpoint"))
    assert [m["type"] for m in out] == ["Results", "UtteranceEnd"]
    final = out[0]
    assert final["is_final"] and final["speech_final"] and final["from_finalize"] is False
    alt = final["channel"]["alternatives"][0]
    assert alt["transcript"] == "Hello there, friend."
    assert [w["word"] for w in alt["words"]] == ["hello", "there", "friend"]
    assert [w["punctuated_word"] for w in alt["words"]] == ["Hello", "there,", "friend."]
    assert alt["confidence"] == pytest.approx(0.8)
    assert final["start"] == 1.0 and final["duration"] == 2.5
    assert out[1]["last_word_end"] == 3.5
    # a sentence final inside an utterance is not speech_final
    out = tr.on_parley(_t(1, "Next one.", final=True, reason="sentence"))
    assert [m["type"] for m in out] == ["SpeechStarted", "Results"]
    assert out[1]["is_final"] and not out[1]["speech_final"]


def test_finalize_marks_its_final_and_end_is_metadata() -> None:
    tr = _tr()
    tr.open()
    tr.on_client(json.dumps({"type": "Finalize"}))
    out = tr.on_parley(_t(0, "Cut short", final=True, reason="flush"))
    (res,) = [m for m in out if m["type"] == "Results"]
    assert res["from_finalize"] is True and res["speech_final"]
    (meta,) = tr.on_parley(End("stop", audio_s=12.5))
    assert meta["type"] == "Metadata" and meta["duration"] == 12.5
    assert meta["request_id"] == "r-1" and meta["channels"] == 1
    (err,) = tr.on_parley(Error("bad_audio", "cannot decode", True))
    assert err["type"] == "Error" and err["code"] == "BAD_AUDIO"


def test_unformatted_text_is_bare_and_interims_only_when_asked() -> None:
    tr = _tr("/deepgram/v1/listen?encoding=linear16&sample_rate=16000")
    tr.open()
    assert tr.on_parley(_t(0, "Hello, World")) == []  # no interim_results, no vad_events
    out = tr.on_parley(_t(0, "Hello, World!", final=True, reason="stop"))
    alt = out[0]["channel"]["alternatives"][0]
    assert alt["transcript"] == "hello world"
    assert "punctuated_word" not in alt["words"][0]


def test_containers_are_sniffed_and_g711_expanded() -> None:
    tr = _tr("/deepgram/v1/listen")
    assert tr.open().parley == []
    assert tr.on_client(b"RIFF....").client[0]["type"] == "Error"
    step = tr.on_client(b"OggS\0rest")
    assert isinstance(step.parley[0], StartMessage) and step.parley[0].audio.encoding == "ogg"
    assert step.parley[1] == b"OggS\0rest"
    tr = _tr("/deepgram/v1/listen?encoding=alaw&sample_rate=8000")
    assert tr.open().parley[0].audio.encoding == "pcm_s16le"  # type: ignore[union-attr]
    assert tr.on_client(b"\xd5\x55").parley == [g711_to_pcm16(b"\xd5\x55", "alaw")]
    assert g711_to_pcm16(b"\xd5\x55", "alaw") == (8).to_bytes(2, "little", signed=True) + (
        -8).to_bytes(2, "little", signed=True)


@pytest.mark.parametrize(("headers", "path", "token"), [
    ([("Authorization", "Token abc")], "/x", "abc"),
    ([("authorization", "Bearer xyz")], "/x", "xyz"),
    ([("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-1")], "/x", "sk-1"),
    ([("Sec-WebSocket-Protocol", "token, dg-key")], "/x", "dg-key"),
    ([], "/x?token=q", "q"),
    ([("Authorization", "Basic zzz")], "/x", None),
])
def test_presented_token(headers: list[tuple[str, str]], path: str, token: str | None) -> None:
    assert presented_token(headers, path) == token


def test_close_before_any_audio_ends_the_connection() -> None:
    tr = _tr("/deepgram/v1/listen")  # a container: no session until its first bytes
    step = tr.on_client(json.dumps({"type": "CloseStream"}))
    assert step.close and step.parley == [] and step.client[0]["type"] == "Metadata"
