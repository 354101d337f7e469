"""`parley-client` refuses caption and event files it could not write, before it streams."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.python.parley_client.cli import build_parser, main, unwritable_outputs


def outputs(*flags: str) -> str | None:
    return unwritable_outputs(build_parser().parse_args(["talk.mp3", *flags]))


def test_writable_places_pass_and_an_existing_file_is_left_as_it_is(tmp_path: Path) -> None:
    kept = tmp_path / "old.srt"
    kept.write_text("keep me")
    assert outputs("--vtt", str(tmp_path / "new.vtt"), "--srt", str(kept)) is None
    assert kept.read_text() == "keep me"
    assert not (tmp_path / "new.vtt").exists()  # probed, not created
    assert outputs() is None


@pytest.mark.parametrize(("flag", "where", "says"), [
    ("--vtt", "missing/x.vtt", "no such directory"),
    ("--jsonl", ".", "is a directory"),
])
def test_an_unwritable_output_is_named(tmp_path: Path, flag: str, where: str, says: str) -> None:
    path = tmp_path / where
    why = outputs(flag, str(path))
    assert why is not None and why.startswith(f"{flag} {path}") and says in why


def test_a_place_the_kernel_refuses_is_caught_by_a_real_write() -> None:
    why = outputs("--srt", "/proc/captions.srt")  # /proc takes no new files, even for root
    assert why is not None and why.startswith("--srt /proc/captions.srt: cannot write there")


def test_the_cli_stops_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "missing" / "x.vtt"
    # An unreachable server would be a connection error (exit 1): this one is a usage error.
    code = main(["talk.mp3", "--url", "ws://127.0.0.1:1", "--vtt", str(bad)])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"parley-client: error: --vtt {bad}: no such directory {bad.parent}; nothing was sent")
