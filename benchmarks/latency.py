"""Latency and accuracy benchmark: Parley against the peer-design baseline, one run.

    python -m benchmarks.latency [--smoke] [--models tiny.en,base] [--out DIR] ...
    parley bench latency ...          (the same options)

For each model: the offline ceiling (`parley transcribe` on the whole stream),
then a concurrency sweep (1, 2, 4, ... simultaneous real-time streams) against
a Parley server and the baseline server (benchmarks/baseline: whisper_streaming's
design, one model + thread per client), alternating the two at every step, until
each one's p90 final latency passes the SLO. Then speech in another language -> English
(Whisper's translate task; model `base`; Dutch by default, `--translate-from cs|es|fr`:
Czech dialogue, Spanish or French prompts), and the translation stage
(benchmarks.mt_stage). Writes results.json, results.md and PNG plots.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import platform
import random
import shlex
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.data import (
    Stream,
    asterisk_clips,
    build_stream,
    czech_clips,
    dutch_clips,
    english_clips,
    english_dev_clips,
)
from benchmarks.data.audio import load_audio_16k, to_pcm16
from benchmarks.recording import Recording
from benchmarks.replay import start_message
from benchmarks.servers import (
    baseline_command,
    machine_load,
    parley_command,
    running,
)
from benchmarks.steps import (
    Target,
    holds_slo,
    merge_repeats,
    run_recordings,
    server_models,
    step_figures,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: --translate-from: speech with an English reference for every clip.
TRANSLATION_SOURCES = ("nl", "cs", "es", "fr")


def add_latency_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--smoke", action="store_true",
                   help="seconds-to-a-minute check: one short clip, tiny.en, 1 stream, baseline "
                        "too, a few MT sentences")
    p.add_argument("--models", default="tiny.en,base",
                   help="comma-separated ASR models (names or dirs) of the English streams; "
                        "'none' for none, e.g. a translation run alone [default: tiny.en,base]")
    p.add_argument("--url", default=None,
                   help="measure this running Parley server (ws://HOST:PORT/v1/stream) instead "
                        "of starting one; --models must then name the one model it runs")
    p.add_argument("--baseline-url", default=None, help="a running baseline server instead")
    p.add_argument("--no-baseline", action="store_true", help="measure Parley only")
    p.add_argument("--seconds", type=float, default=90.0,
                   help="length of the English stream (clips joined) [default: 90]")
    p.add_argument("--dutch-seconds", type=float, default=60.0,
                   help="length of the Dutch stream; 0 skips translation [default: 60]")
    p.add_argument("--dutch-model", default="base",
                   help="multilingual model for Dutch -> English [default: base]")
    p.add_argument("--translate-from", choices=sorted(TRANSLATION_SOURCES), default="nl",
                   help="the speech of the translation section (results key 'dutch'): Dutch or"
                        " Czech game dialogue (Fish Fillets NG), Spanish or French prompts"
                        " (Asterisk); English references for every clip [default: nl]")
    p.add_argument("--max-streams", type=int, default=16,
                   help="largest step of the concurrency sweep (1, 2, 4, ...) [default: 16]")
    p.add_argument("--no-sweep", action="store_true", help="1 stream only")
    p.add_argument("--latency", type=_latency_modes, default=["fast"], metavar="MODE[,MODE...]",
                   help="Parley latency modes to measure, each as its own system (start.latency:"
                        " fast, balanced, accurate) [default: fast]")
    p.add_argument("--english", choices=["english", "english-dev"], default="english",
                   help="English clips the stream is cut from: the LibriVox + MFA set, or the"
                        " 10,000-word dev set in a fixed shuffled order [default: english]")
    p.add_argument("--streams", type=_stream_counts, default=None, metavar="N[,N...]",
                   help="measure exactly these stream counts, each even after a miss "
                        "(instead of the 1, 2, 4, ... sweep, which stops at the first miss)")
    p.add_argument("--slo", type=float, default=2.5,
                   help="p90 final latency SLO in seconds [default: 2.5]")
    p.add_argument("--repeat", type=int, default=1,
                   help="repeat every measurement; medians are reported [default: 1]")
    p.add_argument("--frame-ms", type=int, default=100, help="audio frame length [default: 100]")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads per model call for both servers (0: default)")
    p.add_argument("--mt-model", default="zh-en",
                   help="translation model for the MT stage; 'none' skips it [default: zh-en]")
    p.add_argument("--mt-sentences", type=int, default=20,
                   help="sentences for the MT stage [default: 20]")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory [default: artifacts/bench/latency-<time>]")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--save-events", action="store_true",
                   help="also write every received event with its time (events/*.jsonl)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


@dataclass
class Plan:
    models: list[str]
    english: Stream
    dutch: Stream | None
    counts: list[int]
    #: Stop a system's sweep at its first SLO miss (not for counts the user listed).
    stop_at_miss: bool
    baseline: bool
    mt_model: str | None
    mt_sentences: int
    mt_passes: int
    #: Parley's latency modes, each measured as its own system (`parley_system`).
    latency_modes: list[str] = field(default_factory=lambda: ["fast"])


def _translation_clips(language: str) -> list[Any]:
    if language == "nl":
        return dutch_clips(limit=400)
    if language == "cs":
        return czech_clips(limit=400)
    # Asterisk prompts of 5+ words: the short ones are single menu words.
    return asterisk_clips(language, min_words=5)  # type: ignore[arg-type]


def parley_system(mode: str) -> str:
    """"parley" for the fast mode (the default), "parley-<mode>" for the others."""
    return "parley" if mode == "fast" else f"parley-{mode}"


def _latency_modes(text: str) -> list[str]:
    from server.streaming.policy import LATENCY_MODES

    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in LATENCY_MODES]
    if bad or not modes:
        raise argparse.ArgumentTypeError(
            f"latency modes are {', '.join(LATENCY_MODES)}, not {text!r}")
    return list(dict.fromkeys(modes))


def _stream_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of stream counts: {text!r}") from None
    if not counts:
        raise argparse.ArgumentTypeError(f"no stream counts given: {text!r}")
    if min(counts) < 1:
        raise argparse.ArgumentTypeError(f"stream counts must be >= 1: {text!r}")
    return sorted(set(counts))


def _counts(max_streams: int, sweep: bool) -> list[int]:
    if not sweep:
        return [1]
    out: list[int] = []
    n = 1
    while n <= max(1, max_streams):
        out.append(n)
        n *= 2
    return out


def _select(clips: list[Any], seconds: float) -> list[Any]:
    chosen: list[Any] = []
    total = 0.0
    for clip in clips:
        length = len(load_audio_16k(clip.path)) / SAMPLE_RATE + 0.8
        if chosen and total + length > seconds:
            break
        chosen.append(clip)
        total += length
    return chosen


def model_names(arg: str) -> list[str]:
    """--models: comma-separated names; `none` measures no English stream (a translation
    run on its own)."""
    if arg.strip().lower() == "none":
        return []
    return [m.strip() for m in arg.split(",") if m.strip()]


def make_plan(args: argparse.Namespace) -> Plan:
    models = model_names(args.models)
    if args.smoke:
        english = build_stream(english_clips()[:1], name="bench-smoke-english")
        return Plan(models=["tiny.en"] if args.models == "tiny.en,base" else models[:1],
                    english=english, dutch=None, counts=[1], stop_at_miss=True,
                    baseline=not args.no_baseline,
                    mt_model=None if args.mt_model == "none" else args.mt_model,
                    mt_sentences=4, mt_passes=1, latency_modes=args.latency)
    if args.english == "english-dev":
        pool = english_dev_clips()
        random.Random(35).shuffle(pool)
        english = build_stream(_select(pool, args.seconds),
                               name=f"bench-english-dev-{int(args.seconds)}s")
    else:
        english = build_stream(_select(english_clips(), args.seconds),
                               name=f"bench-english-{int(args.seconds)}s")
    dutch = None
    if args.dutch_seconds > 0:
        source = args.translate_from
        dutch = build_stream(_select(_translation_clips(source), args.dutch_seconds),
                             name=f"bench-{source}-{int(args.dutch_seconds)}s")
    return Plan(models=models, english=english, dutch=dutch,
                counts=args.streams or _counts(args.max_streams, not args.no_sweep),
                stop_at_miss=args.streams is None,
                baseline=not args.no_baseline,
                mt_model=None if args.mt_model == "none" else args.mt_model,
                mt_sentences=args.mt_sentences, mt_passes=3, latency_modes=args.latency)


def pcm_of(stream: Stream) -> npt.NDArray[np.int16]:
    return to_pcm16(stream.audio)


@contextmanager
def targets(args: argparse.Namespace, model: str, plan: Plan, mt: list[str] | None
            ) -> Iterator[list[Target]]:
    with ExitStack() as stack:
        out: list[Target] = []
        if args.url:
            url, server = args.url, None
        else:
            srv = stack.enter_context(running(
                "parley", parley_command(model, mt_models=mt, threads=args.threads)))
            url, server = srv.url, srv
        for mode in plan.latency_modes:
            out.append(Target(parley_system(mode), url, server, latency=mode))
        if plan.baseline:
            if args.baseline_url:
                out.append(Target("baseline", args.baseline_url, None))
            else:
                srv = stack.enter_context(running(
                    "baseline", baseline_command(model, threads=args.threads)))
                out.append(Target("baseline", srv.url, srv))
        yield out


def measure(
    target: Target, stream: Stream, count: int, args: argparse.Namespace, *,
    language: str, targets_langs: list[str], translation_lang: str | None = None,
) -> dict[str, Any]:
    pcm = pcm_of(stream)
    runs = []
    for k in range(max(1, args.repeat)):
        recs, usage = run_recordings(
            target, pcm, count, stream_name=stream.name,
            start=start_message(language, targets_langs, latency=target.latency),
            frame_s=args.frame_ms / 1000,
            drain_timeout_s=max(30.0, stream.duration_s), progress=not args.no_progress)
        if getattr(args, "events_dir", None) is not None:
            save_events(args.events_dir / f"{stream.name}-{target.system}-x{count}-r{k}.jsonl",
                        recs)
        runs.append(step_figures(recs, usage, stream, language, translation_lang))
    return merge_repeats(runs)


def save_events(path: Path, recs: list[Recording]) -> None:
    """One JSON line per recording: frame send times and every event with its receive time
    (seconds from the recording's first frame)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for rec in recs:
            t0 = rec.sent_at[0] if rec.sent_at else rec.connect_at
            fh.write(json.dumps({
                "stream": rec.stream, "system": rec.system, "error": rec.error,
                "frame_samples": rec.frame_samples,
                "sent_at": [round(t - t0, 4) for t in rec.sent_at],
                "events": [[round(r.at - t0, 4), r.event] for r in rec.events],
            }, ensure_ascii=False) + "\n")


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or b == 0:
        return None
    return round(a / b, 3)


def ratios(parley: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    """Parley / baseline for the figures where lower is better."""
    return {
        "partial_p50": _ratio(parley["latency"]["partial"]["p50"],
                              base["latency"]["partial"]["p50"]),
        "partial_p90": _ratio(parley["latency"]["partial"]["p90"],
                              base["latency"]["partial"]["p90"]),
        "final_p50": _ratio(parley["latency"]["final"]["p50"], base["latency"]["final"]["p50"]),
        "final_p90": _ratio(parley["latency"]["final"]["p90"], base["latency"]["final"]["p90"]),
        "wer": _ratio(parley["wer"], base["wer"]),
        "cpu_rtf": _ratio(parley["cpu_rtf"], base["cpu_rtf"]),
        "peak_rss_mb": _ratio(parley["peak_rss_mb"], base["peak_rss_mb"]),
    }


def run_english(args: argparse.Namespace, plan: Plan, model: str,
                loads: list[dict[str, Any]]) -> dict[str, Any]:
    from benchmarks.offline import load_engine, offline_transcript

    result: dict[str, Any] = {"model": model}
    engine = load_engine(model, args.threads)
    result["offline"] = offline_transcript(engine, plan.english, "en")
    del engine
    systems: dict[str, dict[str, Any]] = {}
    with targets(args, model, plan, mt=None) as tgts:
        result["server"] = next(
            (server_models(t.url) for t in tgts if t.system == "parley"), None
        )
        alive = {t.system for t in tgts}
        for t in tgts:
            systems[t.system] = {"steps": [], "max_streams_under_slo": 0}
        for count in plan.counts:
            for t in tgts:
                if t.system not in alive:
                    continue
                step = measure(t, plan.english, count, args, language="en", targets_langs=[])
                ok = holds_slo(step, args.slo)
                step["slo_ok"] = ok
                systems[t.system]["steps"].append(step)
                if ok:
                    systems[t.system]["max_streams_under_slo"] = count
                elif plan.stop_at_miss:
                    alive.discard(t.system)
                _progress_line(model, t.system, step)
            if not alive:
                break
            loads.append(machine_load())
    result.update(systems)
    add_wer_intervals(result)
    if "parley" in systems and "baseline" in systems:
        p1, b1 = systems["parley"]["steps"][0], systems["baseline"]["steps"][0]
        result["ratios_1_stream"] = ratios(p1, b1)
        result["ratio_max_streams"] = _ratio(systems["parley"]["max_streams_under_slo"],
                                             systems["baseline"]["max_streams_under_slo"])
    return result


def add_wer_intervals(result: dict[str, Any]) -> None:
    """Every step's WER gets its 95 % CI and a paired bootstrap against offline (per clip,
    benchmarks.stats); every system's first step one against the baseline's first."""
    from benchmarks.stats import compare, wer_interval

    offline = result.get("offline", {})
    off_errors, words = offline.get("clip_errors"), offline.get("clip_words")
    if not words or not sum(words):
        return
    baseline_steps = (result.get("baseline") or {}).get("steps") or [None]
    first_baseline = baseline_steps[0]
    for name, system in result.items():
        if not isinstance(system, dict) or "steps" not in system:
            continue
        for step in system["steps"]:
            errors = step.get("clip_errors")
            if not errors or len(errors) != len(words):
                continue
            n = step["streams"]  # errors are summed over the step's n recordings
            step_words = [w * n for w in words]
            step["wer_ci"] = {
                "wer": wer_interval(errors, step_words).as_dict(),
                "vs_offline": compare(errors, [e * n for e in off_errors], step_words).as_dict(),
            }
        first = system["steps"][0] if system["steps"] else None
        if (name != "baseline" and first is not None and first_baseline is not None
                and "wer_ci" in first and first_baseline.get("clip_errors")
                and first["streams"] == first_baseline["streams"]):
            n = first["streams"]
            first["wer_ci"]["vs_baseline"] = compare(
                first["clip_errors"], first_baseline["clip_errors"], [w * n for w in words]
            ).as_dict()


def run_dutch(args: argparse.Namespace, plan: Plan) -> dict[str, Any]:
    from benchmarks.offline import load_engine, offline_transcript, offline_translation

    assert plan.dutch is not None
    model = args.dutch_model
    language = args.translate_from
    engine = load_engine(model, args.threads)
    result: dict[str, Any] = {
        "model": model,
        "language": language,
        "offline": {
            "transcript": offline_transcript(engine, plan.dutch, language),
            "translation": offline_translation(engine, plan.dutch, language),
        },
    }
    del engine
    with targets(args, model, plan, mt=None) as tgts:
        for t in tgts:
            step = measure(t, plan.dutch, 1, args, language=language, targets_langs=["en"],
                           translation_lang="en")
            result[t.system] = step
            _progress_line(f"{model} {language}->en", t.system, step)
    return result


def _progress_line(label: str, system: str, step: dict[str, Any]) -> None:
    lat = step["latency"]
    print(f"[{label}] {system:8s} x{step['streams']:<2d} partial p50 {lat['partial']['p50']} "
          f"final p50 {lat['final']['p50']} p90 {lat['final']['p90']} wer {step['wer']} "
          f"cpu_rtf {step['cpu_rtf']}"
          f"{'' if 'slo_ok' not in step else ' ok' if step['slo_ok'] else ' SLO missed'}"
          f"{' errors: ' + '; '.join(step['errors']) if step['errors'] else ''}",
          file=sys.stderr, flush=True)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("faster-whisper", "ctranslate2", "websockets", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "?"
    return out


def run(args: argparse.Namespace, command: str | None = None) -> dict[str, Any]:
    """Run the benchmark; `command` is recorded in the results (default: this process's)."""
    started = _dt.datetime.now(_dt.UTC)
    out_dir = args.out or Path("artifacts/bench") / f"latency-{started:%Y%m%d-%H%M%S}"
    out_dir.mkdir(parents=True, exist_ok=True)
    args.events_dir = out_dir / "events" if getattr(args, "save_events", False) else None
    plan = make_plan(args)
    loads = [machine_load()]
    results: dict[str, Any] = {
        "benchmark": "latency",
        "version": 1,
        "date": started.isoformat(timespec="seconds"),
        "command": command or shlex.join(["python", "-m", "benchmarks.latency",
                                           *sys.argv[1:]]),
        "smoke": bool(args.smoke),
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    **_versions()},
        "config": {
            "models": plan.models, "slo_s": args.slo, "frame_ms": args.frame_ms,
            "counts": plan.counts, "repeat": args.repeat, "threads": args.threads,
            "baseline": plan.baseline,
            "baseline_design": "whisper_streaming OnlineASRProcessor: LocalAgreement-2, "
                               "re-transcribe buffer every 1.0 s, beam 5, "
                               "condition_on_previous_text, trim at segment ends past 15 s, "
                               "200-char prompt; one model + thread per client",
        },
        "streams": {"english": _describe(plan.english)} if plan.models else {},
        "english": {},
    }
    if plan.dutch is not None:
        results["streams"]["dutch"] = _describe(plan.dutch)
    for model in plan.models:
        results["english"][model] = run_english(args, plan, model, loads)
        _write(out_dir, results)
    if plan.dutch is not None:
        results["dutch"] = run_dutch(args, plan)
        loads.append(machine_load())
        _write(out_dir, results)
    if plan.mt_model is not None:
        from benchmarks.mt_sentences import SENTENCES_ZH
        from benchmarks.mt_stage import run_mt_stage

        results["mt"] = run_mt_stage(plan.mt_model, SENTENCES_ZH[: plan.mt_sentences],
                                     passes=plan.mt_passes)
    loads.append(machine_load())
    results["machine"]["load"] = loads
    results["duration_s"] = round((_dt.datetime.now(_dt.UTC) - started).total_seconds(), 1)
    from benchmarks.report import headline, write_markdown, write_plots

    results["headline"] = headline(results)
    _write(out_dir, results)
    write_markdown(out_dir / "results.md", results)
    if not args.no_plots:
        results["plots"] = write_plots(out_dir, results)
        _write(out_dir, results)
    print(f"benchmark: results in {out_dir}/results.json, results.md", file=sys.stderr)
    return results


def _describe(stream: Stream) -> dict[str, Any]:
    return {"name": stream.name, "duration_s": round(stream.duration_s, 2),
            "clips": len(stream.offsets), "reference_words": len(stream.reference.split()),
            "clip_ids": [p.clip_id for p in stream.offsets], "reference": stream.reference}


def _write(out_dir: Path, results: dict[str, Any]) -> None:
    path = out_dir / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", "utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_latency_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    command = None if argv is None else shlex.join(["python", "-m", "benchmarks.latency",
                                                     *argv])
    run(args, command)
    return 0


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.latency"))
