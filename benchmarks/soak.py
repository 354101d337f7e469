"""Soak test: many sessions over a long time, some misbehaving; memory, errors, lost finals.

    python -m benchmarks.soak --minutes 30                 # spawns `parley serve` (tiny.en)
    python -m benchmarks.soak --minutes 10 --slots 3 --out soak.json
    python -m benchmarks.soak --url ws://127.0.0.1:8765 --token SECRET   # a running server

`--slots` clients run at once; each runs one session after another until the
time is up, picking a behaviour at random (seeded):

    clean     real speech at real-time pace, `stop`; sometimes in a room with a listener
    resume    the TCP connection is cut mid-stream, the client resumes with its token
              and sends the audio the server did not get (ready.audio_bytes)
    abrupt    cut mid-stream and never come back (the server parks, then expires it)
    garbage   bad JSON, unknown types, audio before start, a bad `start`
    oversized an audio frame over the server's limit

Checks: a clean or resumed session must end with `end`, close 1000, segment ids
0..n-1 each exactly once and `end.segments` equal to the finals received (else
its missing finals count as lost); a listener must receive the same finals; a
misbehaving one must get the error code it provoked. Memory: the server's RSS
(`process_resident_memory_bytes` from /metrics) every `--sample-s`. At the end,
after the resume grace period, no session may be left (`parley_active_sessions`).
Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import statistics
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from clients.python.parley_client.urls import http_url, listen_url, stream_url

log = logging.getLogger("soak")

FRAME_S = 0.1
PCM = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}
BEHAVIOURS = {"clean": 60, "resume": 12, "abrupt": 10, "garbage": 10, "oversized": 8}


# -- audio ---------------------------------------------------------------------------


def load_speech() -> list[bytes]:
    """Real English speech clips as 16 kHz s16le (LibriVox, plus MFA when fetched)."""
    from benchmarks.data import FetchError, english_clips, load_audio_16k
    from benchmarks.data.english import librivox_clips

    try:
        clips = english_clips(fetch=False)
    except FetchError:  # the MFA clips were not fetched: the LibriVox ones suffice
        clips = librivox_clips()
    out = []
    for clip in clips:
        audio = load_audio_16k(clip.path)
        if 1.0 <= audio.size / 16000 <= 20.0:
            out.append((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    if not out:
        raise SystemExit("soak: no speech clips found (run `python -m benchmarks.data`)")
    return out


def utterances(rng: random.Random, clips: list[bytes], n: int) -> bytes:
    gap = b"\x00\x00" * int(16000 * rng.uniform(0.6, 1.5))
    return gap.join(rng.choice(clips) for _ in range(n)) + gap


# -- one session -----------------------------------------------------------------------


class Refused(Exception):
    """The server refused the session with `overloaded` (admission control): retry later."""

    def __init__(self, retry_after_ms: int) -> None:
        super().__init__(f"overloaded, retry after {retry_after_ms} ms")
        self.retry_after_ms = retry_after_ms


@dataclass
class Outcome:
    behaviour: str
    ok: bool
    detail: str = ""
    finals: int = 0
    lost_finals: int = 0
    audio_s: float = 0.0
    error_codes: list[str] = field(default_factory=list)
    refused: bool = False
    latency_ms: list[float] = field(default_factory=list)


class Conn:
    """A speaker connection that records every event."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())
        self.sent = 0

    @classmethod
    async def open(cls, url: str, headers: dict[str, str]) -> Conn:
        # No client keepalive pings: while the server applies backpressure (it stops
        # reading a client that sends faster than it decodes), a ping waits behind the
        # audio in TCP and websockets' 20 s ping timeout would cut a session that is
        # merely late. The server pings its clients itself.
        return cls(await connect(url, max_size=None, additional_headers=headers,
                                 open_timeout=30, ping_interval=None))

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                self.events.append(json.loads(message))

    async def first(self, types: tuple[str, ...], timeout: float = 30) -> dict[str, Any]:
        """The first event of one of `types`; raises Refused on an `overloaded` error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e["type"] == "error" and e.get("code") == "overloaded":
                    raise Refused(int(e.get("retry_after_ms") or 1000))
                if e["type"] in types:
                    return e
            if self.reader.done():
                break
            await asyncio.sleep(0.02)
        raise RuntimeError(f"no {types} event (got {[e['type'] for e in self.events][:8]})")

    async def send_audio(self, data: bytes, realtime: float) -> bool:
        step = int(FRAME_S * 32000)
        t0 = time.monotonic()
        for i in range(0, len(data), step):
            try:
                await self.ws.send(data[i : i + step])
            except ConnectionClosed:
                return False
            self.sent += len(data[i : i + step])
            if realtime > 0:
                await asyncio.sleep(max(0.0, t0 + (i + step) / 32000 / realtime - time.monotonic()))
        return True

    async def closed(self, timeout: float = 120) -> None:
        await asyncio.wait_for(asyncio.shield(self.reader), timeout)

    def cut(self) -> None:
        self.ws.transport.abort()

    @property
    def last_seq(self) -> int:
        return max((e["seq"] for e in self.events), default=0)

    def finals(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "transcript" and e.get("final")]

    def errors(self) -> list[str]:
        return [e["code"] for e in self.events if e["type"] == "error"]


def _closing(conn: Conn) -> str:
    ws = conn.ws
    why = f"close {ws.close_code} {ws.close_reason!r}, errors {conn.errors()}"
    exc = getattr(ws.protocol, "close_exc", None)  # e.g. a keepalive ping timeout
    return f"{why}, {exc}" if exc is not None else why


def start_msg(token: str | None, room: str | None = None, **extra: Any) -> str:
    msg: dict[str, Any] = {"type": "start", "audio": PCM, "source_language": "en",
                           "target_languages": [], "room": room, "partials": True, **extra}
    if token:
        msg["token"] = token
    return json.dumps(msg)


def check_finals(finals: list[dict[str, Any]], end: dict[str, Any] | None) -> tuple[bool, int, str]:
    """(ok, lost finals, detail) for the finals one session delivered."""
    segments = [f["segment"] for f in finals]
    if end is None:
        return False, 0, "no end event"  # the caller adds the close code
    lost = max(0, int(end["segments"]) - len(finals))
    if segments != list(range(len(segments))):
        return False, lost, f"segments {segments[:12]} are not 0..n-1 once each"
    if lost:
        return False, lost, f"end.segments={end['segments']} but {len(finals)} finals received"
    return True, 0, ""


class Soak:
    def __init__(self, args: argparse.Namespace, clips: list[bytes]) -> None:
        self.args = args
        self.clips = clips
        self.stream_url = stream_url(args.url)
        self.metrics_url = http_url(args.url, "/metrics")
        self.headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        self.outcomes: list[Outcome] = []
        self.memory: list[tuple[float, float]] = []
        self.sessions_seen: list[tuple[float, float]] = []
        self.t0 = time.monotonic()

    # -- behaviours --------------------------------------------------------------------

    async def clean(self, rng: random.Random) -> Outcome:
        pcm = utterances(rng, self.clips, rng.randint(1, 3))
        room = f"soak-{rng.randrange(1 << 30):x}" if rng.random() < 0.3 else None
        listener: Conn | None = None
        if room is not None:
            listener = await Conn.open(listen_url(self.args.url, room), self.headers)
            await listener.first(("joined",))
        conn = await Conn.open(self.stream_url, self.headers)
        await conn.ws.send(start_msg(self.args.token, room))
        ready = await conn.first(("ready", "error"))
        if ready["type"] != "ready":
            return Outcome("clean", False, f"refused: {ready.get('code')}", error_codes=[ready["code"]])
        await conn.send_audio(pcm, self.args.realtime)
        await conn.ws.send(json.dumps({"type": "stop"}))
        await conn.closed()
        finals = conn.finals()
        end = next((e for e in conn.events if e["type"] == "end"), None)
        ok, lost, detail = check_finals(finals, end)
        if not ok and end is None:
            detail += f" ({_closing(conn)})"
        if ok and conn.ws.close_code != 1000:
            ok, detail = False, f"close {conn.ws.close_code}"
        if ok and conn.errors():
            ok, detail = False, f"errors {conn.errors()}"
        if listener is not None:
            sid = ready["session_id"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                e["type"] == "end" and e.get("session_id") == sid for e in listener.events
            ):
                await asyncio.sleep(0.05)
            heard = [e for e in listener.finals() if e.get("session_id") == sid]
            if ok and [e["text"] for e in heard] != [f["text"] for f in finals]:
                ok, detail = False, f"listener got {len(heard)} of {len(finals)} finals"
                lost += max(0, len(finals) - len(heard))
            await listener.ws.close()
        return Outcome("clean", ok, detail, len(finals), lost, len(pcm) / 32000, conn.errors(),
                       latency_ms=[f["latency_ms"] for f in finals if f.get("latency_ms")])

    async def resume(self, rng: random.Random) -> Outcome:
        pcm = utterances(rng, self.clips, rng.randint(2, 3))
        a = await Conn.open(self.stream_url, self.headers)
        await a.ws.send(start_msg(self.args.token))
        ready = await a.first(("ready", "error"))
        if ready["type"] != "ready" or "resume_token" not in ready:
            return Outcome("resume", False, f"no resumable ready: {ready.get('code')}")
        cut = int(len(pcm) * rng.uniform(0.3, 0.7)) // 3200 * 3200
        await a.send_audio(pcm[:cut], self.args.realtime)
        a.cut()
        await a.closed(10)
        await asyncio.sleep(rng.uniform(0.0, 2.0))
        b = await Conn.open(self.stream_url, self.headers)
        resume = {"session_id": ready["session_id"], "resume_token": ready["resume_token"],
                  "last_seq": a.last_seq}
        await b.ws.send(start_msg(self.args.token, resume=resume))
        ready2 = await b.first(("ready", "error"))
        if ready2["type"] != "ready":
            return Outcome("resume", False, f"resume refused: {ready2.get('code')}",
                           error_codes=b.errors())
        await b.send_audio(pcm[int(ready2["audio_bytes"]):], self.args.realtime)
        await b.ws.send(json.dumps({"type": "stop"}))
        await b.closed()
        finals = a.finals() + b.finals()
        seqs = [e["seq"] for e in a.events] + [e["seq"] for e in b.events[1:]]
        end = next((e for e in b.events if e["type"] == "end"), None)
        ok, lost, detail = check_finals(finals, end)
        if not ok and end is None:
            detail += f" ({_closing(b)})"
        if ok and (seqs != sorted(seqs) or len(set(seqs)) != len(seqs)):
            ok, detail = False, "seq not increasing across the resume"
        if ok and b.ws.close_code != 1000:
            ok, detail = False, f"close {b.ws.close_code}"
        return Outcome("resume", ok, detail, len(finals), lost, len(pcm) / 32000,
                       a.errors() + b.errors())

    async def abrupt(self, rng: random.Random) -> Outcome:
        pcm = utterances(rng, self.clips, 1)
        conn = await Conn.open(self.stream_url, self.headers)
        await conn.ws.send(start_msg(self.args.token))
        await conn.first(("ready",))
        await conn.send_audio(pcm[: int(len(pcm) * rng.uniform(0.2, 0.8)) // 2 * 2],
                              self.args.realtime)
        conn.cut()
        return Outcome("abrupt", True, audio_s=conn.sent / 32000)

    async def garbage(self, rng: random.Random) -> Outcome:
        conn = await Conn.open(self.stream_url, self.headers)
        expected = ["bad_json", "unknown_type", "not_started", "bad_audio_format"]
        for frame in ("{nope", json.dumps({"type": "dance"}), bytes(rng.randbytes(64)),
                      json.dumps({"type": "start", "audio": {"encoding": "mp3"}})):
            await conn.ws.send(frame)
        with contextlib.suppress(TimeoutError):
            await conn.closed(30)
        ok = conn.errors() == expected and conn.ws.close_code == 1008
        return Outcome("garbage", ok, "" if ok else f"errors {conn.errors()}",
                       error_codes=conn.errors())

    async def oversized(self, rng: random.Random) -> Outcome:
        conn = await Conn.open(self.stream_url, self.headers)
        await conn.ws.send(start_msg(self.args.token))
        await conn.first(("ready",))
        await conn.send_audio(utterances(rng, self.clips, 1)[:32000], self.args.realtime)
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(b"\x00" * (self.args.max_frame_bytes + 2))
        with contextlib.suppress(TimeoutError):
            await conn.closed(30)
        ok = conn.errors() == ["frame_too_large"] and conn.ws.close_code == 1008
        return Outcome("oversized", ok, "" if ok else f"errors {conn.errors()}",
                       error_codes=conn.errors())

    # -- the run -----------------------------------------------------------------------

    async def slot(self, n: int, deadline: float) -> None:
        rng = random.Random(self.args.seed * 1000 + n)
        names, weights = zip(*BEHAVIOURS.items(), strict=True)
        while time.monotonic() < deadline:
            name = rng.choices(names, weights)[0]
            try:
                outcome = await asyncio.wait_for(getattr(self, name)(rng), timeout=300)
            except Refused as exc:  # admission control doing its job: not a failure
                outcome = Outcome(name, True, str(exc), refused=True)
                await asyncio.sleep(min(exc.retry_after_ms / 1000, 5.0))
            except Exception as exc:  # noqa: BLE001 - any client failure is a soak finding
                outcome = Outcome(name, False, f"{type(exc).__name__}: {exc}")
            if not outcome.ok:
                log.warning("slot %d: %s failed: %s", n, name, outcome.detail)
            self.outcomes.append(outcome)
            await asyncio.sleep(rng.uniform(0.0, 1.0))

    def scrape(self) -> dict[str, float]:
        from server.metrics import parse_text

        with urllib.request.urlopen(self.metrics_url, timeout=10) as resp:
            return parse_text(resp.read().decode())

    async def sampler(self, stop: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(Exception):
                m = await asyncio.to_thread(self.scrape)
                t = round(time.monotonic() - self.t0, 1)
                self.memory.append((t, m.get("process_resident_memory_bytes", 0) / 2**20))
                self.sessions_seen.append((t, m.get("parley_active_sessions", 0)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.args.sample_s)
                return

    async def run(self) -> dict[str, Any]:
        stop = asyncio.Event()
        sampler = asyncio.create_task(self.sampler(stop))
        deadline = time.monotonic() + self.args.minutes * 60
        await asyncio.gather(*(self.slot(n, deadline) for n in range(self.args.slots)))
        # Parked sessions (abrupt clients) expire after the grace period: wait for it.
        leftover = -1.0
        settle = time.monotonic() + self.args.settle_s
        while time.monotonic() < settle:
            m = await asyncio.to_thread(self.scrape)
            leftover = m.get("parley_active_sessions", 0)
            if leftover == 0:
                break
            await asyncio.sleep(1.0)
        stop.set()
        await sampler
        return self.report(leftover, await asyncio.to_thread(self.scrape))

    def report(self, leftover: float, final: dict[str, float]) -> dict[str, Any]:
        by = Counter(o.behaviour for o in self.outcomes)
        failed = [o for o in self.outcomes if not o.ok]
        codes = Counter(c for o in self.outcomes for c in o.error_codes)
        mem = [m for _, m in self.memory]
        lat = sorted(x for o in self.outcomes for x in o.latency_ms)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else None
        first = [m for t, m in self.memory if t <= 60] or mem[:1]
        last = [m for t, m in self.memory if t >= self.memory[-1][0] - 60] if mem else []
        server_codes = {k.split('"')[1]: int(v) for k, v in final.items()
                        if k.startswith("parley_errors_total{")}
        return {
            "minutes": self.args.minutes,
            "slots": self.args.slots,
            "sessions": sum(by.values()),
            "by_behaviour": dict(by),
            "refused_overloaded": sum(1 for o in self.outcomes if o.refused),
            "failed": len(failed),
            "failures": [asdict(o) for o in failed[:20]],
            "lost_finals": sum(o.lost_finals for o in self.outcomes),
            "finals_checked": sum(o.finals for o in self.outcomes),
            "audio_s": round(sum(o.audio_s for o in self.outcomes), 1),
            "final_latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "max": pct(1.0)},
            "errors_by_code_client": dict(codes),
            "errors_by_code_server": server_codes,
            "rejections_by_code_server": {k.split('"')[1]: int(v) for k, v in final.items()
                                          if k.startswith("parley_rejections_total{")},
            "sessions_ended_server": {k.split('"')[1]: int(v) for k, v in final.items()
                                      if k.startswith("parley_sessions_total{")},
            "leftover_sessions": leftover,
            "rss_mb": {
                "first": round(mem[0], 1) if mem else None,
                "first_minute_median": round(statistics.median(first), 1) if first else None,
                "last_minute_median": round(statistics.median(last), 1) if last else None,
                "max": round(max(mem), 1) if mem else None,
                "median": round(statistics.median(mem), 1) if mem else None,
                # least-squares slope: a leak shows as a steady climb, sessions as noise
                "trend_mb_per_10min": _trend(self.memory),
                "samples": [(t, round(m, 1)) for t, m in self.memory],
            },
        }


def _trend(samples: list[tuple[float, float]]) -> float | None:
    if len(samples) < 3:
        return None
    ts = [t for t, _ in samples]
    ms = [m for _, m in samples]
    mt, mm = statistics.fmean(ts), statistics.fmean(ms)
    var = sum((t - mt) ** 2 for t in ts)
    if var == 0:
        return None
    slope = sum((t - mt) * (m - mm) for t, m in samples) / var
    return round(slope * 600, 1)


def _spawn(args: argparse.Namespace) -> Any:
    from benchmarks.servers import start_server

    cmd = [sys.executable, "-m", "server", "--log-level", "warning", "serve", "--host",
           "127.0.0.1", "--port", "0", "--asr-model", args.asr_model, "--no-mt",
           "--resume-grace-s", str(args.grace_s), "--max-sessions", "32",
           "--max-frame-bytes", str(args.max_frame_bytes)]
    return start_server("parley", cmd)


def summary(rep: dict[str, Any]) -> str:
    rss = rep["rss_mb"]
    lines = [
        (f"soak: {rep['minutes']} min, {rep['slots']} slots, {rep['sessions']} sessions "
         f"{rep['by_behaviour']}, {rep['audio_s']} s of audio; "
         f"{rep['refused_overloaded']} refused (overloaded, retried)"),
        (f"  failed sessions: {rep['failed']}   lost finals: {rep['lost_finals']} "
         f"(of {rep['finals_checked']} checked)   left over: {rep['leftover_sessions']:g}"),
        f"  errors by code (client): {rep['errors_by_code_client']}",
        f"  final latency ms (clean sessions): {rep['final_latency_ms']}",
        f"  sessions ended (server): {rep['sessions_ended_server']}",
        (f"  server RSS MB: first {rss['first']}, first-minute median "
         f"{rss['first_minute_median']}, last-minute median {rss['last_minute_median']}, "
         f"median {rss['median']}, max {rss['max']}, trend {rss['trend_mb_per_10min']} MB/10 min"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="how long to start sessions")
    p.add_argument("--slots", type=int, default=3, help="concurrent clients")
    p.add_argument("--url", default=None, help="a running server (default: spawn one)")
    p.add_argument("--token", default=None, help="API token for --url")
    p.add_argument("--asr-model", default="tiny.en", help="model of the spawned server")
    p.add_argument("--grace-s", type=float, default=5.0, help="resume grace of the spawned server")
    p.add_argument("--max-frame-bytes", type=int, default=256 * 1024,
                   help="the server's frame limit (oversized frames exceed it)")
    p.add_argument("--realtime", type=float, default=1.0, help="audio pace (x real time)")
    p.add_argument("--sample-s", type=float, default=10.0, help="memory sampling interval")
    p.add_argument("--settle-s", type=float, default=60.0,
                   help="after the run, how long to wait for sessions to end")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    clips = load_speech()
    server = None
    if args.url is None:
        server = _spawn(args)
        args.url = f"ws://127.0.0.1:{server.port}"
    try:
        rep = asyncio.run(Soak(args, clips).run())
    finally:
        if server is not None:
            server.stop()
    print(summary(rep), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(rep, indent=1))
    ok = rep["failed"] == 0 and rep["lost_finals"] == 0 and rep["leftover_sessions"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.soak"))
