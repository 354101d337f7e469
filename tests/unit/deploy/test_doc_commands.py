"""Every `parley`, `parley-client` and `python -m benchmarks...` / `clients...` command
the docs show parses with the real CLI.

The README's tour once showed `parley-client ws://... talk.mp3 --language en`, flags the
client never had: a newcomer's first try failed with a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import cast

import pytest

from clients.python.parley_client.cli import build_parser as client_parser
from server.cli import build_parser as server_parser
from tests.unit.deploy.manifests import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SHELLS = {"", "bash", "sh", "shell", "console"}
_COMMAND = re.compile(
    r"^(?:PARLEY_\w+=\S+ +)*(parley(?:-client)? .*|python -m (?:benchmarks|clients)\.[\w.]+.*)$"
)
_INLINE = re.compile(r"`([^`\n]+)`")
#: A synopsis, not a command: `[--room R]`, `tiny.en|base`, `...`.
_PLACEHOLDER = re.compile(r"[\[\]|]|\.\.\.")


def _commands_in(line: str) -> Iterator[str]:
    for part in re.split(r"&&|;| \| | \d?>>? ", line):  # commands, not where output goes
        m = _COMMAND.match(part.strip().removeprefix("$ "))
        if m and not _PLACEHOLDER.search(m.group(1)):
            yield m.group(1).strip()


def documented_commands(path: Path) -> Iterator[tuple[str, bool]]:
    """(command, whether it stands in running text): prose names a subcommand
    (`parley transcribe`) without the arguments it needs."""
    fence: str | None = None  # the open fence's language, None outside a fence
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fence = None if fence is not None else line.strip()[3:].strip()
            continue
        if fence is None:
            for span in _INLINE.findall(line):
                yield from ((c, True) for c in _commands_in(span))
        elif fence in _SHELLS:
            yield from ((c, False) for c in _commands_in(re.sub(r"\s+#.*$", "", line)))


def after_subcommands(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`argv` without its leading (sub)command names."""
    while argv:
        sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not sub or argv[0] not in sub[0].choices:
            break
        parser, argv = sub[0].choices[argv[0]], argv[1:]
    return argv


CASES = [
    (p.relative_to(ROOT).as_posix(), command, in_text)
    for p in DOCS
    for command, in_text in documented_commands(p)
]


class _Parsed(Exception):
    """Raised instead of running a module's `main` once its arguments parsed."""


def module_main(name: str) -> Callable[[list[str]], object]:
    """The `main(argv)` that `python -m name` runs (a package's `__main__` runs at import,
    so its `cli` module is asked first)."""
    module: ModuleType = importlib.import_module(name)
    for candidate in ("", ".cli", ".__main__"):
        if candidate:
            try:
                module = importlib.import_module(name + candidate)
            except ModuleNotFoundError:
                continue
        main = getattr(module, "main", None)
        if callable(main):
            return cast(Callable[[list[str]], object], main)
    raise AssertionError(f"{name} has no main(argv)")


def parses(command: str, *, in_text: bool, monkeypatch: pytest.MonkeyPatch) -> bool:
    prog, *argv = shlex.split(command)
    if prog == "python":  # python -m MODULE ...: its main, stopped right after parsing
        main = module_main(argv[1])
        original = argparse.ArgumentParser.parse_args

        def parse_then_stop(self: argparse.ArgumentParser, *a: object, **k: object) -> None:
            original(self, *a, **k)
            raise _Parsed

        monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        try:
            main(argv[2:])
        except _Parsed:
            return True
        except SystemExit as exc:  # argparse's way to refuse (2), or --help (0)
            return exc.code == 0
        raise AssertionError(f"`{command}` did not parse its arguments with argparse")
    parser = client_parser() if prog == "parley-client" else server_parser()
    if in_text and not after_subcommands(parser, argv):
        return True  # a subcommand's name, and every name in it is one the CLI has
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code == 0
    return True


@pytest.mark.parametrize(("doc", "command", "in_text"), CASES)
def test_a_documented_command_parses(
    doc: str, command: str, in_text: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parses(command, in_text=in_text, monkeypatch=monkeypatch), (
        f"{doc}: `{command}` does not parse"
    )


def test_the_readme_tour_is_among_the_checked_commands() -> None:
    readme = [c for doc, c, _ in CASES if doc == "README.md"]
    assert "parley serve" in readme
    assert any(c.startswith("parley-client ") for c in readme)
    assert any(c.startswith("parley transcribe ") for c in readme)


def test_a_wrong_flag_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exc:
        client_parser().parse_args(["ws://127.0.0.1:8765", "talk.mp3", "--language", "en"])
    assert exc.value.code == 2
    assert parses("python -m benchmarks.latency --streams 1", in_text=False, monkeypatch=monkeypatch)
    assert not parses("python -m benchmarks.latency --no-such-flag 1", in_text=False,
                      monkeypatch=monkeypatch)


def test_a_misspelt_subcommand_in_running_text_is_checked() -> None:
    assert after_subcommands(server_parser(), ["models", "pull"]) == []
    assert after_subcommands(server_parser(), ["transcrib"]) == ["transcrib"]


def test_synopses_and_comments_are_not_taken_for_commands() -> None:
    assert list(_commands_in("parley-client FILE [--url ws://HOST:PORT]")) == []
    assert list(_commands_in("parley models pull tiny.en|base")) == []
    assert list(_commands_in("scripts/install.sh && parley serve")) == ["parley serve"]
    assert list(_commands_in("PARLEY_PORT=8799 parley serve")) == ["parley serve"]
    assert list(_commands_in("python -m benchmarks.soak --seconds 5 > out.json")) == [
        "python -m benchmarks.soak --seconds 5"]
