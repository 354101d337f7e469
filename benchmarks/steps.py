"""One measured step: N simultaneous replays against one server, and its figures."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.data import Stream
from benchmarks.data.devset import TimedWord, score_clips
from benchmarks.measure import final_text, final_words, summary, word_latencies
from benchmarks.recording import Recording
from benchmarks.replay import replay_many
from benchmarks.scoring import TimedText, transcript_wer, translation_scores
from benchmarks.servers import Monitor, ServerProcess, Usage
from clients.python.parley_client.urls import http_url


@dataclass
class Target:
    system: str  # "parley", "parley-<latency mode>" | "baseline"
    url: str
    server: ServerProcess | None  # None when the server was given with --url
    #: `start.latency` of Parley's sessions (None: the server's default).
    latency: str | None = None


def server_models(stream_url: str) -> dict[str, Any] | None:
    """What a Parley server says it runs (`/v1/models`: engine, windows...), or None when
    it does not answer: results then still say what was measured."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(http_url(stream_url, "/v1/models"), timeout=10) as r:
            answer: dict[str, Any] = json.load(r)
            return answer
    except (OSError, ValueError):  # URLError is an OSError
        return None


def wait_idle(server: ServerProcess | None, busy_pct: float = 15.0, timeout_s: float = 60.0
              ) -> None:
    """Wait until the server process has (almost) stopped using CPU: leftover work of a
    previous step (a baseline thread finishing its last decode) must not leak into the next."""
    if server is None:
        return
    import psutil

    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(server.proc.pid)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.cpu_percent(interval=0.5) < busy_pct:
                return


