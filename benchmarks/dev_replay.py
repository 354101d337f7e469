"""WER of each latency mode on the English dev set, with 95 % confidence intervals.

    python -m benchmarks.dev_replay tiny.en                          # fast, balanced, accurate
    python -m benchmarks.dev_replay tiny.en --modes accurate --streams 4
    python -m benchmarks.dev_replay tiny.en --modes fast --options '{"agreement_n": 3}'
    python -m benchmarks.dev_replay tiny.en --out runs/dev.jsonl     # reuse / extend a run

The dev set (benchmarks/data/devset.py: 1,021 clips, 10,375 scored words, 71 min, in
5-minute streams) is fed to the streaming policy as `benchmarks.policy_replay` feeds it:
100 ms frames, every decode run at once and in order (zero queueing), so the result is
deterministic and does not depend on the machine's load, only its duration does. Each
stream is also decoded as `parley transcribe` decodes a file (the offline ceiling), from
the same 16-bit samples the server would hear.

Every transcript is scored clip by clip (words assigned to clips by their times), and the
summary gives, per system, the pooled WER with its paired-bootstrap 95 % CI over clips, and
against offline, the baseline and `fast` (and a variant against its mode without
`--options`) the difference and ratio with their CIs (benchmarks/stats.py), on the clips
both have. A change counts only where the difference's
interval excludes 0.

`--modes ...,baseline` also replays benchmarks/baseline (the whisper_streaming design: 1 s
iterations over its whole buffer, beam 5) the same way (benchmarks/baseline/replay.py), and
compares each mode with it.

Also per mode, the algorithmic latency of each word: when, in stream time, the policy first
committed it (stable partial or final) minus the word's end; with decodes taking no time.
A lower bound of what a server adds to it (decode time and queueing), and a figure that
moves with the mode alone: the machine's load does not change it.

`--out FILE.jsonl`: one line per (stream, system); lines already in the file for the same
model are reused, so a run can be stopped and resumed, or extended by more modes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.baseline.replay import replay_baseline
from benchmarks.baseline.server import BaselineOptions
from benchmarks.baseline.server import load_model as load_baseline_model
from benchmarks.data.devset import TimedWord, english_dev_streams, score_clips
from benchmarks.measure import summary
from benchmarks.offline import cli_audio
from benchmarks.policy_replay import SEQUENTIAL, dataclass_overrides, replay_events
from benchmarks.stats import compare, wer_interval
from server.asr.batched import BatchedWhisperEngine
from server.asr.whisper import WhisperEngine
from server.models.resolve import resolve_asr
from server.streaming.events import Final, Partial, PolicyEvent
from server.streaming.policy import LATENCY_MODES, PolicyOptions, latency_options
from server.transcribe import transcribe_audio

OFFLINE = "offline"
#: The whisper_streaming design (benchmarks/baseline), replayed the same way.
BASELINE = "baseline"


def commit_latencies(timed: list[tuple[float, PolicyEvent]]) -> list[float]:
    """Per final word: stream time its segment first showed it as stable (or final) minus
    the word's end. Stable words are counted by whitespace tokens, as they are joined."""
    first_stable: dict[int, list[float]] = {}
    out: list[float] = []
    for at, event in timed:
        if isinstance(event, Partial) and event.stable:
            seen = first_stable.setdefault(event.segment, [])
            seen.extend([at] * (len(event.stable.split()) - len(seen)))
        elif isinstance(event, Final):
            seen = first_stable.pop(event.segment, [])
            for k, word in enumerate(event.words):
                committed = seen[k] if k < len(seen) else at
                out.append(round(committed - word.end, 3))
    return out


def spread(n: int, stride: int = 5) -> list[int]:
    """0..n-1 in an order whose every prefix spans the set: k * stride mod n (stride
    coprime to n), so `--streams N` takes read prompts, acted dialogue and the rest alike."""
    while np.gcd(stride, n) != 1:
        stride += 1
    return [k * stride % n for k in range(n)]


def system_name(mode: str, overrides: dict[str, Any]) -> str:
    return mode if not overrides else f"{mode}+{json.dumps(overrides, sort_keys=True)}"


