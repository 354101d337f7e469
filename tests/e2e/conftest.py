"""Shared fixtures for end-to-end tests (real server, real browser, real speech).

Web client fixtures (tests/e2e/test_web*.py) are named `web_*`:
  web_fake_mic      the fake microphone: real English speech joined into one WAV
  web_server        a `parley serve` subprocess (tiny.en + zh-en) on a free port
  web_browser       headless Debian Chromium (never a downloaded browser) whose
                    microphone plays `web_fake_mic`
  web_page          a fresh page with its console watched (see ConsoleWatch)
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    WebSocket,
    sync_playwright,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
# Short clips first so the first finals come early; the file loops in Chromium.
WEB_CLIPS = (
    "sense_and_sensibility_01_austen_64kb-0880",  # he was not an ill disposed young man
    "sense_and_sensibility_01_austen_64kb-0930",  # he might even have been made amiable himself
    "sense_and_sensibility_01_austen_64kb-0890",  # unless to be rather cold hearted ...
)
GAP_S = 1.0  # between clips: longer than the server's endpoint silence (0.5 s)
TAIL_S = 2.0  # at the end, so the last utterance is closed before the loop restarts


# -- fake microphone ------------------------------------------------------------


@dataclass(frozen=True)
class FakeMic:
    path: Path
    reference: dict[str, str]  # clip id -> transcript (lower case, no punctuation)
    duration_s: float

    @property
    def words(self) -> set[str]:
        return {w for text in self.reference.values() for w in text.split()}


def _transcriptions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line.strip())
        if m:
            out[m.group(2)] = m.group(1)
    return out


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


@pytest.fixture(scope="session")
def web_fake_mic(tmp_path_factory: pytest.TempPathFactory) -> FakeMic:
    """Real LibriVox speech, 16-bit PCM, clips joined with pauses and a silent tail."""
    refs = _transcriptions()
    parts: list[np.ndarray] = [np.zeros(8000, dtype="<i2")]  # 0.5 s lead-in
    rate = 16000
    for clip in WEB_CLIPS:
        samples, rate = _read_wav(LIBRIVOX / f"{clip}.wav")
        parts += [samples, np.zeros(int(GAP_S * rate), dtype="<i2")]
    parts.append(np.zeros(int(TAIL_S * rate), dtype="<i2"))
    audio = np.concatenate(parts)
    path = tmp_path_factory.mktemp("mic") / "fake-mic.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio.tobytes())
    return FakeMic(path, {c: refs[c] for c in WEB_CLIPS}, len(audio) / rate)


# -- server ---------------------------------------------------------------------


def web_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebServer:
    """`python -m server serve` as a subprocess that can be killed and restarted on its port."""

    args: tuple[str, ...]
    logdir: Path
    port: int = field(default_factory=web_free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        self.log = self.logdir / f"parley-{self.port}-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                cwd=ROOT,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while "parley: serving on" not in self.log_text():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"parley serve exited {self.proc.returncode}:\n{self.log_text()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"parley serve did not start:\n{self.log_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no close frames, the way a crash or a lost machine looks to clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""


WEB_SERVER_ARGS = ("--asr-model", "tiny.en", "--mt-model", "zh-en")


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    server = WebServer(WEB_SERVER_ARGS, tmp_path_factory.mktemp("web-srv"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- browser --------------------------------------------------------------------


def web_chromium_args(fake_mic: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic}",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture(scope="session")
def web_playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def web_browser(web_playwright: Playwright, web_fake_mic: FakeMic) -> Iterator[Browser]:
    browser = web_playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=web_chromium_args(web_fake_mic.path)
    )
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class ConsoleWatch:
    """Every console error, uncaught exception and failed request of a browser context."""

    errors: list[str] = field(default_factory=list)
    checked: bool = False

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("crash", lambda _: self.errors.append("page crashed"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            loc = msg.location
            self.errors.append(
                f"console.error: {msg.text} @ {loc.get('url', '')}:{loc.get('lineNumber', '')}"
            )

    def assert_clean(self, allow: re.Pattern[str] | None = None) -> list[str]:
        """No errors, except those matching `allow` (returned, for the caller to check)."""
        self.checked = True
        allowed = [e for e in self.errors if allow is not None and allow.search(e)]
        rest = [e for e in self.errors if e not in allowed]
        assert rest == [], "browser console errors:\n" + "\n".join(rest)
        return allowed


@dataclass
class WebPage:
    page: Page
    context: BrowserContext
    console: ConsoleWatch


@pytest.fixture
def web_page(web_browser: Browser) -> Iterator[WebPage]:
    context = web_browser.new_context(
        accept_downloads=True, viewport={"width": 1280, "height": 800}
    )
    console = ConsoleWatch()
    page = context.new_page()
    console.attach(page)
    context.on("page", console.attach)  # second tabs are watched too
    try:
        yield WebPage(page, context, console)
    finally:
        context.close()
    if not console.checked:
        console.assert_clean()


@pytest.fixture(scope="session")
def web_artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# -- helpers for the web client tests ---------------------------------------------

VTT_TIME = r"(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})"
SRT_TIME = r"(\d{2}):([0-5]\d):([0-5]\d),(\d{3})"


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_webvtt(text: str) -> list[Cue]:
    """Strict WebVTT: 'WEBVTT' header, NOTE blocks, cues of [id] timing and 1+ payload lines."""
    assert text.startswith("WEBVTT\n"), text[:40]
    assert "\r" not in text
    blocks = text.rstrip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT", blocks[0]
    cues: list[Cue] = []
    timing = re.compile(rf"^{VTT_TIME} --> {VTT_TIME}$")
    for block in blocks[1:]:
        lines = block.split("\n")
        assert all(lines), f"empty line inside a block: {block!r}"
        if lines[0].startswith("NOTE"):
            continue
        if not timing.match(lines[0]):
            assert "-->" not in lines[0], f"bad cue id {lines[0]!r}"
            lines = lines[1:]
        m = timing.match(lines[0])
        assert m, f"bad timing line {lines[0]!r}"
        payload = lines[1:]
        assert payload and all("-->" not in p for p in payload), block
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        assert end > start, block
        cues.append(Cue(start, end, " ".join(payload)))
    return cues


def parse_srt(text: str) -> list[Cue]:
    """Strict SRT: numbered blocks 1..n, 'HH:MM:SS,mmm --> HH:MM:SS,mmm', 1+ text lines."""
    assert "\r" not in text
    blocks = text.rstrip("\n").split("\n\n")
    timing = re.compile(rf"^{SRT_TIME} --> {SRT_TIME}$")
    cues: list[Cue] = []
    for i, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(i), f"block {i} is numbered {lines[0]!r}"
        m = timing.match(lines[1])
        assert m, f"bad timing line {lines[1]!r}"
        payload = lines[2:]
        assert payload and all(payload), block
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        assert end > start, block
        cues.append(Cue(start, end, " ".join(payload)))
    return cues


def normalize_words(text: str) -> list[str]:
    """Lower case, hyphens as spaces, no punctuation: for comparing with the reference."""
    return re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split()


# Records how caption rows change in the DOM: [{k: key, e: "added"|"state", s: state, t: ms}].
CAPTION_LOG_JS = """
(() => {
  window.__captionLog = [];
  const log = (el, e) => window.__captionLog.push({k: el.dataset.key, e, s: el.dataset.state, t: performance.now()});
  const start = () => new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "childList") {
        for (const n of r.addedNodes) if (n.nodeType === 1 && n.classList.contains("row")) log(n, "added");
      } else if (r.type === "attributes" && r.target.classList.contains("row")) {
        log(r.target, "state");
      }
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"]});
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
"""


class WsEvents:
    """Every JSON event the page receives over its WebSockets: [(url, event)], and what it sends."""

    def __init__(self, page: Page) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.sent_text: list[dict[str, Any]] = []  # control messages the page sent
        self.sent_audio: list[int] = []  # sizes of the binary (audio) frames it sent
        page.on("websocket", self._socket)

    def _socket(self, ws: WebSocket) -> None:
        url = ws.url
        ws.on("framereceived", lambda payload: self._frame(url, payload))
        ws.on("framesent", lambda payload: self._sent(payload))

    def _frame(self, url: str, payload: str | bytes) -> None:
        if isinstance(payload, str):
            self.events.append((url, json.loads(payload)))

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            self.sent_audio.append(len(payload))
        else:
            self.sent_text.append(json.loads(payload))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for _, e in self.events if e.get("type") == kind]


def wait_until(
    page: Page, predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.25
) -> None:
    """Poll `predicate` while letting Playwright deliver events (time.sleep would block them)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        page.wait_for_timeout(interval * 1000)
