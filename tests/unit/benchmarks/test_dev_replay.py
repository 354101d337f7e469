"""The dev-set replay's bookkeeping: commit latencies, per-system summaries with CIs."""

from __future__ import annotations

import pytest

from benchmarks.dev_replay import commit_latencies, main, summarize, system_name
from server.streaming.events import Final, Partial
from server.streaming.words import Word


def _final(segment: int, words: list[tuple[str, float, float]]) -> Final:
    ws = tuple(Word(" " + t, s, e) for t, s, e in words)
    return Final(segment, ws, " ".join(t for t, _, _ in words), ws[0].start, ws[-1].end,
                 "endpoint", "en")


def test_commit_latency_is_the_first_stable_showing_else_the_final() -> None:
    words = [("one", 0.0, 0.4), ("two", 0.5, 0.9), ("three", 1.0, 1.4)]
    timed = [
        (1.0, Partial(0, "one two", "one", "two", 0.0, 0.9)),
        (1.3, Partial(0, "one two three", "one two", "three", 0.0, 1.4)),
        (2.5, _final(0, words)),
        (3.0, _final(1, [("four", 2.6, 2.9)])),
    ]
    assert commit_latencies(timed) == [1.0 - 0.4, round(1.3 - 0.9, 3), round(2.5 - 1.4, 3),
                                       round(3.0 - 2.9, 3)]


def _row(system: str, stream: str, errors: list[int]) -> dict[str, object]:
    clips = [f"{stream}/{k}" for k in range(len(errors))]
    return {"stream": stream, "system": system, "clips": clips, "errors": errors,
            "words": [10] * len(errors), "commit_latency_s": [0.5, 1.0]}


def test_summary_compares_with_offline_and_a_variant_with_its_mode() -> None:
    offline = [1, 0, 2, 1, 0] * 20
    fast = [e + 1 for e in offline]
    rows = [_row("offline", "s0", offline), _row("fast", "s0", fast),
            _row('fast+{"agreement_n": 3}', "s0", fast)]
    out = summarize(rows, {'fast+{"agreement_n": 3}': "fast"})
    assert out["offline"]["wer"]["value"] == pytest.approx(sum(offline) / 1000)
    assert "vs_offline" not in out["offline"]
    assert out["fast"]["vs_offline"]["changed"] is True
    assert out["fast"]["vs_offline"]["ratio"]["value"] == pytest.approx(sum(fast) / sum(offline),
                                                                        abs=1e-3)
    variant = out['fast+{"agreement_n": 3}']
    assert variant["vs_main"]["changed"] is False
    assert variant["vs_main"]["difference"]["value"] == 0
    assert out["fast"]["commit_latency_s"]["p50"] == pytest.approx(0.75)


def test_system_names() -> None:
    assert system_name("fast", {}) == "fast"
    assert system_name("accurate", {"context_s": 6}) == 'accurate+{"context_s": 6}'


def test_bad_modes_are_refused_before_loading_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-model", "--modes", "fast,slow"])
    assert exc.value.code == 2
    assert "unknown slow" in capsys.readouterr().err


def test_frontier_plot_has_a_point_per_system(tmp_path: object) -> None:
    from pathlib import Path

    from benchmarks.dev_replay import plot_frontier

    wer = {"value": 0.1, "low": 0.09, "high": 0.11}
    vs = {"ratio": {"value": 1.1, "low": 1.0, "high": 1.2}}
    systems = {"offline": {"wer": wer},
               "fast": {"wer": wer, "commit_latency_s": {"p50": 0.8}, "vs_offline": vs},
               "accurate": {"wer": wer, "commit_latency_s": {"p50": 2.5}, "vs_offline": vs},
               "baseline": {"wer": wer, "commit_latency_s": {"p50": None}}}
    path = Path(str(tmp_path)) / "frontier.png"
    plot_frontier(path, systems)
    assert path.stat().st_size > 1000


def test_markdown_table_has_a_row_per_system() -> None:
    from benchmarks.dev_replay import markdown_table

    rows = [_row("offline", "s0", [1, 0, 2] * 20), _row("accurate", "s0", [1, 1, 2] * 20)]
    table = markdown_table(summarize(rows, {}))
    lines = table.strip().splitlines()
    assert len(lines) == 4 and lines[2].startswith("| offline | 60 | 600 |")
    assert "x (" in lines[3] and "s |" in lines[3]
