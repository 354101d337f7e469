"""`parley bench latency` takes the same options as `python -m benchmarks.latency`."""

from __future__ import annotations

import argparse

from benchmarks.cli import add_bench_parser
from benchmarks.latency import _counts


def test_bench_latency_parses_like_the_module() -> None:
    parser = argparse.ArgumentParser(prog="parley")
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "latency", "--smoke", "--slo", "1.5", "--models", "base"])
    assert (args.command, args.bench, args.smoke, args.slo, args.models) == (
        "bench", "latency", True, 1.5, "base")
    assert args.max_streams == 16 and args.frame_ms == 100 and args.repeat == 1


def test_sweep_doubles_up_to_the_limit() -> None:
    assert _counts(16, sweep=True) == [1, 2, 4, 8, 16]
    assert _counts(5, sweep=True) == [1, 2, 4]
    assert _counts(16, sweep=False) == [1]
