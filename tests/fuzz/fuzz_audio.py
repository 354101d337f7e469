"""Coverage-guided fuzzer (atheris / libFuzzer) for the audio decoders.

    python tests/fuzz/fuzz_audio.py -runs=100000 -timeout=5 -rss_limit_mb=2048 [CORPUS_DIR ...]
    python tests/fuzz/fuzz_audio.py --write-seeds DIR    # seed corpus, then exit

An input is 4 header bytes (encoding, PCM rate, channels, chunking) and the
stream's bytes (tests/fuzz/targets.py `audio_case`). Seeds are real Opus and
Vorbis streams in Ogg and WebM, so mutations reach the demuxers' and codecs'
deep paths. A crash, a hang (-timeout) or a memory blow-up (-rss_limit_mb, or
the per-feed output bound in the oracle) stops the run and keeps the input.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import atheris

with atheris.instrument_imports(include=["server"]):
    from tests.fuzz.targets import check_audio_bytes, seed_cases


def write_seeds(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, case in enumerate(seed_cases()):
        (folder / f"seed-{i}.bin").write_bytes(case)


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--write-seeds":
        write_seeds(Path(argv[2]))
        return
    atheris.Setup(argv, check_audio_bytes)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
