"""Per-word latency as docs/protocol.md defines it, on hand-made recordings."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.measure import (
    erased_chars,
    final_text,
    percentile,
    summary,
    text_keys,
    word_latencies,
)
from benchmarks.recording import Received, Recording

FRAME = 1600  # 100 ms at 16 kHz


def recording(events: list[tuple[float, dict[str, Any]]], frames: int = 40) -> Recording:
    """Frame i sent at 10 + i * 0.1 (as a real-time replay would)."""
    rec = Recording(system="t", stream="s", sample_rate=16000, frame_samples=FRAME,
                    audio_samples=frames * FRAME)
    rec.sent_at = [10.0 + i * 0.1 for i in range(frames)]
    rec.events = [Received(at, ev) for at, ev in events]
    return rec


def partial(seg: int, text: str, stable: str = "") -> dict[str, Any]:
    return {"type": "transcript", "final": False, "segment": seg, "text": text,
            "stable": stable}


def final(seg: int, words: list[tuple[str, float]], end: float) -> dict[str, Any]:
    return {"type": "transcript", "final": True, "segment": seg,
            "text": " ".join(w for w, _ in words), "stable": " ".join(w for w, _ in words),
            "end": end, "latency_ms": 100.0,
            "words": [{"word": w, "start": e - 0.2, "end": e} for w, e in words]}


def test_frame_of_maps_word_end_to_the_frame_holding_its_last_sample() -> None:
    rec = recording([])
    assert rec.frame_of(0.1) == 0  # samples 0..1599 are frame 0
    assert rec.frame_of(0.1001) == 1
    assert rec.frame_of(0.25) == 2
    assert rec.frame_of(99.0) == 39  # clamped to the last frame sent


def test_partial_and_final_latency_per_word() -> None:
    # "hello" ends at 0.45 s (frame 4, sent at 10.4); "world" at 0.95 s (frame 9, 10.9).
    rec = recording([
        (10.6, partial(0, "Hello")),
        (11.0, partial(0, "Hello world", stable="Hello")),
        (11.5, final(0, [("Hello", 0.45), ("world.", 0.95)], end=0.95)),
    ])
    lat = word_latencies(rec)
    assert [round(x, 3) for x in lat.partial_s] == [0.2, 0.1]
    assert [round(x, 3) for x in lat.final_s] == [0.6, 0.6]
    assert [round(x, 3) for x in lat.segment_offsets_s] == [0.6]
    assert lat.server_latency_ms == [100.0]


def test_a_word_never_shown_in_a_partial_takes_the_final_time() -> None:
    rec = recording([
        (10.6, partial(0, "Hello")),
        (11.5, final(0, [("Hello", 0.45), ("there", 0.95)], end=0.95)),
    ])
    lat = word_latencies(rec)
    assert [round(x, 3) for x in lat.partial_s] == [0.2, 0.6]
    assert [round(x, 3) for x in lat.final_s] == [1.1, 0.6]


def test_a_wrong_partial_word_does_not_count_as_shown() -> None:
    rec = recording([
        (10.6, partial(0, "Yellow")),
        (10.8, partial(0, "Hello")),
        (11.5, final(0, [("Hello", 0.45)], end=0.45)),
    ])
    assert [round(x, 3) for x in word_latencies(rec).partial_s] == [0.4]


def test_segments_are_matched_after_the_words_already_final() -> None:
    # Baseline style: every commit is a final; partials carry only the uncommitted tail,
    # numbered as the next segment. "the" appears in both segments.
    rec = recording([
        (10.5, partial(0, "the cat")),
        (10.9, final(0, [("the", 0.2), ("cat", 0.45)], end=0.45)),
        (11.0, partial(1, "sat on the")),
        (11.6, final(1, [("sat", 0.6), ("on", 0.7), ("the", 0.95)], end=0.95)),
    ])
    lat = word_latencies(rec)
    shown = [round(w.shown_at, 3) for w in lat.words]
    assert shown == [10.5, 10.5, 11.0, 11.0, 11.0]
    committed = [round(w.committed_at, 3) for w in lat.words]
    assert committed == [10.9, 10.9, 11.6, 11.6, 11.6]
    assert final_text(rec) == "the cat sat on the"


def test_stable_text_commits_before_the_final() -> None:
    rec = recording([
        (10.7, partial(0, "one two three", stable="one two")),
        (12.0, final(0, [("one", 0.2), ("two", 0.4), ("three", 0.6)], end=0.6)),
    ])
    lat = word_latencies(rec)
    assert [round(w.committed_at, 3) for w in lat.words] == [10.7, 10.7, 12.0]


def test_punctuation_and_case_are_ignored_when_matching() -> None:
    assert text_keys("Hello, WORLD! -- don't") == ["hello", "world", "don't"]
    rec = recording([
        (10.8, partial(0, "hello world")),
        (11.5, final(0, [("Hello,", 0.45), ("World.", 0.95)], end=0.95)),
    ])
    # "world" shows before the frame holding its (Whisper-estimated) end: negative.
    assert [round(x, 3) for x in word_latencies(rec).partial_s] == [0.4, -0.1]


def test_percentiles_interpolate_like_numpy() -> None:
    xs = [float(x) for x in range(1, 11)]
    assert percentile(xs, 50) == pytest.approx(5.5)
    assert percentile(xs, 90) == pytest.approx(9.1)
    assert percentile([], 50) is None
    s = summary(xs)
    assert s["n"] == 10 and s["max"] == 10.0 and s["p99"] == pytest.approx(9.91)


def test_erased_chars_counts_what_a_reader_sees_change() -> None:
    assert erased_chars("I went home", "I went home today") == 0
    assert erased_chars("I went home", "I walked") == 8  # all after the common "I w"
    assert erased_chars("abc", "") == 3


def test_a_word_cannot_be_shown_before_its_audio_was_sent() -> None:
    # Final "a b a": the partial "b a" at 10.5 aligns best with words 2-3, but the second
    # "a" (0.75-0.95 s) starts in frame 7, sent at 10.7: that match is not this word.
    rec = recording([
        (10.5, partial(0, "b a")),
        (11.5, final(0, [("a", 0.25), ("b", 0.45), ("a", 0.95)], end=0.95)),
    ])
    lat = word_latencies(rec)
    assert [round(w.shown_at, 3) for w in lat.words] == [11.5, 10.5, 11.5]
