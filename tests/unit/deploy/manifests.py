"""Loading deploy/ files for the tests, and what the CLI knows about PARLEY_* names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

#: The server's drain deadline after SIGTERM (seconds), the number the
#: Kubernetes grace period and compose's stop_grace_period are built from.
DRAIN_DEADLINE_S = 30
#: PARLEY_* variables read outside the argparse flags.
EXTRA_ENV = {"PARLEY_TOKENS", "PARLEY_TOKENS_FILE", "PARLEY_DATA_DIR", "PARLEY_QUIET"}


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path, doc))
    return docs


def find(kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [d for _, d in k8s_documents()
               if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def cli_env_names() -> set[str]:
    """Every PARLEY_* variable the CLI reads: named in its options' help texts."""
    import argparse
    import re

    from server.cli import build_parser

    names: set[str] = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            names.update(re.findall(r"PARLEY_[A-Z_]+[A-Z]", action.help or ""))

    walk(build_parser())
    return names | EXTRA_ENV


def grace_seconds(value: str) -> int:
    """Compose durations such as '40s' or '1m30s'."""
    total, num = 0, ""
    for ch in value:
        if ch.isdigit():
            num += ch
        else:
            total += int(num) * {"s": 1, "m": 60, "h": 3600}[ch]
            num = ""
    return total + (int(num) if num else 0)
