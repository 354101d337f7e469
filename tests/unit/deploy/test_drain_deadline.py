"""The server's drain deadline is the one the manifests' grace periods are built from."""

from __future__ import annotations

from server.cli import build_parser, config_from_args
from server.config import ServerConfig
from tests.unit.deploy.manifests import DRAIN_DEADLINE_S, ROOT


def test_default_drain_timeout_matches_the_manifests() -> None:
    assert ServerConfig().drain_timeout_s == DRAIN_DEADLINE_S
    args = build_parser().parse_args(["serve"])
    assert config_from_args(args).drain_timeout_s == DRAIN_DEADLINE_S


def test_operations_doc_states_the_deadline() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert f"`--drain-timeout-s` | `PARLEY_DRAIN_TIMEOUT_S` | `{DRAIN_DEADLINE_S}`" in doc
