"""`parley bench latency` takes the same options as `python -m benchmarks.latency`."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.cli import add_bench_parser
from benchmarks.latency import _counts, model_names


def test_bench_latency_parses_like_the_module() -> None:
    parser = argparse.ArgumentParser(prog="parley")
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "latency", "--smoke", "--slo", "1.5", "--models", "base"])
    assert (args.command, args.bench, args.smoke, args.slo, args.models) == (
        "bench", "latency", True, 1.5, "base")
    assert args.max_streams == 16 and args.frame_ms == 100 and args.repeat == 1


def test_models_none_measures_no_english_stream() -> None:
    assert model_names("none") == [] and model_names(" None ") == []
    assert model_names("tiny.en, base,") == ["tiny.en", "base"]


def test_sweep_doubles_up_to_the_limit() -> None:
    assert _counts(16, sweep=True) == [1, 2, 4, 8, 16]
    assert _counts(5, sweep=True) == [1, 2, 4]
    assert _counts(16, sweep=False) == [1]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parley")
    add_bench_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", "latency", *argv])


def test_listed_stream_counts_are_measured_as_given_and_sorted() -> None:
    assert _parse("--streams", "3,2").streams == [2, 3]
    assert _parse().streams is None


@pytest.mark.parametrize(
    ("bad", "why"),
    [("0", "must be >= 1"), ("two", "not a list"), (",", "no stream counts"),
     ("2,-1", "must be >= 1")],
)
def test_bad_stream_counts_are_a_usage_error(
    bad: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse("--streams", bad)
    assert exit_info.value.code == 2
    assert why in capsys.readouterr().err
