"""The LiveKit plugin's pure core: Parley events -> SpeechEvents, audio layout, error mapping."""

from __future__ import annotations

from typing import Any

import numpy as np
from livekit.agents import APIConnectionError, APIStatusError, stt

from clients.livekit.parley_livekit.events import (
    END_OF_SPEECH_HANGOVER_S,
    EventMapper,
    ReplayBuffer,
    parse_transcript,
    parse_translation,
    pcm_s16le,
)
from clients.livekit.parley_livekit.stt import api_error
from clients.python.parley_client.errors import ParleyClientError

T = stt.SpeechEventType


def transcript(text: str, *, final: bool = False, segment: int = 0, start: float = 1.0,
               end: float = 2.0, reason: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "transcript", "seq": 3, "final": final, "segment": segment, "text": text,
        "stable": text if final else "", "unstable": "" if final else text, "start": start,
        "end": end, "language": "en", "latency_ms": 420.0, "queue_ms": 1, "asr_ms": 80,
    }
    if final:
        event["reason"] = reason
        event["words"] = [
            {"word": " Hello", "start": start, "end": start + 0.4, "probability": 0.9},
            {"word": " there.", "start": start + 0.5, "end": end, "probability": 0.7},
        ]
    return event


def mapper() -> EventMapper:
    return EventMapper(request_id="sess-1", language="en", time_offset=10.0, wall_start=1000.0)


def test_partial_opens_speech_and_is_an_interim_with_offset_times() -> None:
    m = mapper()
    events = m.transcript(parse_transcript(transcript("Hello")))
    assert [e.type for e in events] == [T.START_OF_SPEECH, T.INTERIM_TRANSCRIPT]
    assert events[0].speech_start_time == 1001.0
    data = events[1].alternatives[0]
    assert (data.text, data.language, data.start_time, data.end_time) == ("Hello", "en", 11, 12)
    assert data.confidence == 0.0 and data.words is None
    assert all(e.request_id == "sess-1" for e in events)
    # A second partial of the same speech is only an interim.
    assert [e.type for e in m.transcript(parse_transcript(transcript("Hello th")))] == [
        T.INTERIM_TRANSCRIPT]


def test_endpoint_final_carries_words_confidence_usage_and_ends_speech() -> None:
    m = mapper()
    m.transcript(parse_transcript(transcript("Hello")))
    assert m.audio(2.5) == []
    events = m.transcript(parse_transcript(transcript("Hello there.", final=True,
                                                      reason="endpoint")))
    assert [e.type for e in events] == [T.FINAL_TRANSCRIPT, T.RECOGNITION_USAGE, T.END_OF_SPEECH]
    data = events[0].alternatives[0]
    assert abs(data.confidence - 0.8) < 1e-9
    assert data.words == ["Hello", "there."]
    assert data.words[0].start_time == 11.0 and data.words[1].end_time == 12.0
    assert data.words[0].confidence == 0.9
    assert events[1].recognition_usage is not None
    assert events[1].recognition_usage.audio_duration == 2.5
    assert events[2].speech_end_time == 1002.0
    assert not m.in_speech
    # The next speech starts afresh.
    again = m.transcript(parse_transcript(transcript("More", segment=1, start=4, end=5)))
    assert again[0].type == T.START_OF_SPEECH


def test_sentence_final_keeps_speech_open_until_the_hangover_passes() -> None:
    m = mapper()
    events = m.transcript(parse_transcript(transcript("Hello there.", final=True,
                                                      reason="sentence")))
    assert [e.type for e in events] == [T.START_OF_SPEECH, T.FINAL_TRANSCRIPT]
    assert m.in_speech
    assert m.audio(2.0 + END_OF_SPEECH_HANGOVER_S - 0.1) == []
    # The speaker goes on: the next partial keeps the speech open, no second start.
    more = m.transcript(parse_transcript(transcript("And", segment=1, start=3.4, end=3.6)))
    assert [e.type for e in more] == [T.INTERIM_TRANSCRIPT]
    assert m.audio(10.0) == []  # a partial, not a final: Parley's endpoint final will come
    last = m.transcript(parse_transcript(transcript("And so.", final=True, segment=1,
                                                    start=3.4, end=4.0, reason="sentence")))
    assert T.END_OF_SPEECH not in [e.type for e in last]
    ended = m.audio(4.0 + END_OF_SPEECH_HANGOVER_S)
    assert [e.type for e in ended] == [T.END_OF_SPEECH]
    assert ended[0].speech_end_time == 1004.0
    assert m.audio(20.0) == []


