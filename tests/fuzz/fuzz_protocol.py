"""Coverage-guided fuzzer (atheris / libFuzzer) for `parse_client_text`.

    python tests/fuzz/fuzz_protocol.py -runs=100000 -timeout=5 [CORPUS_DIR ...]
    python tests/fuzz/fuzz_protocol.py --write-seeds DIR    # seed corpus, then exit

Any libFuzzer flag works. A crash (an exception other than ProtocolError /
AudioError, or a broken oracle in tests/fuzz/targets.py) stops the run, writes
the input to crash-<sha1> and exits non-zero. scripts/fuzz.sh runs both fuzzers.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import atheris

with atheris.instrument_imports(include=["server"]):
    from tests.fuzz.targets import PROTOCOL_SEEDS, check_protocol_text


def test_one_input(data: bytes) -> None:
    # WebSocket text frames are valid UTF-8; `replace` keeps every input usable.
    check_protocol_text(data.decode("utf-8", "replace"))


def write_seeds(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(PROTOCOL_SEEDS):
        (folder / f"seed-{i}.json").write_text(seed, encoding="utf-8")


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--write-seeds":
        write_seeds(Path(argv[2]))
        return
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
