"""Micro-benchmark of the recognition engines on real speech: one model, many sessions.

    python -m benchmarks.asr_engine [--model tiny.en] [--threads 2] [--runs 3] [--clips 0]
                                    [--sections window,batch,align,prompt,workers]

Prints Markdown tables. Speech: every English clip of 2-8 s (LibriVox + MFA corpus,
`benchmarks.data.english_clips`); each clip's prompt is the reference text of the clip
before it (a stream of those clips would have it as recent committed text). Times are the
median over `--runs` runs of the mean per call; "cpu ms" is process CPU time per call,
less disturbed than wall time when other work shares the cores. WER is scored once
(greedy decoding is deterministic), normalized (benchmarks.data.normalize_en).

1. window: faster-whisper's `WhisperModel.transcribe` (30 s window) vs BatchedWhisperEngine
   with batch 1 and several window policies (fixed 5 / 10 / 15 s, buckets), with and
   without the 30 s retry of looping decodes.
2. batch: batches of 1, 2, 4, 8 different clips with different prompts: wall time per batch
   and per request, and the throughput gain over the same requests decoded one by one.
3. align: word timestamps (cross-attention alignment) vs none, batch 1 and 8.
4. prompt: how prompts of different lengths share a call (bucket / group / truncate).
5. workers: parallel model calls on one model (`AsrOptions.workers`, CTranslate2 replicas)
   x threads per call, for both engines: one call alone (a single session's latency) and
   as many concurrent callers as workers (throughput), against 1 worker x CTranslate2's
   default threads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from benchmarks.data import english_clips, load_audio_16k, wer
from server.asr.batched import BatchedWhisperEngine, BatchOptions
from server.asr.whisper import AsrOptions, WhisperEngine
from server.models.resolve import resolve_asr
from server.models.types import AsrModelInfo
from server.streaming.events import AsrRequest
from server.streaming.words import join_words

SR = 16000


@dataclass(frozen=True)
class Item:
    id: str
    audio: np.ndarray
    reference: str
    prompt: str

    @property
    def seconds(self) -> float:
        return len(self.audio) / SR

    def request(self, index: int) -> AsrRequest:
        return AsrRequest(index, self.audio, 0.0, self.seconds, self.prompt, "en", False)


def load_items(min_s: float, max_s: float, limit: int) -> list[Item]:
    clips = english_clips()
    items: list[Item] = []
    previous = ""
    for clip in clips:
        audio = load_audio_16k(clip.path)
        if min_s <= len(audio) / SR <= max_s:
            items.append(Item(clip.id, audio, clip.text, previous))
        previous = clip.text
    return items[:limit] if limit else items


@dataclass
class Timing:
    wall_ms: float
    cpu_ms: float


def timed(fn: Callable[[], object], calls: int, runs: int) -> Timing:
    """Median over runs of (wall, cpu) ms per call."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - w0) * 1000 / calls)
        cpus.append((time.process_time() - c0) * 1000 / calls)
    return Timing(statistics.median(walls), statistics.median(cpus))


def run_batches(
    eng: BatchedWhisperEngine, groups: list[list[AsrRequest]], words: bool = True
) -> Callable[[], object]:
    return lambda: [eng.transcribe_batch(g, word_timestamps=words) for g in groups]


def run_single(eng: WhisperEngine, reqs: list[AsrRequest]) -> Callable[[], object]:
    return lambda: [eng.transcribe(r) for r in reqs]


def text_of(words: Sequence[object]) -> str:
    return join_words(list(words))  # type: ignore[arg-type]


