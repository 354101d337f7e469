"""Start a server under test as a subprocess, find its port, watch its CPU and memory."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_URL_RE = re.compile(r"(?:http|ws)://([\w.\-\[\]:]+?):(\d+)")
REPO_ROOT = Path(__file__).resolve().parent.parent


class ServerStartError(RuntimeError):
    pass


@dataclass
class ServerProcess:
    name: str
    proc: subprocess.Popen[str]
    port: int
    log_tail: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def parley_command(model: str, *, mt_models: list[str] | None, threads: int = 0) -> list[str]:
    cmd = [sys.executable, "-m", "server", "--log-level", "warning", "serve", "--host",
           "127.0.0.1", "--port", "0", "--asr-model", model, "--threads", str(threads)]
    if mt_models:
        for m in mt_models:
            cmd += ["--mt-model", m]
    else:
        cmd.append("--no-mt")
    return cmd


def baseline_command(model: str, *, threads: int = 0) -> list[str]:
    return [sys.executable, "-m", "benchmarks.baseline", "--host", "127.0.0.1", "--port", "0",
            "--model", model, "--threads", str(threads)]


def _pump(stream: object, lines: queue.Queue[str | None], tail: list[str]) -> None:
    assert hasattr(stream, "readline")
    for line in iter(stream.readline, ""):
        lines.put(line)
        tail.append(line.rstrip())
        del tail[:-40]
    lines.put(None)


def start_server(name: str, cmd: list[str], timeout_s: float = 180.0) -> ServerProcess:
    """Run `cmd`, wait for the line that names its URL, return the port."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: queue.Queue[str | None] = queue.Queue()
    tail: list[str] = []
    threading.Thread(target=_pump, args=(proc.stdout, lines, tail), daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            raise ServerStartError(f"{name}: no URL printed within {timeout_s:.0f} s: "
                                   + " | ".join(tail[-5:]))
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        if line is None:
            proc.wait(5)
            raise ServerStartError(f"{name} exited ({proc.returncode}): " + " | ".join(tail[-8:]))
        m = _URL_RE.search(line)
        if m and "serving" in line:
            return ServerProcess(name, proc, int(m.group(2)), tail)


@contextlib.contextmanager
def running(name: str, cmd: list[str], timeout_s: float = 180.0) -> Iterator[ServerProcess]:
    server = start_server(name, cmd, timeout_s)
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Usage:
    cpu_s: float  # user + system CPU seconds during the window (threads included)
    peak_rss_mb: float  # highest resident set size sampled during the window
    hwm_rss_mb: float | None  # the process's lifetime high-water mark (VmHWM), Linux


class Monitor:
    """Samples one process (psutil) in a thread between `start()` and `stop()`."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        import psutil

        self._proc = psutil.Process(pid)
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak = 0
        self._cpu0 = 0.0

    def _cpu(self) -> float:
        t = self._proc.cpu_times()
        return float(t.user + t.system)

    def _sample(self) -> None:
        with contextlib.suppress(Exception):
            self._peak = max(self._peak, int(self._proc.memory_info().rss))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> None:
        self._cpu0 = self._cpu()
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> Usage:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        cpu = self._cpu() - self._cpu0
        return Usage(round(cpu, 2), round(self._peak / 2**20, 1), _vm_hwm_mb(self._proc.pid))


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def machine_load() -> dict[str, float | int]:
    """The machine's CPU count, load averages and busy share right now (1 s sample)."""
    import psutil

    load1, load5, load15 = os.getloadavg()
    return {
        "cpus": os.cpu_count() or 0,
        "load1": round(load1, 2),
        "load5": round(load5, 2),
        "load15": round(load15, 2),
        "cpu_busy_pct": round(float(psutil.cpu_percent(interval=1.0)), 1),
    }
