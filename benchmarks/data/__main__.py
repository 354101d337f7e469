"""`python -m benchmarks.data fetch english|dutch|all` and `... info`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmarks.data.audio import load_audio_16k
from benchmarks.data.clips import SAMPLE_RATE, Clip
from benchmarks.data.dutch import dutch_clips, fetch_dutch
from benchmarks.data.english import english_clips, fetch_english
from benchmarks.data.packages import FetchError
from server.models.paths import data_dir


def _summary(label: str, clips: list[Clip]) -> str:
    seconds = sum(len(load_audio_16k(c.path)) for c in clips) / SAMPLE_RATE
    return f"{label}: {len(clips)} clips, {seconds / 60:.1f} min ({seconds:.0f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where speech data goes (env PARLEY_DATA_DIR, default <PARLEY_CACHE_DIR>/data)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download and unpack speech data")
    fetch.add_argument("which", choices=("english", "dutch", "all"))
    sub.add_parser("info", help="clip counts and durations of what is fetched (decodes all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = args.data_dir or data_dir()
    try:
        if args.command == "fetch":
            if args.which in ("english", "all"):
                fetch_english(data)
                print(f"English speech ready in {data}", file=sys.stderr)
            if args.which in ("dutch", "all"):
                fetch_dutch(data)
                print(f"Dutch speech ready in {data}", file=sys.stderr)
            return 0
        print(_summary("english", english_clips(fetch=False, data=data)))
        print(_summary("dutch", dutch_clips(fetch=False, data=data)))
        return 0
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.data"))
