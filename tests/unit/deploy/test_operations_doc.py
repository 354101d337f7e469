"""docs/operations.md documents every flag and PARLEY_* variable the CLI has."""

from __future__ import annotations

import argparse
import os
import re

import pytest

from server.cli import build_parser
from tests.unit.deploy.manifests import ROOT, cli_env_names

DOC = (ROOT / "docs" / "operations.md").read_text()


def test_every_variable_is_documented() -> None:
    missing = sorted(name for name in cli_env_names() if f"`{name}`" not in DOC)
    assert missing == [], f"docs/operations.md lacks {missing}"


def test_every_serve_flag_is_documented() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = [o for a in sub.choices["serve"]._actions for o in a.option_strings
             if o.startswith("--") and o != "--help"]
    missing = [f for f in flags if f"`{f}`" not in DOC]
    assert missing == [], f"docs/operations.md lacks {missing}"


def test_benchmark_placeholder_is_marked() -> None:
    assert "<!-- BENCHMARK FIGURES" in DOC and "<!-- END BENCHMARK FIGURES -->" in DOC


#: Defaults the parser spells otherwise: resolved later (config, hostname).
_RESOLVED_LATER = {"--mt-model": "zh-en", "--replica-id": "hostname-pid"}


def test_every_serve_default_in_the_table_is_the_parsers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PARLEY_")]:
        monkeypatch.delenv(name)
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = DOC[DOC.index("### `parley serve`"):]
    checked = 0
    for action in sub.choices["serve"]._actions:
        flag = next((o for o in action.option_strings if o.startswith("--")), None)
        row = re.search(rf"^\| `{re.escape(flag)}` \| [^|]* \| `([^`|]*)`", serve, re.MULTILINE) if flag else None
        if flag is None or row is None:
            continue  # no default in backticks: "none", "off", "any"
        default = action.default
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        assert row.group(1) == _RESOLVED_LATER.get(flag, shown), flag
        checked += 1
    assert checked >= 15