def section_window(
    items: list[Item],
    plain: WhisperEngine,
    engines: list[tuple[str, BatchedWhisperEngine]],
    runs: int,
) -> None:
    print(f"\n### 1. Window length, batch 1 ({len(items)} clips of 2-8 s, {runs} runs)\n")
    print("| engine | window | WER | wall ms/call | cpu ms/call | retried |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    refs = [it.reference for it in items]
    reqs = [it.request(i) for i, it in enumerate(items)]
    hyps = [text_of(plain.transcribe(it.request(i)).result.words) for i, it in enumerate(items)]
    t = timed(run_single(plain, reqs), len(items), runs)
    print(
        f"| faster-whisper transcribe | 30 s | {wer(refs, hyps):.3f} | {t.wall_ms:.0f} | {t.cpu_ms:.0f} | - |"
    )
    for label, eng in engines:
        before = eng.stats["retries"]
        hyps = [text_of(eng.transcribe(it.request(i)).result.words) for i, it in enumerate(items)]
        retried = eng.stats["retries"] - before
        t = timed(
            run_single(eng, reqs),
            len(items),
            runs,
        )
        opts = eng.batch_opts
        window = (
            "/".join(f"{b:g}" for b in opts.window_buckets_s)
            + f" s, margin {opts.window_margin_s:g}"
        )
        print(
            f"| {label} | {window} | {wer(refs, hyps):.3f} | {t.wall_ms:.0f} | {t.cpu_ms:.0f} "
            f"| {retried}/{len(items)} |"
        )


def batches_of(items: list[Item], size: int) -> list[list[AsrRequest]]:
    """Full batches only: the last `len(items) % size` clips are left out, so WER columns
    of different batch sizes cover slightly different clips."""
    reqs = [it.request(i) for i, it in enumerate(items)]
    return [reqs[k : k + size] for k in range(0, len(reqs) - size + 1, size)]


def section_batch(
    items: list[Item],
    engines: list[tuple[str, BatchedWhisperEngine]],
    plain: WhisperEngine,
    runs: int,
) -> None:
    print(f"\n### 2. Batching ({len(items)} clips of 2-8 s, different prompts, {runs} runs)\n")
    print(
        "| engine | batch | wall ms/batch | wall ms/request | cpu ms/request "
        "| throughput vs batch 1 | vs faster-whisper sequential | WER |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    reqs_all = [it.request(i) for i, it in enumerate(items)]
    ref_by_id = {i: it.reference for i, it in enumerate(items)}
    t_plain = timed(run_single(plain, reqs_all), len(reqs_all), runs)
    base: float | None = None
    for label, eng in engines:
        for size in (1, 2, 4, 8) if label.endswith("(default)") else (8,):
            groups = batches_of(items, size)
            n = sum(len(g) for g in groups)
            out = [d for g in groups for d in eng.transcribe_batch(g)]
            ids = [r.id for g in groups for r in g]
            err = wer([ref_by_id[i] for i in ids], [text_of(d.result.words) for d in out])
            t = timed(run_batches(eng, groups), n, runs)
            base = base or t.wall_ms
            print(
                f"| {label} | {size} | {t.wall_ms * size:.0f} | {t.wall_ms:.0f} | {t.cpu_ms:.0f} "
                f"| {base / t.wall_ms:.2f}x | {t_plain.wall_ms / t.wall_ms:.2f}x | {err:.3f} |"
            )
    print(
        f"\nfaster-whisper transcribe, sequential: {t_plain.wall_ms:.0f} ms/request "
        f"(cpu {t_plain.cpu_ms:.0f})."
    )


def section_align(items: list[Item], eng: BatchedWhisperEngine, runs: int) -> None:
    print(f"\n### 3. Word timestamps (align) cost ({runs} runs)\n")
    print("| batch | with words ms/request | without ms/request | align share |")
    print("| ---: | ---: | ---: | ---: |")
    for size in (1, 8):
        groups = batches_of(items, size)
        n = sum(len(g) for g in groups)
        with_w = timed(run_batches(eng, groups), n, runs)
        without = timed(run_batches(eng, groups, False), n, runs)
        share = (with_w.wall_ms - without.wall_ms) / with_w.wall_ms
        print(f"| {size} | {with_w.wall_ms:.0f} | {without.wall_ms:.0f} | {share:.0%} |")


def section_prompt(items: list[Item], engines: dict[str, BatchedWhisperEngine], runs: int) -> None:
    print(f"\n### 4. Prompts of different lengths in one batch of 8 ({runs} runs)\n")
    print("| prompt fit | generate calls/batch | wall ms/request | WER |")
    print("| --- | ---: | ---: | ---: |")
    groups = batches_of(items, 8)
    n = sum(len(g) for g in groups)
    ref_by_id = {i: it.reference for i, it in enumerate(items)}
    for label, eng in engines.items():
        out = [d for g in groups for d in eng.transcribe_batch(g)]
        ids = [r.id for g in groups for r in g]
        err = wer([ref_by_id[i] for i in ids], [text_of(d.result.words) for d in out])
        calls0 = eng.stats["generates"]
        t = timed(run_batches(eng, groups), n, runs)
        per_batch = (eng.stats["generates"] - calls0) / (runs * len(groups))
        print(f"| {label} | {per_batch:.1f} | {t.wall_ms:.0f} | {err:.3f} |")


#: (workers, threads per call) compared by section 5; the first (threads 0: CTranslate2's
#: default, 4) is the baseline.
WORKER_CONFIGS = ((1, 0), (1, 1), (1, 2), (2, 1), (2, 2))


def run_parallel(eng: WhisperEngine, reqs: list[AsrRequest], callers: int) -> Callable[[], object]:
    """Every request, `callers` at a time from as many threads (sessions on the scheduler)."""

    def run() -> object:
        with ThreadPoolExecutor(callers) as pool:
            return list(pool.map(eng.transcribe, reqs))

    return run


def section_workers(items: list[Item], model: AsrModelInfo, runs: int) -> None:
    print(f"\n### 5. Parallel workers on one model ({len(items)} clips of 2-8 s, {runs} runs)\n")
    print("| engine | workers x threads | alone ms/request | vs baseline "
          "| all workers busy ms/request | throughput vs baseline |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    reqs = [it.request(i) for i, it in enumerate(items)]
    for kind, cls in (("whisper", WhisperEngine), ("batched", BatchedWhisperEngine)):
        base: tuple[float, float] | None = None
        for workers, threads in WORKER_CONFIGS:
            eng = cls(model, AsrOptions(cpu_threads=threads, workers=workers))
            eng.transcribe(reqs[0])
            alone = timed(run_single(eng, reqs), len(reqs), runs).wall_ms
            busy = timed(run_parallel(eng, reqs, workers), len(reqs), runs).wall_ms
            base = base or (alone, busy)
            print(f"| {kind} | {workers} x {threads} | {alone:.0f} | {base[0] / alone:.2f}x "
                  f"| {busy:.0f} | {base[1] / busy:.2f}x |")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="tiny.en", help="model name or directory (resolve_asr)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clips", type=int, default=0, help="use only the first N clips (0: all)")
    ap.add_argument("--sections", default="window,batch,align,prompt,workers")
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))

    info = resolve_asr(args.model)
    asr = AsrOptions(cpu_threads=args.threads, workers=1)
    items = load_items(2.0, 8.0, args.clips)
    print(f"## ASR engine micro-benchmark: {info.name}, int8, {args.threads} threads, greedy\n")
    print(f"{len(items)} clips, {sum(it.seconds for it in items):.0f} s of speech.")
    plain = WhisperEngine(info, asr)
    default = BatchedWhisperEngine(info, asr)
    default.transcribe_batch([items[0].request(0)])  # load and warm up

    def engine(**kw: object) -> BatchedWhisperEngine:
        eng = BatchedWhisperEngine(info, asr, BatchOptions(**kw))  # type: ignore[arg-type]
        eng.transcribe(items[0].request(0))
        return eng

    if "window" in sections:
        section_window(
            items,
            plain,
            [
                ("batched", engine(window_buckets_s=(30.0,))),
                (
                    "batched, no retry",
                    engine(
                        window_buckets_s=(5.0, 10.0),
                        window_margin_s=0.5,
                        retry_on_full_window=False,
                    ),
                ),
                ("batched, retry", engine(window_buckets_s=(5.0, 10.0), window_margin_s=0.5)),
                (
                    "batched, no retry",
                    engine(
                        window_buckets_s=(10.0,), window_margin_s=0.0, retry_on_full_window=False
                    ),
                ),
                ("batched, retry", engine(window_buckets_s=(10.0,), window_margin_s=0.0)),
                (
                    "batched, no retry",
                    engine(
                        window_buckets_s=(15.0,), window_margin_s=0.0, retry_on_full_window=False
                    ),
                ),
                ("batched, retry", engine(window_buckets_s=(15.0,), window_margin_s=0.0)),
                ("batched (default)", default),
            ],
            args.runs,
        )
    if "batch" in sections:
        section_batch(
            items,
            [
                ("batched (default)", default),
                ("one window for the batch", engine(shared_window=True)),
                ("encode 8 rows at once", engine(encode_batch=8)),
            ],
            plain,
            args.runs,
        )
    if "align" in sections:
        section_align(items, default, args.runs)
    if "workers" in sections:
        section_workers(items, info, args.runs)
    if "prompt" in sections:
        section_prompt(
            items,
            {
                "group (default)": default,
                "bucket (length classes)": engine(prompt_fit="bucket"),
                "truncate to shortest": engine(prompt_fit="truncate"),
            },
            args.runs,
        )
    return 0


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.asr_engine"))
