"""Every `parley` and `parley-client` command the docs show parses with the real CLI.

The README's tour once showed `parley-client ws://... talk.mp3 --language en`, flags the
client never had: a newcomer's first try failed with a usage error.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.python.parley_client.cli import build_parser as client_parser
from server.cli import build_parser as server_parser
from tests.unit.deploy.manifests import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SHELLS = {"", "bash", "sh", "shell", "console"}
_COMMAND = re.compile(r"^(?:PARLEY_\w+=\S+ +)*(parley(?:-client)? .*)$")
_INLINE = re.compile(r"`([^`\n]+)`")
#: A synopsis, not a command: `[--room R]`, `tiny.en|base`, `...`.
_PLACEHOLDER = re.compile(r"[\[\]|]|\.\.\.")


def _commands_in(line: str) -> Iterator[str]:
    for part in re.split(r"&&|;| \| ", line):
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


@pytest.mark.parametrize(("doc", "command", "in_text"), CASES)
def test_a_documented_command_parses(doc: str, command: str, in_text: bool) -> None:
    prog, *argv = shlex.split(command)
    parser = client_parser() if prog == "parley-client" else server_parser()
    if in_text and not after_subcommands(parser, argv):
        return  # a subcommand's name, and every name in it is one the CLI has
    try:
        parser.parse_args(argv)
    except SystemExit as exc:  # argparse's way to refuse (2), or --help (0)
        assert exc.code == 0, f"{doc}: `{command}` does not parse"


def test_the_readme_tour_is_among_the_checked_commands() -> None:
    readme = [c for doc, c, _ in CASES if doc == "README.md"]
    assert "parley serve" in readme
    assert any(c.startswith("parley-client ") for c in readme)
    assert any(c.startswith("parley transcribe ") for c in readme)


def test_a_wrong_flag_is_caught() -> None:
    with pytest.raises(SystemExit) as exc:
        client_parser().parse_args(["ws://127.0.0.1:8765", "talk.mp3", "--language", "en"])
    assert exc.value.code == 2


def test_a_misspelt_subcommand_in_running_text_is_checked() -> None:
    assert after_subcommands(server_parser(), ["models", "pull"]) == []
    assert after_subcommands(server_parser(), ["transcrib"]) == ["transcrib"]


def test_synopses_and_comments_are_not_taken_for_commands() -> None:
    assert list(_commands_in("parley-client FILE [--url ws://HOST:PORT]")) == []
    assert list(_commands_in("parley models pull tiny.en|base")) == []
    assert list(_commands_in("scripts/install.sh && parley serve")) == ["parley serve"]
    assert list(_commands_in("PARLEY_PORT=8799 parley serve")) == ["parley serve"]
