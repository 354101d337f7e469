"""Prometheus metrics for `/metrics`, in the text exposition format (written by hand).

`ServerMetrics` is owned by the gateway (one per server, no globals). Sessions
record into it through `observe_event` (every event a speaker session emits
passes it once), the gateway through `rejected` / `session_ended`; gauges that
mirror live state (active sessions, queue depths, translation batches) are read
at scrape time from `Snapshot`.

Exposition rules kept here: one `# HELP` and `# TYPE` per family, label values
escaped (backslash, quote, newline), histogram buckets cumulative with `+Inf`,
then `_sum` and `_count`. Units are seconds (Prometheus convention), although
events carry milliseconds.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from server.protocol.events import traits
from server.protocol.messages import Event

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]

#: End-to-end latency of finals: emit time - arrival of the audio they cover.
LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0)
#: One stage of one request (queue wait, model time).
STAGE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Counter:
    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = tuple(sorted(labels.items()))
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(key)} {_num(value)}"


class Histogram:
    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:
        self.name, self.help = name, help
        self.buckets = tuple(sorted(buckets))
        self._series: dict[Labels, _HistogramSeries] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _HistogramSeries([0] * len(self.buckets))
        i = bisect.bisect_left(self.buckets, value)  # first bound >= value
        if i < len(self.buckets):  # above the last bound: only +Inf (the count) has it
            series.counts[i] += 1
        series.count += 1
        series.sum += value

    def count(self, **labels: str) -> int:
        series = self._series.get(tuple(sorted(labels.items())))
        return 0 if series is None else series.count

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for key, series in sorted(self._series.items()):
            running = 0
            for bound, n in zip(self.buckets, series.counts, strict=True):
                running += n
                le = 'le="' + _num(bound) + '"'
                yield f"{self.name}_bucket{_labels(key, le)} {running}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(key, inf)} {series.count}"
            yield f"{self.name}_sum{_labels(key)} {_num(series.sum)}"
            yield f"{self.name}_count{_labels(key)} {series.count}"


@dataclass
class _HistogramSeries:
    counts: list[int]  # per bucket, not cumulative (cumulated when rendered)
    count: int = 0
    sum: float = 0.0


def gauge(name: str, help: str, samples: Iterable[tuple[Labels, float]]) -> Iterable[str]:
    yield f"# HELP {name} {help}"
    yield f"# TYPE {name} gauge"
    for key, value in samples:
        yield f"{name}{_labels(key)} {_num(value)}"


@dataclass(frozen=True)
class MtStats:
    """One translation scheduler's counters (server.mt.scheduler.SchedulerStats)."""

    model: str
    batches: int
    requests: int
    dropped: int
    failed: int
    largest_batch: int
    queued: int


@dataclass(frozen=True)
class Snapshot:
    """Live state read at scrape time."""

    active_sessions: int
    parked_sessions: int
    listeners: int
    asr_queue_depth: int
    draining: bool
    max_sessions: int
    asr_workers: int = 1
    asr_busy_workers: int = 0
    mt: tuple[MtStats, ...] = ()
    #: room listeners disconnected as too slow, and events dropped from their queues
    slow_listeners: int = 0
    listener_dropped_events: int = 0


