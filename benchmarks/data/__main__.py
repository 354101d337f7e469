"""`python -m benchmarks.data fetch NAME...` and `... info`.

Names: english (LibriVox + MFA), dutch, czech (Fish Fillets NG dialogue), asterisk-en,
asterisk-es, asterisk-fr (Asterisk prompts), drascula-en (Drascula's English clips),
english-dev (asterisk-en + drascula-en + english: the English dev set), all (every one).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.data.asterisk import asterisk_clips, fetch_asterisk
from benchmarks.data.audio import load_audio_16k
from benchmarks.data.clips import SAMPLE_RATE, Clip
from benchmarks.data.devset import english_dev_clips, scored_words
from benchmarks.data.drascula import drascula_clips, fetch_drascula
from benchmarks.data.dutch import czech_clips, dutch_clips, fetch_czech, fetch_dutch
from benchmarks.data.english import english_clips, fetch_english
from benchmarks.data.packages import FetchError
from server.models.paths import data_dir

#: name -> fetcher; `all` fetches every one (about 230 MB of Debian packages, once).
FETCHERS: dict[str, Callable[[Path], object]] = {
    "english": fetch_english,
    "dutch": fetch_dutch,
    "czech": fetch_czech,
    "asterisk-en": lambda d: fetch_asterisk("en", d),
    "asterisk-es": lambda d: fetch_asterisk("es", d),
    "asterisk-fr": lambda d: fetch_asterisk("fr", d),
    "drascula-en": fetch_drascula,
}
ALIASES: dict[str, tuple[str, ...]] = {
    "english-dev": ("asterisk-en", "drascula-en", "english"),
    "all": tuple(FETCHERS),
}
SETS: dict[str, Callable[[Path], list[Clip]]] = {
    "english": lambda d: english_clips(fetch=False, data=d),
    "dutch": lambda d: dutch_clips(fetch=False, data=d),
    "czech": lambda d: czech_clips(fetch=False, data=d),
    "asterisk-en": lambda d: asterisk_clips("en", fetch=False, data=d),
    "asterisk-es": lambda d: asterisk_clips("es", fetch=False, data=d),
    "asterisk-fr": lambda d: asterisk_clips("fr", fetch=False, data=d),
    "drascula-en": lambda d: drascula_clips(fetch=False, data=d),
    "english-dev": lambda d: english_dev_clips(fetch=False, data=d),
}


def expand(names: list[str]) -> list[str]:
    """Fetcher names for the names given (aliases expanded), each once, in order."""
    out: list[str] = []
    for name in names:
        for one in ALIASES.get(name, (name,)):
            if one not in out:
                out.append(one)
    return out


def _summary(label: str, clips: list[Clip]) -> str:
    seconds = sum(len(load_audio_16k(c.path)) for c in clips) / SAMPLE_RATE
    words = scored_words(clips) if clips and clips[0].language == "en" else sum(
        len(c.text.split()) for c in clips)
    return (f"{label}: {len(clips)} clips, {words} words, {seconds / 60:.1f} min "
            f"({seconds:.0f} s)")


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
    fetch.add_argument("which", nargs="+", choices=(*FETCHERS, *ALIASES))
    info = sub.add_parser("info", help="clip, word and minute counts of fetched sets "
                                       "(decodes all)")
    info.add_argument("which", nargs="*", default=["english", "dutch"],
                      help=f"sets: {', '.join(SETS)} [default: english dutch]")
    args = parser.parse_args(argv)
    if args.command == "info" and (unknown := [w for w in args.which if w not in SETS]):
        parser.error(f"info: unknown set {', '.join(unknown)}; sets: {', '.join(SETS)}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = args.data_dir or data_dir()
    try:
        if args.command == "fetch":
            for name in expand(args.which):
                t0 = time.monotonic()
                FETCHERS[name](data)
                print(f"{name} ready in {data} ({time.monotonic() - t0:.1f} s)", file=sys.stderr)
            return 0
        for name in args.which:
            print(_summary(name, SETS[name](data)))
        return 0
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.data"))