def test_end_closes_open_speech_and_reports_remaining_usage() -> None:
    m = mapper()
    m.transcript(parse_transcript(transcript("Hello")))
    m.audio(3.0)
    events = m.end()
    assert [e.type for e in events] == [T.RECOGNITION_USAGE, T.END_OF_SPEECH]
    assert m.end() == []


def test_empty_partials_do_not_start_speech() -> None:
    m = mapper()
    assert m.transcript(parse_transcript(transcript("  "))) == []
    assert not m.in_speech


def test_translation_is_typed_and_shifted() -> None:
    tr = parse_translation({
        "type": "translation", "seq": 9, "final": True, "lang": "de", "segment": 0,
        "text": "Hallo.", "stable": "Hallo.", "source_segments": [0, 1], "source_text": "Hi.",
        "start": 1.0, "end": 2.5, "via": "mt", "latency_ms": 700, "mt_ms": 30,
    }, time_offset=10.0, request_id="sess-1")
    assert (tr.language, tr.text, tr.final, tr.source_segments) == ("de", "Hallo.", True, (0, 1))
    assert (tr.start, tr.end, tr.via, tr.latency_ms, tr.request_id) == (
        11.0, 12.5, "mt", 700.0, "sess-1")


def test_pcm_keeps_a_matching_layout_and_folds_a_changed_one() -> None:
    stereo = np.array([[100, 300], [-200, -400]], dtype=np.int16)
    raw = stereo.tobytes()
    assert pcm_s16le(memoryview(raw), 2, 2) == raw
    mono = np.frombuffer(pcm_s16le(raw, 2, 1), dtype="<i2")
    assert mono.tolist() == [200, -300]
    spread = np.frombuffer(pcm_s16le(mono.tobytes(), 1, 2), dtype="<i2")
    assert spread.tolist() == [200, 200, -300, -300]


def test_errors_map_to_the_framework_types() -> None:
    bad_token = api_error(ParleyClientError("invalid API token", "unauthorized"))
    assert isinstance(bad_token, APIStatusError)
    assert bad_token.status_code == 401 and not bad_token.retryable
    assert "invalid API token" in bad_token.message and "unauthorized" in bad_token.message
    pair = api_error(ParleyClientError("no route nl -> fr", "unsupported_pair"))
    assert isinstance(pair, APIStatusError) and not pair.retryable
    busy = api_error(ParleyClientError("at capacity", "overloaded"))
    assert isinstance(busy, APIStatusError) and busy.status_code == 503 and busy.retryable
    dropped = api_error(ParleyClientError("cannot connect to ws://x"))
    assert isinstance(dropped, APIConnectionError) and dropped.retryable
    assert dropped.message == "Parley: cannot connect to ws://x"
    slow = api_error(ParleyClientError("closed", "slow_consumer"))
    assert isinstance(slow, APIConnectionError) and slow.retryable


def test_replay_buffer_holds_what_is_not_final_yet() -> None:
    buf = ReplayBuffer(sample_rate=1000, channels=2, max_s=3.0)  # 4000 bytes a second
    buf.append(b"\x01\x00\x02\x00" * 1500)  # 1.5 s
    assert (buf.start_s, buf.end_s) == (0.0, 1.5)
    buf.final_until(1.0)
    assert buf.start_s == 1.0 and len(buf.pending()) == 2000
    buf.final_until(0.5)  # a final behind what is already dropped changes nothing
    assert buf.start_s == 1.0
    buf.final_until(1.00033)  # never splits a sample frame
    assert len(buf.pending()) % 4 == 0
    buf.append(b"\x00" * 4000 * 4)  # 4 s more: only the last 3 s are held
    assert buf.end_s == 5.5 and buf.start_s == 2.5
    buf.final_until(9.0)
    assert buf.pending() == b"" and buf.start_s == buf.end_s == 5.5