def run_stream(engine: WhisperEngine, stream: Any, system: str,
               options: PolicyOptions | None) -> dict[str, Any]:
    audio = cli_audio(stream)
    t0 = time.perf_counter()
    latencies: list[float] = []
    if system == BASELINE:
        decodes, committed = replay_baseline(baseline_model(engine), audio,
                                             baseline_options(engine))
        timed = [TimedWord(w.text, w.start, w.end) for _, w in committed]
        latencies = [round(at - w.end, 3) for at, w in committed]
    elif options is None:
        words = transcribe_audio(engine, audio, "en").words
        timed = [TimedWord(w.text, w.start, w.end) for w in words]
        decodes = 1
    else:
        decodes, events = replay_events(engine, audio, options)
        finals = [e for _, e in events if isinstance(e, Final)]
        timed = [TimedWord(w.text, w.start, w.end) for f in finals for w in f.words]
        latencies = commit_latencies(events)
    scores = score_clips(timed, stream.offsets)
    return {
        "stream": stream.name, "system": system, "decodes": decodes,
        "wall_s": round(time.perf_counter() - t0, 1), "audio_s": round(stream.duration_s, 1),
        "clips": [s.clip_id for s in scores], "errors": [s.errors for s in scores],
        "words": [s.words for s in scores], "commit_latency_s": latencies,
    }


_BASELINE_MODELS: dict[str, Any] = {}


def baseline_options(engine: WhisperEngine) -> BaselineOptions:
    info = engine.info
    return BaselineOptions(model_path=str(info.path), model_name=info.name,
                           multilingual=info.multilingual)


def baseline_model(engine: WhisperEngine) -> Any:
    """The baseline's own faster-whisper model (its settings: beam 5, default threads)."""
    key = str(engine.info.path)
    if key not in _BASELINE_MODELS:
        _BASELINE_MODELS[key] = load_baseline_model(baseline_options(engine))
    return _BASELINE_MODELS[key]


def read_lines(path: Path | None, model: str) -> dict[tuple[str, str], dict[str, Any]]:
    if path is None or not path.is_file():
        return {}
    out = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("model") == model and "stream" in row:
                out[(row["stream"], row["system"])] = row
    return out


def summarize(rows: list[dict[str, Any]], variants: dict[str, str]) -> dict[str, Any]:
    """Per system: pooled WER and CI; against offline (and a variant against its mode):
    difference and ratio with CIs. Only clips every compared system has are used."""
    by_system: dict[str, dict[str, tuple[int, int]]] = {}
    latencies: dict[str, list[float]] = {}
    for row in rows:
        clips = by_system.setdefault(row["system"], {})
        for clip, errors, words in zip(row["clips"], row["errors"], row["words"], strict=True):
            clips[clip] = (errors, words)
        latencies.setdefault(row["system"], []).extend(row.get("commit_latency_s", []))
    out: dict[str, Any] = {}
    for system, clips in by_system.items():
        errors = [e for e, _ in clips.values()]
        words = [w for _, w in clips.values()]
        entry: dict[str, Any] = {
            "clips": len(clips), "words": sum(words),
            "wer": wer_interval(errors, words).as_dict(),
        }
        if system != OFFLINE:
            entry["commit_latency_s"] = summary(latencies.get(system, []))
        against = [(OFFLINE, "vs_offline")]
        if system not in (OFFLINE, BASELINE):
            against.append((BASELINE, "vs_baseline"))
        if system not in (OFFLINE, BASELINE, "fast"):
            against.append(("fast", "vs_fast"))  # each mode against today's behaviour
        if system in variants:
            against.append((variants[system], "vs_main"))
        for other, key in against:
            base = by_system.get(other)
            if base is None or other == system:
                continue
            shared = [c for c in clips if c in base]
            if not shared:
                continue
            entry[key] = compare([clips[c][0] for c in shared], [base[c][0] for c in shared],
                                 [clips[c][1] for c in shared]).as_dict()
        out[system] = entry
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dev_replay",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("model", nargs="?", default="tiny.en")
    parser.add_argument("--modes", default=",".join(LATENCY_MODES),
                        help="latency modes to replay, comma-separated, and 'baseline' for "
                             "benchmarks/baseline's design [fast,balanced,accurate]")
    parser.add_argument("--options", default="{}",
                        help="PolicyOptions overrides applied on top of each mode (JSON): a "
                             "variant, compared with the mode itself when that is in --out")
    parser.add_argument("--streams", type=int, default=None,
                        help="only N dev-set streams (5 min each), spread over the set "
                             "(`spread`) [all 18]")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSONL of per-stream results: reused and extended")
    parser.add_argument("--engine", choices=["batched", "whisper"], default="batched",
                        help="recognition engine of the streaming decodes, as the server's "
                             "--asr-engine [batched]; offline is faster-whisper's long-form path")
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG",
                        help="also draw the frontier: WER (95 %% CI) against commit latency "
                             "p50, a point per system")
    parser.add_argument("--markdown", type=Path, default=None, metavar="MD",
                        help="also write the summary as a Markdown table")
    parser.add_argument("--summary", action="store_true",
                        help="decode nothing: summarize what --out holds for these modes")
    parser.add_argument("--no-offline", action="store_true",
                        help="do not decode offline (another run does; join the --out files)")
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in names if m not in (*LATENCY_MODES, BASELINE)]
    if bad:
        parser.error(f"--modes: unknown {', '.join(bad)}; modes: "
                     f"{', '.join((*LATENCY_MODES, BASELINE))}")
    modes = [m for m in names if m != BASELINE]
    overrides = dataclass_overrides(parser, args.options, PolicyOptions, "--options")
    if args.streams is not None and args.streams < 1:
        parser.error("--streams must be >= 1")
    if args.summary and args.out is None:
        parser.error("--summary needs --out")
    done = read_lines(args.out, args.model)
    engine: WhisperEngine | None = None
    if not args.summary:
        info = resolve_asr(args.model)
        engine = (BatchedWhisperEngine(info, SEQUENTIAL) if args.engine == "batched"
                  else WhisperEngine(info, SEQUENTIAL))
    systems: list[tuple[str, PolicyOptions | None]] = [] if args.no_offline else [(OFFLINE, None)]
    variants: dict[str, str] = {}
    for mode in modes:
        name = system_name(mode, overrides)
        systems.append((name, replace(latency_options(mode), **overrides)))
        if overrides:
            variants[name] = mode
    if BASELINE in names:
        systems.append((BASELINE, None))
    rows: list[dict[str, Any]] = []
    streams = english_dev_streams()
    for stream in [streams[k] for k in spread(len(streams))][: args.streams]:
        for name, opts in systems:
            row = done.get((stream.name, name))
            if row is None and engine is None:
                continue
            if row is None:
                assert engine is not None
                row = {"model": args.model, "engine": args.engine,
                       **run_stream(engine, stream, name, opts)}
                if args.out is not None:
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    with args.out.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row) + "\n")
                print(json.dumps({k: row[k] for k in ("stream", "system", "decodes", "wall_s")}
                                 | {"errors": sum(row["errors"]), "words": sum(row["words"])}),
                      file=sys.stderr, flush=True)
            rows.append(row)
    for mode in modes:  # a variant's main mode, if an earlier run left it in --out
        if overrides:
            rows.extend(r for (_, system), r in done.items() if system == mode
                        and any(r["stream"] == x["stream"] for x in rows))
    result = {"model": args.model, "options": overrides, "streams": len({r["stream"]
                                                                         for r in rows}),
              "systems": summarize(rows, variants)}
    print(json.dumps(result, indent=1))
    if args.plot is not None:
        plot_frontier(args.plot, result["systems"])
    if args.markdown is not None:
        args.markdown.write_text(markdown_table(result["systems"]), "utf-8")
    return 0


