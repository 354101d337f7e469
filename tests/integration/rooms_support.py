"""Helpers for the rooms / MQTT / client / bridge integration tests.

A real mosquitto on a free port (temp config, persistence so a restart keeps
sessions), real speech (pocketsphinx LibriVox recordings with their
transcription), and small async helpers built on the project's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from clients.python.parley_client import ParleyClient, ParleyClientError, ParleyListener

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- speech -------------------------------------------------------------------

def librivox_files() -> list[Path]:
    return sorted(LIBRIVOX.glob("*.wav"))


def librivox_text(path: Path) -> str:
    """The reference transcription of one recording (lower case, no punctuation)."""
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
        if m and m.group(2) == path.stem:
            return " ".join(m.group(1).split())
    raise KeyError(path.stem)


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.readframes(w.getnframes())


def speech(files: list[Path], pause_s: float = 0.8) -> bytes:
    """The recordings joined with silences: 16 kHz mono s16le."""
    gap = b"\x00\x00" * int(16000 * pause_s)
    return gap.join(read_pcm(f) for f in files) + gap


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def in_order_hits(reference: list[str], hypothesis: list[str]) -> int:
    """How many reference words appear in the hypothesis in the same order (LCS length)."""
    prev = [0] * (len(hypothesis) + 1)
    for r in reference:
        cur = [0]
        for j, h in enumerate(hypothesis):
            cur.append(prev[j] + 1 if r == h else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


# -- mosquitto ------------------------------------------------------------------

@dataclass
class Mosquitto:
    """A real broker on `port`; `restart()` keeps the port and the persisted sessions."""

    tmp: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        data = self.tmp / "mosquitto-data"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.tmp / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            "user root\n"  # (as root) stay root: pytest's temp dirs are private to it
            f"persistence_location {data}/\n"
            "max_queued_messages 10000\n"
        )
        with open(self.tmp / "mosquitto.log", "ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.tmp / 'mosquitto.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_s: float = 1.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@contextlib.contextmanager
def mosquitto(tmp: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@contextlib.contextmanager
def compose_broker(tmp: Path, parley_password: str, captions_password: str) -> Iterator[int]:
    """The broker as deploy/compose.yaml runs it: deploy/mosquitto-entrypoint.sh hashes
    the passwords, then mosquitto runs deploy/mosquitto.conf with deploy/mosquitto.acl;
    only the address (a free loopback port) and the password file's place change.
    Yields the port."""
    port = free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    for old, new in (("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1"),
                     ("password_file /mosquitto/auth/passwd", f"password_file {tmp}/passwd"),
                     ("acl_file /mosquitto/config/mosquitto.acl",
                      f"acl_file {DEPLOY}/mosquitto.acl")):
        assert old in conf, old
        conf = conf.replace(old, new)
    conf += "user root\n"  # (as root) stay root: pytest's temp dirs are private to it
    (tmp / "mosquitto.conf").write_text(conf)
    env = {
        **os.environ,
        "PATH": f"{os.environ.get('PATH', '')}:{Path(MOSQUITTO).parent}",
        "MQTT_PARLEY_PASSWORD": parley_password,
        "MQTT_CAPTIONS_PASSWORD": captions_password,
        "MOSQUITTO_PASSWORD_FILE": str(tmp / "passwd"),
        "MOSQUITTO_CONFIG": str(tmp / "mosquitto.conf"),
    }
    log_path = tmp / "mosquitto.log"
    with open(log_path, "ab") as log:  # the child keeps its own copy
        proc = subprocess.Popen(["sh", str(DEPLOY / "mosquitto-entrypoint.sh")], env=env,
                                stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {log_path.read_text()}")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- MQTT subscriber that survives broker restarts --------------------------------

@dataclass
class MqttRecorder:
    """Subscribes to `topic` with a persistent session and records every message,
    reconnecting (and resuming its session) when the broker goes away."""

    port: int
    topic: str
    client_id: str = "test-recorder"
    messages: list[tuple[str, dict[str, Any] | None, bool]] = field(default_factory=list)
    connects: int = 0
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        first = True
        while True:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 600
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier=self.client_id,
                    protocol=aiomqtt.ProtocolVersion.V5, clean_start=first, properties=props,
                    keepalive=5,
                ) as client:
                    self.connects += 1
                    # The broker restores our session (persistence); subscribing again
                    # is harmless and covers a broker that lost it.
                    await client.subscribe(self.topic, qos=1)
                    first = False
                    self.subscribed.set()
                    async for m in client.messages:
                        payload = bytes(m.payload) if isinstance(m.payload, bytes) else b""
                        event = json.loads(payload) if payload else None
                        self.messages.append((str(m.topic), event, bool(m.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    def events(self, kind: str, final: bool | None = None) -> list[dict[str, Any]]:
        out = []
        for _topic, event, _retained in self.messages:
            if event and event.get("type") == kind and (final is None or event.get("final") == final):
                out.append(event)
        return out


# -- speakers and listeners -------------------------------------------------------

async def speak(
    url: str, pcm: bytes, *, room: str | None, speed: float = 1.0, chunk_s: float = 0.1,
    source_language: str | None = "en", targets: tuple[str, ...] = (),
    on_event: Any = None,
) -> list[dict[str, Any]]:
    """Stream `pcm` at `speed` x real time as a speaker in `room`; every event until `end`."""
    step = int(16000 * chunk_s) * 2
    events: list[dict[str, Any]] = []
    async with ParleyClient(url, source_language=source_language, targets=targets,
                            room=room) as client:
        events.append(client.ready)

        async def send() -> None:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for i in range(0, len(pcm), step):
                await client.send_audio(pcm[i:i + step])
                delay = t0 + (i + step) / 32000 / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await client.stop()

        sender = asyncio.create_task(send())
        async for event in client.events():
            events.append(event)
            if on_event is not None:
                on_event(event)
        await sender
    return events


@dataclass
class Follower:
    """A listener connection recording its events (and the loop time of each)."""

    url: str
    room: str
    lang: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    error: Exception | None = None

    async def run(self, ends: int = 1) -> None:
        """Follow until `ends` speakers have ended (or the connection closes)."""
        try:
            async with ParleyListener(self.url, self.room, self.lang) as listener:
                self.events.append(listener.joined)
                self.joined.set()
                seen = 0
                async for event in listener.events():
                    self.events.append(event)
                    if event.get("type") == "end":
                        seen += 1
                        if seen >= ends:
                            return
        except (ParleyClientError, OSError) as exc:
            self.error = exc
            self.joined.set()

    def of(self, kind: str, final: bool | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events
                if e.get("type") == kind and (final is None or e.get("final") == final)]


def finals(events: list[dict[str, Any]], kind: str = "transcript") -> list[tuple[int, str]]:
    return [(e["segment"], e["text"]) for e in events if e.get("type") == kind and e.get("final")]


class StalledListener:
    """A listener on a raw socket that completes the WebSocket handshake and then does
    not read (small receive buffer), until `read_to_close` reads everything it was sent."""

    def __init__(self, port: int, query: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(
            f"GET /v1/listen?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            byte = self.sock.recv(1)
            if not byte:
                raise ConnectionError("closed during the handshake")
            head += byte
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))

    def abandon(self) -> None:
        """Close from any thread (wakes a `read_to_close` blocked in another)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def read_to_close(self, timeout: float = 30.0) -> tuple[list[str], int | None, str]:
        """Read frames until the server's close frame (or EOF): texts, close code, reason."""
        self.sock.settimeout(timeout)
        data = b""
        texts: list[str] = []
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return texts, None, ""
                data += chunk
                while True:
                    frame = _frame(data)
                    if frame is None:
                        break
                    opcode, payload, data = frame
                    if opcode == 0x1:
                        texts.append(payload.decode())
                    elif opcode == 0x8:
                        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                        return texts, code, payload[2:].decode(errors="replace")
        finally:
            self.sock.close()


def _frame(data: bytes) -> tuple[int, bytes, bytes] | None:
    """One unmasked server frame off the front of `data` (None: incomplete)."""
    if len(data) < 2:
        return None
    opcode, size, pos = data[0] & 0x0F, data[1] & 0x7F, 2
    if size == 126:
        if len(data) < 4:
            return None
        size, pos = int.from_bytes(data[2:4], "big"), 4
    elif size == 127:
        if len(data) < 10:
            return None
        size, pos = int.from_bytes(data[2:10], "big"), 10
    if len(data) < pos + size:
        return None
    return opcode, data[pos:pos + size], data[pos + size:]
