"""A short coverage-guided fuzzing run (atheris) of both targets, as a normal test.

The long run is `scripts/fuzz.sh 100000` (docs/operations.md records its result);
this one runs a few thousand inputs per target so a regression that the seed
corpus and a little mutation reach fails CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = 3000


@pytest.mark.parametrize("target", ["protocol", "audio"])
def test_short_fuzz_run_finds_no_crash(target: str, tmp_path: Path) -> None:
    env = {**os.environ, "FUZZ_DIR": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "fuzz.sh"), str(RUNS), target],
        env=env, check=False, capture_output=True, text=True, timeout=120,
    )
    log = tmp_path / f"{target}.log"
    detail = proc.stdout + proc.stderr + (log.read_text()[-3000:] if log.exists() else "")
    assert proc.returncode == 0, detail
    done = re.search(r"Done (\d+) runs", proc.stdout)
    assert done is not None and int(done.group(1)) >= RUNS, detail
    assert "no crash/hang/OOM" in proc.stdout
    assert not list((tmp_path / "artifacts").glob("*crash*"))
