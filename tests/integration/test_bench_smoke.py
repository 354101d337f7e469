"""`python -m benchmarks.latency --smoke`: the benchmark runs end to end and its JSON is sane.

Real servers (Parley and the baseline) on a free port, real tiny.en on one real LibriVox
clip, the zh-en model for the translation stage. Keeps the benchmark code from rotting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def check_step(step: dict[str, Any]) -> None:
    assert step["streams"] == 1
    assert step["complete"], step["errors"]
    assert step["errors"] == []
    for kind in ("partial", "final"):
        lat = step["latency"][kind]
        assert lat["n"] >= 10  # the clip has 22 words
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] < 60
    assert step["latency"]["partial"]["p50"] <= step["latency"]["final"]["p50"]
    assert step["wer"] is not None and step["wer"] < 0.5
    assert step["cpu_s"] > 0 and step["cpu_rtf"] > 0
    assert step["peak_rss_mb"] > 50
    assert step["segment_offset"]["n"] >= 1


def test_smoke_benchmark_writes_sane_results(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.latency", "--smoke", "--no-progress",
         "--latency", "fast,accurate", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=480, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text("utf-8"))
    assert results["smoke"] is True
    english = results["english"]["tiny.en"]
    assert english["offline"]["wer"] < 0.5
    assert english["server"]["asr"]["name"] == "tiny.en"  # what /v1/models said it runs
    assert english["server"]["asr"]["engine"] == os.environ.get("PARLEY_ASR_ENGINE", "batched")
    check_step(english["parley"]["steps"][0])
    check_step(english["parley-accurate"]["steps"][0])
    check_step(english["baseline"]["steps"][0])
    # Every WER carries its bootstrap CI and the comparison with offline (and the baseline).
    for name in ("parley", "parley-accurate", "baseline"):
        ci = english[name]["steps"][0]["wer_ci"]
        assert ci["wer"]["low"] <= ci["wer"]["value"] <= ci["wer"]["high"]
        assert set(ci["vs_offline"]) >= {"difference", "ratio", "changed"}
    assert "vs_baseline" in english["parley-accurate"]["steps"][0]["wer_ci"]
    # The baseline loads a model per client before `ready`; Parley shares one.
    assert english["baseline"]["steps"][0]["ready_s"] > english["parley"]["steps"][0]["ready_s"]
    assert set(english["ratios_1_stream"]) >= {"final_p50", "partial_p50", "cpu_rtf"}
    assert english["ratios_1_stream"]["final_p50"] > 0
    mt = results["mt"]
    for path in ("bare_loop", "bare_batch16", "scheduler_c1", "scheduler_c8"):
        assert mt[path]["tokens"] > 0 and mt[path]["tokens_per_s"] > 0
    assert 0 <= mt["flicker"]["parley"]["erased_per_final_char"] < 10
    assert 0.5 <= mt["agreement"]["exact"] <= 1.0
    assert [r["system"] for r in results["headline"]] == ["parley", "parley-accurate",
                                                          "baseline"]
    assert (out / "results.md").read_text("utf-8").startswith("# Latency benchmark")
    for png in ("latency_cdf.png", "sweep.png", "frontier.png"):
        assert (out / png).stat().st_size > 1000
