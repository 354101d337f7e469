"""Where one decode of a streaming window spends its time, per engine.

    python -m benchmarks.decode_profile [--model tiny.en] [--clips 5] [--runs 2]

Decodes LibriVox clips (about 5 s each, the size of a streaming window) with the default
engine (`WhisperEngine`: faster-whisper's transcribe, 30 s encoder window) and the batched
engine (batch of one, short window; greedy, and with the beam of a decode alone) under
cProfile, and prints per stage the share of the wall time and the milliseconds per call.
Stages are the functions each engine calls for it: features, encoder, decoder (generate,
with its fallbacks), word alignment.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from collections.abc import Sequence

from benchmarks.data import english_clips, load_audio_16k
from server.asr.batched import BatchedWhisperEngine, BatchOptions
from server.asr.whisper import AsrOptions, WhisperEngine
from server.models.resolve import resolve_asr
from server.streaming.events import AsrRequest

#: (engine, stage) -> (file name, function name) whose cumulative time is the stage.
STAGES: dict[str, dict[str, tuple[str, str]]] = {
    "whisper": {
        "features": ("feature_extractor.py", "__call__"),
        "encoder": ("transcribe.py", "encode"),
        "decoder": ("transcribe.py", "generate_with_fallback"),
        "align": ("transcribe.py", "add_word_timestamps"),
    },
    "batched": {
        "features": ("features.py", "__call__"),
        "encoder": ("batched.py", "_encode"),
        "decode (encoder + decoder)": ("batched.py", "_decode"),
        "align": ("batched.py", "_word_timings"),
    },
}


def profile(engine: WhisperEngine, requests: Sequence[AsrRequest], runs: int) -> pstats.Stats:
    engine.transcribe(requests[0])  # warm up outside the profile
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(runs):
        for req in requests:
            engine.transcribe(req)
    prof.disable()
    return pstats.Stats(prof)


def stage_times(stats: pstats.Stats, stages: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Cumulative seconds of each stage's function (summed over same-named matches)."""
    out = dict.fromkeys(stages, 0.0)
    raw = stats.stats  # type: ignore[attr-defined]
    for (path, _line, func), (_cc, _nc, _tt, cumulative, _callers) in raw.items():
        for stage, (file, name) in stages.items():
            if func == name and path.endswith(file):
                out[stage] += cumulative
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode_profile")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--clips", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    clips = [c for c in english_clips() if c.id.startswith("librivox/")][: args.clips]
    audios = [load_audio_16k(c.path) for c in clips]
    requests = [AsrRequest(i, a, 0.0, a.size / 16000, "", "en", False) for i, a in enumerate(audios)]
    calls = len(requests) * args.runs
    info = resolve_asr(args.model)
    print(f"## Decode profile: {args.model}, {len(clips)} LibriVox clips "
          f"({sum(a.size for a in audios) / 16000 / len(audios):.1f} s on average), {calls} calls\n")
    print("| engine | stage | ms / call | share of wall |")
    print("| --- | --- | ---: | ---: |")
    one = AsrOptions(workers=1)  # one call at a time
    beam = BatchOptions().beam_size
    engines: list[tuple[str, str, WhisperEngine]] = [
        ("whisper", "whisper", WhisperEngine(info, one)),
        ("batched, greedy", "batched", BatchedWhisperEngine(info, one, BatchOptions(beam_size=1))),
    ]
    if beam > 1:  # a decode alone (the default)
        engines.append((f"batched, beam {beam}", "batched", BatchedWhisperEngine(info, one)))
    for name, kind, engine in engines:
        stats = profile(engine, requests, args.runs)
        total = stats.total_tt  # type: ignore[attr-defined]
        print(f"| {name} | total | {1000 * total / calls:.0f} | 100 % |")
        for stage, seconds in stage_times(stats, STAGES[kind]).items():
            print(f"| {name} | {stage} | {1000 * seconds / calls:.0f} | {100 * seconds / total:.0f} % |")
    return 0


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.decode_profile"))