@dataclass
class ServerMetrics:
    sessions: Counter = field(default_factory=lambda: Counter(
        "parley_sessions_total", "Speaker sessions ended, by how they ended."))
    resumes: Counter = field(default_factory=lambda: Counter(
        "parley_resumes_total", "Speaker sessions resumed after a dropped connection."))
    audio: Counter = field(default_factory=lambda: Counter(
        "parley_audio_seconds_total", "Seconds of speaker audio received (16 kHz stream time)."))
    finals: Counter = field(default_factory=lambda: Counter(
        "parley_finals_total", "Final events sent, by type (transcript, translation)."))
    errors: Counter = field(default_factory=lambda: Counter(
        "parley_errors_total", "Error events sent to speakers, by code."))
    rejections: Counter = field(default_factory=lambda: Counter(
        "parley_rejections_total",
        "Connections refused or closed by the server for a fatal error, by code."))
    speaker_dropped: Counter = field(default_factory=lambda: Counter(
        "parley_speaker_dropped_events_total",
        "Partial and metrics events dropped for speakers that read too slowly."))
    mqtt_rejected: Counter = field(default_factory=lambda: Counter(
        "parley_mqtt_rejected_total",
        "Messages from the MQTT broker dropped because they do not verify as another"
        " replica's, by reason (unsigned, bad_signature, stale, replayed)."))
    latency: Histogram = field(default_factory=lambda: Histogram(
        "parley_final_latency_seconds",
        "End-to-end latency of finals: emit time minus arrival of the audio they cover.",
        LATENCY_BUCKETS_S))
    stages: Histogram = field(default_factory=lambda: Histogram(
        "parley_stage_seconds",
        "Time per pipeline stage of finals: queue (wait for the ASR worker), asr, mt.",
        STAGE_BUCKETS_S))

    def observe_event(self, event: Event) -> None:
        """Record one speaker event (called once per event, before any fan-out)."""
        kind = event.get("type")
        if kind == "error":
            self.errors.inc(code=str(event.get("code")))
            return
        if kind not in ("transcript", "translation") or not traits(event).final:
            return
        self.finals.inc(type=str(kind))
        latency = event.get("latency_ms")
        if isinstance(latency, int | float):
            self.latency.observe(latency / 1000, event=str(kind))
        if kind == "transcript":
            for stage in ("queue", "asr"):
                value = event.get(f"{stage}_ms")
                if isinstance(value, int | float):
                    self.stages.observe(value / 1000, stage=stage)
        else:
            value = event.get("mt_ms")
            if isinstance(value, int | float):
                self.stages.observe(value / 1000, stage=str(event.get("via") or "mt"))

    def audio_seconds(self, seconds: float) -> None:
        if seconds > 0:
            self.audio.inc(seconds)

    def rejected(self, code: str) -> None:
        self.rejections.inc(code=code)

    def session_ended(self, reason: str) -> None:
        self.sessions.inc(reason=reason)

    def render(self, snap: Snapshot) -> str:
        lines: list[str] = []
        lines += gauge("parley_active_sessions",
                       "Admitted speaker sessions (connected or waiting to be resumed).",
                       [((), snap.active_sessions)])
        lines += gauge("parley_parked_sessions",
                       "Speaker sessions whose connection dropped, waiting to be resumed.",
                       [((), snap.parked_sessions)])
        lines += gauge("parley_max_sessions", "Configured speaker session limit.",
                       [((), snap.max_sessions)])
        lines += gauge("parley_listeners", "Connected room listeners.", [((), snap.listeners)])
        lines += gauge("parley_draining", "1 while shutting down (not accepting sessions).",
                       [((), 1 if snap.draining else 0)])
        lines += gauge("parley_asr_queue_depth",
                       "Recognition requests waiting for a worker (all sessions).",
                       [((), snap.asr_queue_depth)])
        lines += gauge("parley_asr_workers", "Recognition calls that can run at once.",
                       [((), snap.asr_workers)])
        lines += gauge("parley_asr_busy_workers", "Recognition calls running now.",
                       [((), snap.asr_busy_workers)])
        for metric in (self.sessions, self.resumes, self.audio, self.finals, self.errors,
                       self.rejections, self.speaker_dropped, self.mqtt_rejected):
            lines += metric.render()
        for name, help_text, value in (
            ("parley_listener_dropped_events_total",
             "Partial and metrics events dropped for room listeners that read too slowly.",
             snap.listener_dropped_events),
            ("parley_slow_listeners_total",
             "Room listeners disconnected for being too far behind (slow_consumer).",
             snap.slow_listeners),
        ):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter",
                      f"{name} {_num(value)}"]
        lines += self.latency.render()
        lines += self.stages.render()
        mt_families = (
            ("parley_mt_batches_total", "counter", "Translation batches run.", "batches"),
            ("parley_mt_requests_total", "counter", "Translation requests run.", "requests"),
            ("parley_mt_dropped_total", "counter",
             "Partial translation requests dropped (queue full or superseded).", "dropped"),
            ("parley_mt_failed_total", "counter", "Translation requests that failed.", "failed"),
            ("parley_mt_largest_batch", "gauge", "Largest translation batch so far.",
             "largest_batch"),
            ("parley_mt_queued", "gauge", "Translation requests waiting now.", "queued"),
        )
        for name, kind, help_text, attr in mt_families:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for s in snap.mt:
                lines.append(f"{name}{_labels((('model', s.model),))} {_num(getattr(s, attr))}")
        rss = resident_bytes()
        if rss is not None:
            lines += gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                           [((), rss)])
        return "\n".join(lines) + "\n"


def resident_bytes() -> int | None:
    """This process's resident set size (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def parse_text(text: str) -> dict[str, float]:
    """Samples of an exposition as {'name{labels}': value} (for tests and the soak script)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out
