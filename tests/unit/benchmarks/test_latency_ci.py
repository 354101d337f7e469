"""The server benchmark's WER intervals and latency-mode systems."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from benchmarks.latency import _latency_modes, add_wer_intervals, parley_system
from benchmarks.report import headline


def _step(errors: list[int], streams: int = 1) -> dict[str, Any]:
    lat = {"p50": 1.0, "p90": 2.0, "p99": 3.0}
    return {"streams": streams, "clip_errors": errors, "wer": sum(errors) / 300,
            "latency": {"partial": lat, "final": lat}, "cpu_rtf": 0.5, "peak_rss_mb": 300}


def test_every_step_gets_its_interval_against_offline_and_the_baseline() -> None:
    words = [10] * 30
    result: dict[str, Any] = {
        "offline": {"clip_errors": [1] * 30, "clip_words": words, "wer": 0.1},
        "parley": {"steps": [_step([2] * 30), _step([4] * 30, streams=2)]},
        "parley-accurate": {"steps": [_step([1] * 30)]},
        "baseline": {"steps": [_step([1] * 30)]},
    }
    add_wer_intervals(result)
    fast = result["parley"]["steps"]
    assert fast[0]["wer_ci"]["vs_offline"]["changed"] is True
    assert fast[0]["wer_ci"]["vs_offline"]["ratio"]["value"] == pytest.approx(2.0)
    assert fast[1]["wer_ci"]["wer"]["value"] == pytest.approx(0.2)  # 2 streams: 120/600
    accurate = result["parley-accurate"]["steps"][0]["wer_ci"]
    assert accurate["vs_offline"]["changed"] is False
    assert accurate["vs_baseline"]["difference"]["value"] == 0
    assert "vs_baseline" not in result["baseline"]["steps"][0]["wer_ci"]
    rows = headline({"english": {"tiny.en": {**result, "parley": {
        **result["parley"], "max_streams_under_slo": 1}, "parley-accurate": {
        **result["parley-accurate"], "max_streams_under_slo": 1}, "baseline": {
        **result["baseline"], "max_streams_under_slo": 1}}}})
    assert [r["system"] for r in rows] == ["parley", "parley-accurate", "baseline"]
    assert rows[0]["wer_ratio_ci"] is not None


def test_latency_mode_systems() -> None:
    assert parley_system("fast") == "parley"
    assert parley_system("accurate") == "parley-accurate"
    assert _latency_modes("fast, accurate,fast") == ["fast", "accurate"]
    with pytest.raises(argparse.ArgumentTypeError):
        _latency_modes("fast,slow")
