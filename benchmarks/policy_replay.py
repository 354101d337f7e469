"""Streaming WER without a server or a clock: the policy fed by the real model.

    python -m benchmarks.policy_replay tiny.en                     # default options
    python -m benchmarks.policy_replay tiny.en '{"agreement_n": 3}'  # PolicyOptions overrides
    python -m benchmarks.policy_replay tiny.en --engine batched      # the batched engine
    python -m benchmarks.policy_replay tiny.en --engine batched --batch '{"window_margin_s": 5}'
    python -m benchmarks.policy_replay tiny.en --pauses 0.8          # one layout only
    python -m benchmarks.policy_replay tiny.en --orders 3            # 3 clip orders x 3 pauses
    python -m benchmarks.policy_replay tiny.en --orders 2 --first-order 3  # orders 3-4: held out

Feeds 169 s of real English (LibriVox + Common Voice + MFA read speech, 22 clips)
to `StreamingTranscriber` in 100 ms frames, decoding every request synchronously
(zero queueing: an accuracy figure, not a latency one), and prints the streaming
WER beside `parley transcribe` on the same audio and model (always faster-whisper's
own long-form path: the batched engine hands it audio with no room for its margin in 30 s).

The clips are joined with each of several pause lengths (0.6, 0.8, 1.2 s) and the
WERs are pooled. One layout alone is deterministic but narrow: a policy change
alters every later prompt and window, which moves 2-3 of its ~50 errors either
way by chance, and a rule tuned on one layout can miss what another shows.
`--orders K` also shuffles the clips (K fixed orders, the first as listed): each
order gives every clip other neighbours, hence other prompts and context audio,
for more nearly independent samples of the same 392 words. `--first-order K` skips
the first K orders: a variant tuned on orders 0-2 is checked on layouts it was not
tuned on.

`--compare BASE.jsonl` pairs each layout with the same layout of an earlier run's
output (saved stdout) and ends with the per-layout change in streaming errors: its
mean, standard deviation and t statistic. A layout moves by about 7 errors either
way by chance, so over nine layouts only |t| above about 2 is a measured change.
Both the summary (streaming against offline) and the comparison (this run against
BASE) also carry a paired bootstrap over clips (benchmarks/stats.py): WERs, difference
and ratio with 95 % CIs, and `changed` when the difference's interval excludes 0. For
accuracy decisions with a 10,000-word set, see benchmarks.dev_replay.

    python -m benchmarks.policy_replay tiny.en --orders 3 > main.jsonl
    python -m benchmarks.policy_replay tiny.en '{"context_s": 6}' --orders 3 --compare main.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import build_stream, english_clips, error_kinds, wer, word_errors
from benchmarks.data.devset import TimedWord, score_clips
from benchmarks.stats import compare
from server.asr.batched import BatchedWhisperEngine, BatchOptions
from server.asr.whisper import OFFLINE_BEAM_SIZE, AsrOptions, WhisperEngine
from server.audio.vad import SileroVadModel, VadStream
from server.models.resolve import resolve_asr
from server.streaming.events import Decoded, Final, PolicyEvent
from server.streaming.policy import PolicyOptions, StreamingTranscriber
from server.transcribe import transcribe_audio

#: Decodes run one after another here: one worker (threads auto). The long-form path,
#: which the offline figure takes, decodes with `parley transcribe`'s beam.
SEQUENTIAL = AsrOptions(workers=1, beam_size=OFFLINE_BEAM_SIZE)


def clean_english() -> list:  # type: ignore[type-arg]
    """Read or conversational English; MFA's voice-quality demos (whisper, falsetto...) out."""
    return [
        c
        for c in english_clips()
        if c.id.startswith("librivox/")
        or (not c.id.startswith("mfa/mfa_") and "falsetto" not in c.id and "whisper" not in c.id)
    ]


def clip_orders(clips: list, count: int) -> list[list]:  # type: ignore[type-arg]
    """`count` fixed orders of `clips`: as given, then seeded shuffles (1, 2, ...)."""
    if count < 1:
        raise ValueError("count must be >= 1")
    orders = [list(clips)]
    for seed in range(1, count):
        shuffled = list(clips)
        random.Random(seed).shuffle(shuffled)
        orders.append(shuffled)
    return orders


def numbered_orders(clips: list, count: int, first: int = 0) -> list[tuple[int, list]]:  # type: ignore[type-arg]
    """Orders `first` .. `first + count - 1` of `clip_orders`, each with its number."""
    return list(enumerate(clip_orders(clips, first + count)))[first:]


