"""Room fan-out: one speaker, many listeners (WebSocket and MQTT); the extra delay.

    python -m benchmarks.fanout --ws 100 --mqtt 100            # starts mosquitto + parley serve
    python -m benchmarks.fanout --url ws://HOST:PORT --mqtt-url mqtt://HOST:1883 ...

One speaker streams real speech (the pocketsphinx LibriVox recordings) in real
time into a room. N WebSocket listeners (/v1/listen) and M MQTT subscribers
(one connection each, to the room's transcript topic) follow it. For every
transcript event the speaker receives on its own socket at time t0, each
listener's receipt time t1 gives the extra delivery delay t1 - t0 (one
monotonic clock: all on this machine). The listeners run in `--procs` client
processes, so the figures include those processes' own scheduling (an upper
bound for the server's fan-out cost). Reports p50,
p90, p99 and max per transport, finals and partials apart, and how many
events arrived (partials may be dropped for slow listeners; finals may not).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np

from clients.python.parley_client import ParleyClient, ParleyListener

ROOT = Path(__file__).resolve().parent.parent
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")

Key = tuple[str, int, bool, str]  # type, segment, final, text


def _key(event: dict[str, Any]) -> Key:
    return (str(event.get("type")), int(event.get("segment", -1)), bool(event.get("final")),
            str(event.get("text", "")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


@contextlib.contextmanager
def _processes(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """A mosquitto and a `parley serve --mqtt-url` unless URLs were given."""
    if args.url and args.mqtt_url:
        yield args.url, args.mqtt_url
        return
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        procs: list[subprocess.Popen[bytes]] = []
        try:
            mport = _free_port()
            conf = Path(tmp) / "mosquitto.conf"
            conf.write_text(f"listener {mport} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                            "max_queued_messages 100000\n")
            broker = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
            procs.append(subprocess.Popen([broker, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            _wait_port(mport, procs[-1], "mosquitto", 10)
            port = _free_port()
            cmd = [sys.executable, "-m", "server", "--log-level", "warning", "serve", "--host",
                   "127.0.0.1", "--port", str(port), "--asr-model", args.asr_model, "--no-mt",
                   "--mqtt-url", f"mqtt://127.0.0.1:{mport}", "--replica-id", "bench"]
            procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            _wait_port(port, procs[-1], "parley serve", 180)
            yield f"ws://127.0.0.1:{port}", f"mqtt://127.0.0.1:{mport}"
        finally:
            for proc in reversed(procs):
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(20)
                if proc.poll() is None:
                    proc.kill()


def _speech(count: int, pause_s: float) -> bytes:
    gap = b"\x00\x00" * int(16000 * pause_s)
    parts = []
    for path in sorted(LIBRIVOX.glob("*.wav"))[:count]:
        with wave.open(str(path)) as w:
            parts.append(w.readframes(w.getnframes()))
    return gap.join(parts) + gap


@dataclass
class Receiver:
    kind: str  # "ws" | "mqtt"
    times: dict[Key, float] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def saw(self, event: dict[str, Any], at: float) -> None:
        if event.get("type") == "transcript":
            self.times.setdefault(_key(event), at)
        elif event.get("type") == "end":
            self.ended.set()


async def _ws_listener(url: str, room: str, rx: Receiver, ready: asyncio.Event) -> None:
    async with ParleyListener(url, room) as listener:
        ready.set()
        async for event in listener.events():
            rx.saw(event, time.monotonic())
            if rx.ended.is_set():
                return


async def _mqtt_listener(host: str, port: int, topic: str, rx: Receiver,
                         ready: asyncio.Event, status: str) -> None:
    async with aiomqtt.Client(host, port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(topic, qos=1)
        await client.subscribe(status, qos=1)
        ready.set()
        async for message in client.messages:
            if message.retain or not isinstance(message.payload, bytes) or not message.payload:
                continue
            rx.saw(json.loads(message.payload), time.monotonic())
            if rx.ended.is_set():
                return


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    arr = np.array(values) * 1000
    return {"n": len(values), "p50": round(float(np.percentile(arr, 50)), 2),
            "p90": round(float(np.percentile(arr, 90)), 2),
            "p99": round(float(np.percentile(arr, 99)), 2), "max": round(float(arr.max()), 2)}


async def _follow(kinds: list[str], url: str, mqtt_url: str, room: str,
                  ready: Any, go: Any) -> list[tuple[str, dict[Key, float]]]:
    """Run some receivers until their `end` (or `go` says stop); their receipt times."""
    m = re.match(r"mqtt://([^:/]+):(\d+)", mqtt_url)
    if m is None:
        raise SystemExit(f"--mqtt-url must look like mqtt://HOST:PORT, got {mqtt_url}")
    mhost, mport = m.group(1), int(m.group(2))
    receivers = [Receiver(kind) for kind in kinds]
    tasks: list[asyncio.Task[None]] = []
    for rx in receivers:
        up = asyncio.Event()
        if rx.kind == "ws":
            tasks.append(asyncio.create_task(_ws_listener(url, room, rx, up)))
        else:
            tasks.append(asyncio.create_task(_mqtt_listener(
                mhost, mport, f"parley/rooms/{room}/transcript", rx, up,
                f"parley/rooms/{room}/status/+")))
        await asyncio.wait_for(up.wait(), 60)
    ready.put(len(receivers))
    # Until every receiver saw `end`, or the speaker's side gave up waiting.
    done = asyncio.gather(*(rx.ended.wait() for rx in receivers))
    while not done.done():
        await asyncio.sleep(0.2)
        if go.is_set():
            break
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    done.cancel()
    return [(rx.kind, rx.times) for rx in receivers]


def _worker(kinds: list[str], url: str, mqtt_url: str, room: str, ready: Any, go: Any,
            out: Any) -> None:
    out.put(asyncio.run(_follow(kinds, url, mqtt_url, room, ready, go)))


async def _speak(args: argparse.Namespace, url: str, room: str) -> tuple[Receiver, float]:
    loop = asyncio.get_running_loop()
    speaker = Receiver("speaker")
    pcm = _speech(args.files, 0.8)
    step = 3200
    async with ParleyClient(url, source_language="en", room=room) as client:
        async def send() -> None:
            t0 = loop.time()
            for i in range(0, len(pcm), step):
                await client.send_audio(pcm[i:i + step])
                delay = t0 + (i + step) / 32000 / args.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await client.stop()

        sender = asyncio.create_task(send())
        async for event in client.events():
            speaker.saw(event, time.monotonic())
        await sender
    return speaker, len(pcm) / 32000


def run(args: argparse.Namespace, url: str, mqtt_url: str) -> dict[str, Any]:
    room = f"fanout-{os.getpid()}"
    kinds = ["ws"] * args.ws + ["mqtt"] * args.mqtt
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    slices = [kinds[i::args.procs] for i in range(args.procs)]
    workers = [ctx.Process(target=_worker, args=(part, url, mqtt_url, room, ready, go, out))
               for part in slices if part]
    for w in workers:
        w.start()
    for _ in workers:
        ready.get(timeout=300)
    time.sleep(1.0)
    speaker, audio_s = asyncio.run(_speak(args, url, room))
    time.sleep(2.0)
    go.set()  # receivers that missed `end` stop now
    results: list[tuple[str, dict[Key, float]]] = []
    for _ in workers:
        results += out.get(timeout=120)
    for w in workers:
        w.join(30)

    report: dict[str, Any] = {
        "listeners": {"ws": args.ws, "mqtt": args.mqtt}, "client_processes": len(workers),
        "speed": args.speed, "audio_s": round(audio_s, 1),
        "speaker_events": {"finals": sum(k[2] for k in speaker.times),
                           "partials": sum(not k[2] for k in speaker.times)},
    }
    for kind in ("ws", "mqtt"):
        for final in (True, False):
            delays: list[float] = []
            expected = received = 0
            for rx_kind, times in results:
                if rx_kind != kind:
                    continue
                for key, t0 in speaker.times.items():
                    if key[2] != final:
                        continue
                    expected += 1
                    t1 = times.get(key)
                    if t1 is not None:
                        received += 1
                        delays.append(t1 - t0)
            label = f"{kind}_{'finals' if final else 'partials'}"
            report[label] = {**_percentiles(delays), "received": received, "expected": expected}
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=__doc__.split("\n")[0])
    p.add_argument("--ws", type=int, default=100, help="WebSocket listeners")
    p.add_argument("--mqtt", type=int, default=100, help="MQTT subscribers")
    p.add_argument("--files", type=int, default=5, help="LibriVox recordings to speak (1-5)")
    p.add_argument("--speed", type=float, default=1.0, help="x real time")
    p.add_argument("--procs", type=int, default=2,
                   help="client processes the listeners are spread over")
    p.add_argument("--asr-model", default="tiny.en")
    p.add_argument("--url", help="use this server (with --mqtt-url) instead of starting one")
    p.add_argument("--mqtt-url", help="the broker that server publishes to")
    p.add_argument("--json", type=Path, help="also write the report here")
    args = p.parse_args(argv)
    with _processes(args) as (url, mqtt_url):
        report = run(args, url, mqtt_url)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.fanout"))
