"""docs/operations.md documents every flag and PARLEY_* variable the CLI has."""

from __future__ import annotations

import argparse

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
