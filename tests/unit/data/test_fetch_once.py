"""`fetch_once`: a fetched folder appears whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.data.packages import FetchError, fetch_once, is_complete


def test_a_build_becomes_the_target_with_its_marker(tmp_path: Path) -> None:
    target = tmp_path / "set"

    def build(work: Path) -> tuple[Path, dict[str, object]]:
        out = work / "out"
        out.mkdir()
        (out / "a.txt").write_text("a")
        return out, {"deb": "x.deb"}

    assert fetch_once(target, build) == target
    assert (target / "a.txt").read_text() == "a" and is_complete(target)
    assert json.loads((target / ".complete").read_text()) == {"deb": "x.deb"}
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no scratch left


def test_a_failed_build_leaves_nothing_and_a_complete_target_is_not_rebuilt(
    tmp_path: Path,
) -> None:
    target = tmp_path / "set"

    def broken(work: Path) -> tuple[Path, dict[str, object]]:
        (work / "half").mkdir()
        raise FetchError("the package has no audio")

    with pytest.raises(FetchError):
        fetch_once(target, broken)
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / ".complete").write_text("{}\n")
    assert fetch_once(target, broken) == target  # complete: `broken` is not called


def test_an_incomplete_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "set"
    target.mkdir()
    (target / "stale.txt").write_text("half of an interrupted fetch")

    def build(work: Path) -> tuple[Path, dict[str, object]]:
        out = work / "out"
        out.mkdir()
        return out, {}

    fetch_once(target, build)
    assert sorted(p.name for p in target.iterdir()) == [".complete"]
