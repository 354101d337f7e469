"""`parley bench latency ...`: the benchmarks as a subcommand of the `parley` CLI.

server/cli.py hooks it in:

    from benchmarks.cli import add_bench_parser
    add_bench_parser(sub)
    ...
    if args.command == "bench":
        from benchmarks.cli import run_bench
        return run_bench(args)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from server.errors import ParleyError


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench` (with `bench latency`) to the `parley` subcommands."""
    from benchmarks.latency import add_latency_arguments

    bench: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="latency / accuracy benchmarks (Parley vs the peer-design baseline)",
        description="Benchmarks. See docs/benchmarks.md.")
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    latency = kinds.add_parser(
        "latency", help="latency, accuracy, concurrency sweep, baseline, translation stage",
        description="Same as `python -m benchmarks.latency`.")
    add_latency_arguments(latency)
    return bench


def run_bench(args: argparse.Namespace) -> int:
    if args.bench == "latency":
        import shlex
        import sys

        from benchmarks.latency import run

        run(args, shlex.join(["parley", *sys.argv[1:]]))
        return 0
    raise SystemExit(f"unknown benchmark {args.bench!r}")


def guarded(main: Callable[[list[str]], int], prog: str) -> int:
    """`main(sys.argv[1:])` for `python -m benchmarks.X`: an error the user can fix
    (a ParleyError: unknown model, model not cached...) is one line and exit status 2,
    as `parley` gives it, not a traceback."""
    try:
        return main(sys.argv[1:])
    except ParleyError as exc:
        print(f"{prog}: error: {exc.message}", file=sys.stderr)
        return 2


#: `parley bench`: the `parley.commands` entry point (pyproject.toml) names this module.
add_parser = add_bench_parser
run = run_bench
