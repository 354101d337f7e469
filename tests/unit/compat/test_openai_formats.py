"""OpenAI's audio response bodies from timed words (server.compat.openai.formats)."""

from __future__ import annotations

import json

from server.compat.openai.formats import (
    MAX_SEGMENT_S,
    deltas,
    error_body,
    segments_of,
    srt,
    sse_events,
    timestamp,
    verbose_json,
    vtt,
)
from server.streaming.words import Word, join_words

WORDS = [
    Word(" Hello", 0.0, 0.4, 0.9), Word(" there.", 0.5, 0.9, 0.8),
    Word(" How", 1.0, 1.2), Word(" are", 1.25, 1.4),
    Word(" you", 3.0, 3.2), Word(" today?", 3.25, 3.7),
]


def test_timestamps_of_srt_and_vtt() -> None:
    assert timestamp(0, ",") == "00:00:00,000"
    assert timestamp(3725.0456, ".") == "01:02:05.046"
    assert timestamp(-0.01, ",") == "00:00:00,000"


def test_segments_end_at_sentences_and_pauses() -> None:
    segments = segments_of(WORDS)
    assert [s.text for s in segments] == ["Hello there.", "How are", "you today?"]
    assert [(s.start, s.end) for s in segments] == [(0.0, 0.9), (1.0, 1.4), (3.0, 3.7)]
    assert [s.id for s in segments] == [0, 1, 2]
    assert segments[0].avg_logprob < segments[1].avg_logprob == 0.0


def test_a_long_run_of_words_is_cut_before_max_segment_s() -> None:
    words = [Word(f" w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(200)]
    segments = segments_of(words)
    assert len(segments) > 1
    assert all(s.end - s.start <= MAX_SEGMENT_S for s in segments)
    assert " ".join(s.text for s in segments) == join_words(words)


def test_srt_and_vtt() -> None:
    segments = segments_of(WORDS)
    assert srt(segments) == (
        "1\n00:00:00,000 --> 00:00:00,900\nHello there.\n\n"
        "2\n00:00:01,000 --> 00:00:01,400\nHow are\n\n"
        "3\n00:00:03,000 --> 00:00:03,700\nyou today?\n\n"
    )
    assert vtt(segments) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:00.900\nHello there.\n\n"
        "00:00:01.000 --> 00:00:01.400\nHow are\n\n"
        "00:00:03.000 --> 00:00:03.700\nyou today?\n"
    )
    assert srt([]) == "" and vtt([]) == "WEBVTT\n\n"


def test_deltas_join_to_the_text_without_spaces_too() -> None:
    assert "".join(deltas(WORDS)) == join_words(WORDS)
    chinese = [Word("你好。", 0.0, 0.5), Word("今天", 2.0, 2.3), Word("好吗", 2.3, 2.6)]
    assert deltas(chinese) == ["你好。", "今天好吗"]
    assert deltas([]) == []


def test_verbose_json_has_segments_and_words_as_asked() -> None:
    body = verbose_json(task="transcribe", language="en", duration=4.01, words=WORDS,
                        with_segments=True, with_words=True)
    assert body["text"] == "Hello there. How are you today?" and body["duration"] == 4.01
    assert body["words"][1] == {"word": "there.", "start": 0.5, "end": 0.9}
    assert len(body["segments"]) == 3 and body["segments"][2]["text"] == "you today?"
    assert body["usage"] == {"type": "duration", "seconds": 5}
    bare = verbose_json(task="translate", language="nl", duration=1.0, words=WORDS,
                        with_segments=False, with_words=False)
    assert "segments" not in bare and "words" not in bare


def test_server_sent_events_as_the_sdk_reads_them() -> None:
    events = sse_events(["Hello.", " Bye"], "Hello. Bye")
    assert all(e.startswith("data: ") and e.endswith("\n\n") for e in events)
    docs = [json.loads(e[len("data: "):]) for e in events]
    assert docs == [
        {"type": "transcript.text.delta", "delta": "Hello."},
        {"type": "transcript.text.delta", "delta": " Bye"},
        {"type": "transcript.text.done", "text": "Hello. Bye"},
    ]


def test_error_shape() -> None:
    assert error_body("too big", "invalid_request_error", "upload_too_large", "file") == {
        "error": {"message": "too big", "type": "invalid_request_error", "param": "file",
                  "code": "upload_too_large"}
    }
