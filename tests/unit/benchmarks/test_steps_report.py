"""Merging repeats, the SLO rule, clip alignment of translations, the report."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.data import StreamPart
from benchmarks.report import describe_server, headline, log_latency_axis, markdown
from benchmarks.scoring import TimedText, assign_to_parts, translation_scores
from benchmarks.steps import holds_slo, merge_repeats


def step(streams: int, p90: float, wer: float = 0.1, errors: list[str] | None = None,
         complete: bool = True) -> dict[str, Any]:
    summ = {"p50": p90 / 2, "p90": p90, "p99": p90 * 1.2, "mean": p90 / 2, "max": p90 * 1.3,
            "n": 10}
    return {
        "streams": streams, "latency": {"partial": dict(summ), "final": dict(summ)},
        "segment_offset": dict(summ), "wer": wer, "cpu_rtf": 0.5, "peak_rss_mb": 300.0,
        "ready_s": 0.01, "complete": complete, "errors": errors or [],
        "samples": {"partial_s": [p90], "final_s": [p90]},
    }


def test_merge_repeats_takes_medians_and_keeps_every_error() -> None:
    runs = [step(1, 1.0), step(1, 3.0, errors=["x"]), step(1, 2.0, complete=False)]
    merged = merge_repeats(runs)
    assert merged["latency"]["final"]["p90"] == pytest.approx(2.0)
    assert merged["errors"] == ["x"]
    assert merged["complete"] is False
    assert merged["repeats"] == 3
    assert merged["samples"] == runs[0]["samples"]


def test_an_even_number_of_repeats_keeps_counts_whole() -> None:
    merged = merge_repeats([step(2, 1.0), step(2, 3.0)])
    assert merged["streams"] == 2 and isinstance(merged["streams"], int)
    assert merged["latency"]["final"]["p90"] == pytest.approx(2.0)


def test_slo_needs_p90_under_the_limit_a_complete_run_and_no_error() -> None:
    assert holds_slo(step(1, 2.4), 2.5)
    assert not holds_slo(step(1, 2.6), 2.5)
    assert not holds_slo(step(1, 1.0, errors=["overloaded: busy"]), 2.5)
    assert not holds_slo(step(1, 1.0, complete=False), 2.5)


PARTS = [
    StreamPart("a", 0.0, 2.0, "hallo", "hello"),
    StreamPart("b", 2.8, 5.0, "dag", "goodbye my friend"),
]


def test_translations_go_to_the_clip_they_overlap_most() -> None:
    items = [TimedText(0.1, 1.9, "hello"), TimedText(1.8, 4.0, "goodbye"),
             TimedText(4.1, 4.9, "my friend")]
    assert assign_to_parts(items, PARTS) == ["hello", "goodbye my friend"]


def test_perfect_translations_score_100_and_wrong_ones_low() -> None:
    good = translation_scores([TimedText(0, 2, "hello"), TimedText(3, 5, "goodbye my friend")],
                              PARTS)
    assert good["bleu_doc"] == pytest.approx(100.0)
    assert good["chrf"] == pytest.approx(100.0)
    bad = translation_scores([TimedText(0, 5, "banana")], PARTS)
    assert bad["chrf"] is not None and bad["chrf"] < 20


def test_headline_has_both_systems_at_1_stream_and_at_their_best_count() -> None:
    results: dict[str, Any] = {
        "date": "2026-01-01T00:00:00+00:00", "command": "python -m benchmarks.latency",
        "machine": {"platform": "linux", "load": [{"load1": 1.0, "cpus": 2}]},
        "config": {"slo_s": 2.5, "frame_ms": 100, "repeat": 1},
        "english": {"tiny.en": {
            "offline": {"wer": 0.05},
            "parley": {"steps": [step(1, 1.0), step(2, 1.5), step(4, 3.0)],
                       "max_streams_under_slo": 2},
            "baseline": {"steps": [step(1, 2.0), step(2, 4.0)], "max_streams_under_slo": 1},
        }},
    }
    rows = headline(results)
    assert [(r["system"], r["streams"]) for r in rows] == [
        ("parley", 1), ("baseline", 1), ("parley (max under SLO)", 2)]
    results["headline"] = rows
    text = markdown(results)
    assert "| tiny.en | parley | 1 |" in text
    assert "Largest count under the SLO, parley: 2" in text


def test_the_report_says_what_the_server_ran() -> None:
    asr = {"name": "tiny.en", "engine": "batched",
           "windows_s": {"alone": [20.0, 30.0], "crowded": [10.0, 15.0, 20.0, 30.0]}}
    assert describe_server({"asr": asr}) == (
        "tiny.en, batched engine, windows 20/30 s alone and 10/15/20/30 s crowded"
    )
    assert describe_server({"asr": {"name": "base", "engine": "whisper"}}) == (
        "base, whisper engine"
    )
    assert describe_server(None) is None


def test_the_frontier_turns_logarithmic_only_past_a_decade() -> None:
    assert not log_latency_axis([1.1, 2.3, 6.0])
    assert log_latency_axis([1.1, 2.3, 93.0])  # a baseline minutes behind
    assert not log_latency_axis([0.0, 1.0, 9.0])  # a zero is no decade
    assert not log_latency_axis([])


def test_the_translation_table_names_its_source_language_and_scores_whole_documents() -> None:
    scores = {"bleu": 2.6, "chrf": 19.5, "bleu_doc": 6.44, "chrf_doc": 31.25}
    spoken = step(1, 2.0, wer=0.6) | {"translation": scores | {"final_offset": {"p50": 1.8}}}
    results: dict[str, Any] = {
        "date": "2026-01-01T00:00:00+00:00", "command": "python -m benchmarks.latency",
        "machine": {"platform": "linux", "load": [{"load1": 1.0, "cpus": 2}]},
        "config": {"slo_s": 2.5, "frame_ms": 100, "repeat": 1}, "english": {},
        "headline": [],
        "dutch": {"model": "base", "language": "cs",
                  "offline": {"transcript": {"wer": 0.58},
                              "translation": scores | {"chrf_doc": 40.5}},
                  "parley": spoken},
    }
    text = markdown(results)
    assert "## Speech (cs) -> English (base, Whisper translate)" in text
    assert "| WER (cs) |" in text and "| chrF (doc) |" in text
    assert "| offline | 0.580 |" in text and "| 40.5 |" in text
    assert "| 31.2" in text
