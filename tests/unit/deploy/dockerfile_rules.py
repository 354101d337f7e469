"""A small Dockerfile checker for the rules Parley's image must keep.

hadolint (tests/unit/deploy/test_dockerfile.py) covers general good practice;
these are the project's own rules, each a function returning problems:
pinned base images, a non-root final USER, a HEALTHCHECK on /healthz, no ADD
of URLs, and an exec-form CMD that is exactly the command the docs run.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str
    line: int


@dataclass
class Stage:
    image: str  # as written, ARGs resolved
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined."""
    instructions: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, args = buf.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        buf = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "ARG" and not stages:
            name, _, default = ins.args.partition("=")
            args[name.strip()] = default.strip().strip('"')
        elif ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif stages:
            stages[-1].instructions.append(ins)
    return args, stages


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def check(text: str, *, expected_cmd: list[str], context: Path | None = None) -> list[str]:
    problems: list[str] = []
    _, stages = parse(text)
    if not stages:
        return ["no FROM"]
    names = {s.name for s in stages if s.name}
    for s in stages:
        if s.image in names:
            continue
        ref = s.image.split("@")[0]
        tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else ""
        pinned_digest = "@sha256:" in s.image
        if not pinned_digest and (not tag or tag == "latest" or not re.search(r"\d+\.\d+", tag)):
            problems.append(f"base image {s.image!r} is not pinned to a version (or digest)")
    for s in stages:
        for ins in s.all("ADD"):
            if re.search(r"\b(https?|ftp)://", ins.args):
                problems.append(f"line {ins.line}: ADD of a URL (download in a RUN and verify it)")
    final = stages[-1]
    users = final.all("USER")
    if not users:
        problems.append("final stage has no USER (runs as root)")
    else:
        user = users[-1].args.split(":")[0].strip()
        if user in ("root", "0"):
            problems.append(f"final USER is {user}")
    checks = final.all("HEALTHCHECK")
    if not checks or "/healthz" not in checks[-1].args or checks[-1].args.strip() == "NONE":
        problems.append("final stage has no HEALTHCHECK on /healthz")
    cmds = final.all("CMD")
    if not cmds:
        problems.append("final stage has no CMD")
    else:
        cmd = exec_form(cmds[-1].args)
        if cmd is None:
            problems.append("CMD is not in exec form (signals would go to a shell)")
        elif cmd != expected_cmd:
            problems.append(f"CMD {cmd} is not {expected_cmd}")
    if final.all("ENTRYPOINT"):
        problems.append("ENTRYPOINT set: the CMD would not be the command the docs run")
    if context is not None:
        for s in stages:
            for ins in s.all("COPY") + s.all("ADD"):
                if "--from=" in ins.args:
                    continue
                words = [w for w in shlex.split(ins.args) if not w.startswith("--")]
                for src in words[:-1]:
                    if not (context / src).exists():
                        problems.append(f"line {ins.line}: COPY source {src} does not exist")
    return problems


def final_env(text: str) -> dict[str, str]:
    """ENV of the final stage (KEY=VALUE forms)."""
    _, stages = parse(text)
    env: dict[str, str] = {}
    for ins in stages[-1].all("ENV"):
        for word in shlex.split(ins.args):
            key, sep, value = word.partition("=")
            if sep:
                env[key] = value
    return env
