"""Fixtures for integration tests: a real `parley serve` on a free port.

The server runs as a subprocess through the real CLI, with real models from the
cache (`parley models pull tiny.en base zh-en`, done by scripts/test.sh).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from server.config import ServerConfig
from server.services import Services
from server.transport.gateway import RunningServer, running

if TYPE_CHECKING:
    from tests.integration.rooms_support import Mosquitto

ROOT = Path(__file__).resolve().parents[2]

#: Servers in these tests decode a call alone in the accurate windows with the accurate
#: beam whatever the speed of the machine under them: the start-up probe that gives a
#: slow machine the crowded ones (`BatchOptions.alone_encode_budget_s`) would make a
#: test's words, and so its verdict, depend on that speed. The probe has unit tests
#: (tests/unit/asr/test_batched_engine.py); a test that wants it passes
#: `--asr-window-budget` itself.
WINDOW_BUDGET_ENV = {"PARLEY_ASR_WINDOW_BUDGET": "off"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def parley_serve(
    *args: str, tmp: Path, port: int | None = None, env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> Iterator[ServerProcess]:
    """Start `python -m server serve ARGS` on a free port; stop it on exit."""
    port = port or free_port()
    log = tmp / f"parley-{port}-{time.monotonic_ns()}.log"
    fh = open(log, "w")  # noqa: SIM115 - the server writes to it until the block exits
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **WINDOW_BUDGET_ENV, **(env or {})},
    )
    server = ServerProcess(proc, port, log)
    deadline = time.monotonic() + timeout
    try:
        while not re.search(r"parley: serving on", server.log_text()):
            if proc.poll() is not None:
                raise RuntimeError(f"parley serve exited {proc.returncode}:\n{server.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"parley serve did not start:\n{server.log_text()}")
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        fh.close()


@pytest.fixture(scope="session")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """tiny.en + the zh->en model: the fast server most tests share."""
    with parley_serve(
        "--asr-model", "tiny.en", "--mt-model", "zh-en", tmp=tmp_path_factory.mktemp("srv")
    ) as server:
        yield server


@pytest.fixture(scope="session")
def base_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Multilingual `base` (any -> English via Whisper's translate task) + zh->en."""
    with parley_serve(
        "--asr-model", "base", "--mt-model", "zh-en", tmp=tmp_path_factory.mktemp("srv")
    ) as server:
        yield server


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real mosquitto on a free port, one per test module that asks for it."""
    from tests.integration.rooms_support import mosquitto

    with mosquitto(tmp_path_factory.mktemp("mqtt")) as b:
        yield b


@contextlib.asynccontextmanager
async def serve_in_process(config: ServerConfig) -> AsyncIterator[RunningServer]:
    """Load `config`'s models and serve them in this process on a free port (without the
    speed probe, as `WINDOW_BUDGET_ENV` says)."""
    config = replace(config, batch=replace(config.batch, alone_encode_budget_s=None))
    services = await asyncio.to_thread(Services.load, config)
    try:
        async with running(services, port=0) as server:
            yield server
    finally:
        await services.aclose()