def _pct(interval: dict[str, float] | None) -> str:
    if not interval:
        return "-"
    return (f"{100 * interval['value']:.2f} % ({100 * interval['low']:.2f}-"
            f"{100 * interval['high']:.2f})")


def _ratio(cmp: dict[str, Any] | None) -> str:
    if not cmp:
        return "-"
    r = cmp["ratio"]
    return f"{r['value']:.3f}x ({r['low']:.3f}-{r['high']:.3f})"


def markdown_table(systems: dict[str, Any]) -> str:
    """One row per system: WER and CI, offline WER on the same clips, ratios with CIs
    (against the baseline only where it was replayed), commit latency."""
    baseline = any("vs_baseline" in s for s in systems.values())
    cols = ["system", "clips", "words", "WER (95 % CI)", "offline WER, same clips",
            "WER / offline (95 % CI)", *(["/ baseline (95 % CI)"] if baseline else []),
            "/ fast (95 % CI)", "commit latency p50 / p90"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, s in systems.items():
        vs_off = s.get("vs_offline")
        lat = s.get("commit_latency_s") or {}
        latency = (f"{lat['p50']:.2f} / {lat['p90']:.2f} s" if lat.get("p50") is not None
                   else "-")
        cells = [name, str(s["clips"]), str(s["words"]), _pct(s["wer"]),
                 _pct(vs_off["wer_b"]) if vs_off else "-", _ratio(vs_off),
                 *([_ratio(s.get("vs_baseline"))] if baseline else []),
                 _ratio(s.get("vs_fast")), latency]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_frontier(path: Path, systems: dict[str, Any]) -> None:
    """The summary's systems as WER / offline (paired, on each system's own clips, with its
    CI) against commit-latency p50; offline is the line at 1. The ratio rather than the
    WER, so systems replayed on different parts of the set stay comparable."""
    from benchmarks.report import frontier_plot

    points = [(name, s["commit_latency_s"]["p50"], s["vs_offline"]["ratio"]["value"],
               s["vs_offline"]["ratio"])
              for name, s in systems.items()
              if name != OFFLINE and s.get("commit_latency_s", {}).get("p50") is not None
              and s.get("vs_offline")]
    frontier_plot(path, points, "commit latency p50, zero decode time (s)", 1.0,
                  ylabel="WER / offline WER, same clips (95 % CI)")


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.dev_replay"))