def dataclass_overrides(
    parser: argparse.ArgumentParser, text: str, cls: type, what: str
) -> dict[str, Any]:
    """`text` as a JSON object of `cls` fields, or a usage error that says what is wrong."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        parser.error(f"{what}: not JSON ({exc}): {text}")
    if not isinstance(obj, dict):
        parser.error(f"{what}: a JSON object of {cls.__name__} fields, not {text}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(obj) - names)
    if unknown:
        parser.error(f"{what}: {cls.__name__} has no field {', '.join(unknown)}; "
                     f"fields: {', '.join(sorted(names))}")
    try:
        cls(**obj)
    except (TypeError, ValueError) as exc:
        parser.error(f"{what}: {exc}")
    return obj


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.policy_replay")
    parser.add_argument("model", nargs="?", default="tiny.en")
    parser.add_argument("options", nargs="?", default="{}", help="PolicyOptions overrides (JSON)")
    parser.add_argument("--engine", choices=["whisper", "batched"], default="whisper")
    parser.add_argument(
        "--batch", default="{}", help="BatchOptions overrides for --engine batched (JSON)"
    )
    parser.add_argument(
        "--pauses", default="0.6,0.8,1.2", help="pauses between clips, one layout each (s)"
    )
    parser.add_argument(
        "--orders", type=int, default=1, help="clip orders, each joined with every pause [1]"
    )
    parser.add_argument(
        "--first-order", type=int, default=0, metavar="K",
        help="skip the first K orders: held-out layouts for a variant tuned on the others [0]",
    )
    parser.add_argument(
        "--compare", type=Path, metavar="BASE.jsonl",
        help="an earlier run's output: end with the paired per-layout change in errors",
    )
    args = parser.parse_args(argv)
    try:
        base_runs = read_runs(args.compare) if args.compare else None
    except (OSError, ValueError) as exc:
        parser.error(f"--compare: {exc}")
    overrides = dataclass_overrides(parser, args.options, PolicyOptions, "options")
    options = replace(PolicyOptions(), **overrides)
    batch = dataclass_overrides(parser, args.batch, BatchOptions, "--batch")
    if batch and args.engine != "batched":
        parser.error("--batch needs --engine batched")
    if args.first_order < 0:
        parser.error("--first-order must be >= 0")
    info = resolve_asr(args.model)
    engine = (
        BatchedWhisperEngine(info, SEQUENTIAL, BatchOptions(**batch))
        if args.engine == "batched"
        else WhisperEngine(info, SEQUENTIAL)
    )
    pauses = [float(p) for p in args.pauses.split(",")]
    runs = []
    for order, clips in numbered_orders(clean_english(), args.orders, args.first_order):
        for pause in pauses:
            suffix = f"-o{order}" if order else ""
            stream = build_stream(clips, pause_s=pause, name=f"clean-en-{pause:g}{suffix}")
            decodes, events = replay_events(engine, stream.audio, options)
            finals = [e for _, e in events if isinstance(e, Final)]
            text = " ".join(f.text for f in finals)
            # The whole stream (> 30 s) takes faster-whisper's long-form path in either engine.
            offline_result = transcribe_audio(engine, stream.audio, "en")
            offline = offline_result.text
            errors, words = word_errors(stream.reference, text)
            per_clip = zip(
                score_clips([TimedWord(w.text, w.start, w.end) for f in finals for w in f.words],
                            stream.offsets),
                score_clips([TimedWord(w.text, w.start, w.end) for w in offline_result.words],
                            stream.offsets),
                strict=True,
            )
            runs.append({
                "order": order, "pause_s": pause, "audio_s": round(stream.duration_s, 1),
                "decodes": decodes, "words": words, "streaming_errors": errors,
                "streaming_wer": round(errors / max(words, 1), 4),  # as `wer` divides
                "offline_wer": round(wer(stream.reference, offline), 4),
                # Which kind of error streaming adds: mishearing (sub) or losing speech (del).
                "streaming_kinds": error_kinds(stream.reference, text),
                "offline_kinds": error_kinds(stream.reference, offline),
                # Per clip (words assigned by time): [streaming errors, offline errors, words].
                "clips": {a.clip_id: [a.errors, b.errors, a.words] for a, b in per_clip},
            })
            print(json.dumps(runs[-1]), flush=True)
    streaming = float(np.mean([r["streaming_wer"] for r in runs]))
    offline_wer = float(np.mean([r["offline_wer"] for r in runs]))
    print(json.dumps({
        "model": args.model, "engine": args.engine, "batch": batch, "options": overrides,
        "layouts": len(runs), "streaming_wer": round(streaming, 4),
        "offline_wer": round(offline_wer, 4),
        "ratio": round(streaming / offline_wer, 3) if offline_wer else None,
        # Streaming against offline, paired bootstrap over clips (errors summed over layouts).
        "bootstrap": clip_bootstrap(runs, runs, 0, 1),
    }))
    if base_runs is not None:
        print(json.dumps({"compare": str(args.compare), **paired_change(base_runs, runs),
                          "bootstrap": clip_bootstrap(runs, base_runs, 0, 0)}))
    return 0


def clip_bootstrap(
    runs: list[dict[str, Any]], base: list[dict[str, Any]], field_a: int, field_b: int
) -> dict[str, object] | None:
    """Paired bootstrap over clips of `runs`' column `field_a` against `base`'s `field_b`
    (0 streaming, 1 offline errors), each clip's errors and words summed over the layouts
    both have; None when the runs carry no per-clip counts (older output)."""
    by_layout = {(r["order"], r["pause_s"]): r for r in base if "clips" in r}
    totals: dict[str, list[int]] = {}
    for run in runs:
        other = by_layout.get((run["order"], run["pause_s"]))
        if other is None or "clips" not in run:
            continue
        for clip, counts in run["clips"].items():
            if clip in other["clips"]:
                t = totals.setdefault(clip, [0, 0, 0])
                t[0] += counts[field_a]
                t[1] += other["clips"][clip][field_b]
                t[2] += counts[2]
    if not totals:
        return None
    rows = list(totals.values())
    return compare([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]).as_dict()


def read_runs(path: Path) -> list[dict[str, Any]]:
    """The per-layout lines of a saved run (the summary line has no "order")."""
    lines = (json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip())
    return [r for r in lines if "order" in r]


def _errors(run: dict[str, Any], words: int) -> float:
    # Runs saved before "streaming_errors" existed give only the rate; a base written by
    # hand (figures from docs/benchmarks-log.md) may give only the count.
    if "streaming_errors" in run:
        return float(run["streaming_errors"])
    return float(run["streaming_wer"] * words)


def paired_change(base: list[dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-layout change in streaming errors against `base`, paired on (order, pause)."""
    by_layout = {(r["order"], r["pause_s"]): r for r in base}
    diffs = []
    for run in runs:
        before = by_layout.get((run["order"], run["pause_s"]))
        if before is None:
            continue
        words = run.get("words", 0)
        diffs.append(round(_errors(run, words) - _errors(before, words), 1))
    n = len(diffs)
    mean = sum(diffs) / n if n else 0.0
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else 0.0
    t = mean / (sd / math.sqrt(n)) if n > 1 and sd > 0 else None
    return {
        "layouts": n, "per_layout": diffs, "total": round(sum(diffs), 1),
        "mean": round(mean, 2), "sd": round(sd, 2), "t": None if t is None else round(t, 2),
    }


def replay_events(
    engine: WhisperEngine | BatchedWhisperEngine, stream_audio: np.ndarray, options: PolicyOptions
) -> tuple[int, list[tuple[float, PolicyEvent]]]:
    """Stream `stream_audio` (then 1 s of silence) through the policy; (decodes, every event
    but `Decoded` with the stream time it came out at: the end of the frame after which it
    was drained, decodes taking no stream time)."""
    audio = np.concatenate([stream_audio, np.zeros(16000, np.float32)])
    policy = StreamingTranscriber(VadStream(SileroVadModel()), options, language="en")
    events: list[tuple[float, PolicyEvent]] = []
    decodes = 0

    def drain(now: float) -> None:
        nonlocal decodes
        while (req := policy.next_request(now)) is not None:
            policy.on_result(req, engine.transcribe(req).result, now)
            decodes += 1
        events.extend((now, e) for e in policy.events() if not isinstance(e, Decoded))

    for i in range(0, audio.size, 1600):
        policy.feed(audio[i : i + 1600], i / 16000)
        drain((i + min(1600, audio.size - i)) / 16000)
    policy.close(audio.size / 16000)
    drain(audio.size / 16000)
    return decodes, events


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.policy_replay"))
