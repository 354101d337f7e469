"""`benchmarks/soak.py --minutes 1`: the soak harness end to end on a real server.

Clean, resumed, abruptly cut and misbehaving sessions for a minute against a
spawned `parley serve`; no session may fail, no final may be lost, no session
may be left over, and memory is sampled.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.slow


def test_one_minute_soak(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "1", "--slots", "2",
         "--settle-s", "30", "--sample-s", "5", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=400, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert rep["failed"] == 0 and rep["lost_finals"] == 0 and rep["leftover_sessions"] == 0
    assert rep["by_behaviour"].get("clean", 0) >= 2 and rep["sessions"] >= 6
    assert rep["finals_checked"] >= 2
    assert len(rep["rss_mb"]["samples"]) >= 5 and rep["rss_mb"]["max"] > 50
    # What misbehaving sessions provoked is what the server counted.
    for code, n in rep["errors_by_code_client"].items():
        assert rep["errors_by_code_server"].get(code, 0) >= n, code
    assert "lost finals: 0" in proc.stdout