async def _with_progress(coro: Any, total_s: float, desc: str, enabled: bool) -> Any:
    if not enabled:
        return await coro
    from tqdm import tqdm

    bar = tqdm(total=round(total_s, 1), desc=desc, unit="s", leave=False, disable=None,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s")
    task = asyncio.ensure_future(coro)
    t0 = time.monotonic()
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            bar.n = min(round(time.monotonic() - t0, 1), bar.total)
            bar.refresh()
        return task.result()
    finally:
        bar.close()


def run_recordings(
    target: Target,
    pcm: npt.NDArray[np.int16],
    count: int,
    *,
    stream_name: str,
    start: dict[str, Any],
    frame_s: float,
    drain_timeout_s: float,
    progress: bool,
) -> tuple[list[Recording], Usage | None]:
    wait_idle(target.server)
    monitor = Monitor(target.server.proc.pid) if target.server is not None else None
    if monitor is not None:
        monitor.start()
    coro = replay_many(target.url, pcm, count, system=target.system, stream=stream_name,
                       start=start, frame_s=frame_s, drain_timeout_s=drain_timeout_s)
    desc = f"{target.system} x{count}"
    recs: list[Recording] = asyncio.run(
        _with_progress(coro, pcm.size / 16000 + 1.0, desc, progress))
    usage = monitor.stop() if monitor is not None else None
    return recs, usage


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def step_figures(
    recs: list[Recording],
    usage: Usage | None,
    stream: Stream,
    language: str,
    translation_lang: str | None = None,
) -> dict[str, Any]:
    """Figures of one step (all its streams pooled for latency percentiles)."""
    partial: list[float] = []
    final: list[float] = []
    offsets: list[float] = []
    server_ms: list[float] = []
    wers: list[float] = []
    asr_rtf: list[float] = []
    clip_errors = [0] * len(stream.offsets)
    for rec in recs:
        lat = word_latencies(rec)
        partial += lat.partial_s
        final += lat.final_s
        offsets += lat.segment_offsets_s
        server_ms += lat.server_latency_ms
        if language == stream_language_hint(rec, language):
            wers.append(transcript_wer(stream.reference, final_text(rec), language))
            if language == "en":
                timed = [TimedWord(w.text, w.start, w.end) for w in final_words(rec)]
                for k, score in enumerate(score_clips(timed, stream.offsets)):
                    clip_errors[k] += score.errors
        asr = sum(float(r.event.get("asr_ms") or 0) for r in rec.of_type("metrics")) / 1000
        if rec.audio_s:
            asr_rtf.append(asr / rec.audio_s)
    audio_total = sum(r.audio_s for r in recs)
    errors = sorted({r.error for r in recs if r.error})
    out: dict[str, Any] = {
        "streams": len(recs),
        "latency": {"partial": summary(partial), "final": summary(final)},
        "segment_offset": summary(offsets),
        "server_latency_ms": summary(server_ms),
        "wer": round(statistics.mean(wers), 4) if wers else None,
        "wer_max": round(max(wers), 4) if wers else None,
        "asr_rtf": _median(asr_rtf),
        "ready_s": _median([r.ready_at - r.connect_at for r in recs if r.ready_at is not None]),
        "drain_s": _median([r.end_at - r.stop_at for r in recs
                            if r.end_at is not None and r.stop_at is not None]),
        "complete": all(r.end_at is not None for r in recs),
        "errors": errors,
        "cpu_s": usage.cpu_s if usage else None,
        "cpu_rtf": round(usage.cpu_s / audio_total, 3) if usage and audio_total else None,
        "peak_rss_mb": usage.peak_rss_mb if usage else None,
        "hwm_rss_mb": usage.hwm_rss_mb if usage else None,
        "samples": {"partial_s": [round(x, 3) for x in partial],
                    "final_s": [round(x, 3) for x in final]},
        # The first stream's final transcript, to read errors against the reference.
        "transcript": final_text(recs[0]) if recs else "",
        # English: errors per clip of the stream, summed over its recordings (`wer_ci`).
        "clip_errors": clip_errors if language == "en" and wers else None,
    }
    if translation_lang is not None:
        out["translation"] = translation_figures(recs, stream, translation_lang)
    return out


def stream_language_hint(rec: Recording, language: str) -> str:
    """The language of the recording's transcript: a server on Whisper's translate task
    (the baseline) writes its transcript in English."""
    for r in rec.of_type("ready"):
        if r.event.get("baseline", {}).get("task") == "translate":
            return "en"
    return language


def translation_figures(recs: list[Recording], stream: Stream, lang: str) -> dict[str, Any]:
    scores: list[dict[str, Any]] = []
    offsets: list[float] = []
    for rec in recs:
        items: list[TimedText] = []
        for r in rec.of_type("translation"):
            ev = r.event
            if not ev.get("final") or ev.get("lang") != lang:
                continue
            items.append(TimedText(float(ev["start"]), float(ev["end"]), str(ev["text"])))
            sent = rec.sent_time_of(float(ev["end"]))
            if sent is not None:
                offsets.append(r.at - sent)
        scores.append(translation_scores(items, stream.offsets))
    merged: dict[str, Any] = {}
    for key in ("bleu", "chrf", "bleu_doc", "chrf_doc"):
        vals = [s[key] for s in scores if s.get(key) is not None]
        merged[key] = round(statistics.mean(vals), 2) if vals else None
    merged["final_offset"] = summary(offsets)
    return merged


def merge_repeats(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every numeric figure over repeats; raw samples and flags of the first run
    (flags: `complete` only if every run completed; errors: all of them)."""
    if len(runs) == 1:
        return {**runs[0], "repeats": 1}

    def merge(values: list[Any]) -> Any:
        first = values[0]
        if isinstance(first, bool):
            return all(values)
        if isinstance(first, int | float) or first is None:
            nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            if nums and all(isinstance(v, int) for v in nums):
                return statistics.median_low(nums)  # counts stay whole (an even repeat count)
            return round(statistics.median(nums), 4) if nums else None
        if isinstance(first, dict):
            return {k: merge([v.get(k) if isinstance(v, dict) else None for v in values])
                    for k in first}
        return first

    out = merge(runs)
    assert isinstance(out, dict)
    out["errors"] = sorted({e for r in runs for e in r.get("errors", [])})
    out["samples"] = runs[0]["samples"]
    out["transcript"] = runs[0].get("transcript", "")
    out["repeats"] = len(runs)
    return out


def holds_slo(step: dict[str, Any], slo_s: float) -> bool:
    p90 = step["latency"]["final"]["p90"]
    return bool(step["complete"]) and not step["errors"] and p90 is not None and p90 <= slo_s
