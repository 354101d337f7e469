"""Translation stage: throughput against a bare loop; flicker (NE) and final lag of partials.

    python -m benchmarks.mt_stage --mt-model zh-en            # the Chinese sentences
    python -m benchmarks.mt_stage --mt-model zh-en --sentences 8 --out mt.json

Throughput (target tokens per second, same model, same sentences, same process):
- `bare_loop`: `translate_batch([one request])` per sentence, one after another: what a
  server without a scheduler does per request;
- `bare_batch16`: `translate_batch` on 16 sentences at once: the batching ceiling;
- `scheduler_c{N}`: N concurrent clients each awaiting `TranslationScheduler.translate`
  (priority final) for their share of the sentences: Parley's path. Goal: c1 within
  10 % of `bare_loop`.

Flicker and lag, in real time through Parley's path: each sentence is revealed as a
recognizer would (2 characters, or 1 word, per 0.3 s) to Parley's incremental
translator (`server.mt.incremental`), whose requests go through the real
`TranslationScheduler` (partials rate-limited, reusing the previous partial as target
prefix; the final translated once when the sentence ends). Measured:
- normalized erasure, NE (Arivazhagan et al. 2020, "Re-translation strategies for long
  form, simultaneous, spoken language translation"): the units a reader sees erased
  across the successive partial translations and the final (each step erases what
  follows the common prefix of two successive texts), summed over the corpus, per unit
  of the final translations. Units: words (characters for targets written without
  spaces) as `ne`, and characters as `ne_chars`. Goal: NE <= 0.2 with partials on;
- final lag: from the end of the sentence's final transcript (`on_final`) to its final
  translation: the model time of the final plus any wait behind a partial in flight.
  p50 / p90; goal p90 <= 0.3 s for zh->en on 2 cores;
also without prefix reuse, without a final taking the result of a partial that was
the whole sentence (`IncrementalOptions.reuse_complete`), and with partials off.
Agreement: final translations against the offline translation of the same text
(exact share, chrF, BLEU); against human references where given (chrF, BLEU).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.measure import erased_chars, summary
from server.errors import ParleyError
from server.mt.incremental import (
    IncrementalOptions,
    IncrementalTranslator,
    StreamRequest,
    TranslationEvent,
)
from server.mt.requests import TranslationRequest
from server.mt.scheduler import BatchTranslator, Dropped, TranslationScheduler
from server.mt.sentences import uses_spaces
from server.mt.translator import Translator, TranslatorOptions


def load_translator(spec: str) -> Translator:
    from server.models.resolve import resolve_mt

    return Translator(resolve_mt(spec), TranslatorOptions())


# -- normalized erasure ------------------------------------------------------------------

def units(text: str, language: str) -> list[str]:
    """What NE counts: words, or characters for a language written without spaces."""
    return text.split() if uses_spaces(language) else [c for c in text if not c.isspace()]


def erased_units(before: Sequence[str], after: Sequence[str]) -> int:
    """Units of `before` a reader sees erased when it changes to `after` (past their
    common prefix)."""
    return erased_chars(before, after)


def erasure(shown: Sequence[str], language: str) -> tuple[int, int, int]:
    """(units erased, chars erased, units of the last text) over successive texts
    `shown` (the partial translations then the final)."""
    seqs = [units(s, language) for s in shown]
    erased = sum(erased_units(a, b) for a, b in itertools.pairwise(seqs))
    chars = sum(erased_chars(a, b) for a, b in itertools.pairwise(shown))
    return erased, chars, len(seqs[-1]) if seqs else 0


def normalized_erasure(runs: Sequence[Sequence[str]], language: str) -> dict[str, float | None]:
    """Corpus NE: erased units over every run / units of every final (None: no final text);
    `ne_partials`: the part erased between partials, before the final revises them."""
    totals = [erasure(shown, language) for shown in runs if shown]
    erased, chars, final = (sum(t[k] for t in totals) for k in range(3))
    before = sum(erasure(shown[:-1], language)[0] for shown in runs if shown)
    final_chars = sum(len(shown[-1]) for shown in runs if shown)
    return {"ne": round(erased / final, 4) if final else None,
            "ne_chars": round(chars / final_chars, 4) if final_chars else None,
            "ne_partials": round(before / final, 4) if final else None}


# -- throughput -------------------------------------------------------------------------

def _requests(sentences: Sequence[str], pair: tuple[str, str], passes: int
              ) -> list[TranslationRequest]:
    return [TranslationRequest(s, *pair) for _ in range(passes) for s in sentences]


def bare_loop(tr: BatchTranslator, reqs: list[TranslationRequest]) -> dict[str, float]:
    t0 = time.perf_counter()
    tokens = sum(tr.translate_batch([r])[0].tokens for r in reqs)
    wall = time.perf_counter() - t0
    return {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 1)}


def bare_batched(tr: BatchTranslator, reqs: list[TranslationRequest], size: int = 16
                 ) -> dict[str, float]:
    t0 = time.perf_counter()
    tokens = 0
    for i in range(0, len(reqs), size):
        tokens += sum(r.tokens for r in tr.translate_batch(reqs[i: i + size]))
    wall = time.perf_counter() - t0
    return {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 1)}


async def _scheduled(tr: BatchTranslator, reqs: list[TranslationRequest], clients: int
                     ) -> dict[str, float]:
    sched = TranslationScheduler(tr)
    await sched.start()
    tokens = 0

    async def client(k: int) -> None:
        nonlocal tokens
        for r in reqs[k::clients]:
            res = await sched.translate(r, priority="final")
            tokens += res.tokens

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    stats = sched.stats
    await sched.aclose()
    return {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 1),
            "batches": stats.batches, "largest_batch": stats.largest_batch}


def scheduled(tr: BatchTranslator, reqs: list[TranslationRequest], clients: int
              ) -> dict[str, float]:
    return asyncio.run(_scheduled(tr, reqs, clients))


# -- flicker and lag, in real time ------------------------------------------------------

@dataclass
class SentenceRun:
    """One sentence revealed to the incremental translator: what a reader saw, and when."""

    shown: list[str] = field(default_factory=list)  # partial translations, then the final
    stable: list[str] = field(default_factory=list)  # their `stable` prefixes, then the final
    final: str = ""
    final_lag_s: float | None = None


class _Driver:
    """Drives one `IncrementalTranslator` against a scheduler as a session does
    (`server.session.translations` in `server.session.driver`):
    every request off to the scheduler, results back into the core, a timer for the
    rate-limited partial; no polling."""

    def __init__(self, stream: IncrementalTranslator, sched: TranslationScheduler,
                 run: SentenceRun) -> None:
        self.stream, self.sched, self.run = stream, sched, run
        self.final_at: float | None = None
        self.done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def pump(self) -> None:
        now = time.monotonic()
        while (req := self.stream.next_request(now)) is not None:
            task = asyncio.create_task(self._send(req))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        due = self.stream.next_deadline(now)
        if due is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, due - now), self._wake)

    def _wake(self) -> None:
        self._timer = None
        self.pump()

    async def _send(self, req: StreamRequest) -> None:
        try:
            result = await self.sched.translate(req, priority=req.priority)
        except (Dropped, ParleyError):
            events = self.stream.on_failed(req, time.monotonic())
        else:
            events = self.stream.on_result(req, result, time.monotonic())
        self.take(events)
        self.pump()

    def take(self, events: list[TranslationEvent]) -> None:
        for ev in events:
            self.run.shown.append(ev.text)
            self.run.stable.append(ev.stable)
            if ev.final:
                self.run.final = ev.text
                if self.final_at is not None:
                    self.run.final_lag_s = time.monotonic() - self.final_at
                self.done.set()

    async def finish(self) -> None:
        await self.done.wait()
        if self._timer is not None:
            self._timer.cancel()
        while self._tasks:  # a stale partial still in flight
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def reveal_steps(sentence: str, language: str) -> list[str]:
    """The growing transcript a recognizer shows: 2 characters, or 1 word, at a time."""
    if uses_spaces(language):
        words = sentence.split()
        return [" ".join(words[:n]) for n in range(1, len(words) + 1)]
    return [sentence[:n] for n in range(2, len(sentence) + 2, 2)]


async def _one_sentence(sched: TranslationScheduler, sentence: str, pair: tuple[str, str],
                        options: IncrementalOptions, step_s: float) -> SentenceRun:
    stream = IncrementalTranslator(*pair, options)
    run = SentenceRun()
    driver = _Driver(stream, sched, run)
    t0 = time.monotonic()
    steps = reveal_steps(sentence, pair[0]) if options.partials else []
    for k, text in enumerate(steps):
        await asyncio.sleep(max(0.0, t0 + k * step_s - time.monotonic()))
        stream.on_partial(text, time.monotonic())
        driver.pump()
    await asyncio.sleep(max(0.0, t0 + len(steps) * step_s - time.monotonic()))
    driver.final_at = time.monotonic()
    driver.take(stream.on_final(0, sentence, True, driver.final_at))
    driver.pump()
    await driver.finish()
    return run


async def incremental_runs(
    tr: BatchTranslator, sentences: Sequence[str], pair: tuple[str, str],
    variants: dict[str, IncrementalOptions], step_s: float = 0.3,
) -> dict[str, list[SentenceRun]]:
    """Each sentence revealed in real time (`step_s` per step) through Parley's path, once
    per variant, the variants one after another sentence by sentence: they see the same
    background load, so their lags compare sentence by sentence."""
    sched = TranslationScheduler(tr)
    await sched.start()
    runs: dict[str, list[SentenceRun]] = {name: [] for name in variants}
    try:
        for sentence in sentences:
            for name, options in variants.items():
                runs[name].append(await _one_sentence(sched, sentence, pair, options, step_s))
    finally:
        await sched.aclose()
    return runs


def flicker(runs: Sequence[SentenceRun], target: str, options: IncrementalOptions
            ) -> dict[str, Any]:
    lags = [r.final_lag_s for r in runs if r.final_lag_s is not None]
    ne = normalized_erasure([r.shown for r in runs], target)
    stable = normalized_erasure([r.stable for r in runs], target)
    promised = options.reuse_prefix and options.partials  # else `stable` is empty
    return {
        **ne,
        # NE of a reader shown only each partial's `stable` prefix
        "ne_stable": stable["ne"] if promised else None,
        "ne_stable_partials": stable["ne_partials"] if promised else None,
        # the same as `ne_chars` (the name earlier results used)
        "erased_per_final_char": ne["ne_chars"],
        "partials_per_sentence": round(sum(len(r.shown) - 1 for r in runs) / len(runs), 2),
        "final_lag_s": summary(lags),
    }


def paired_difference(a: Sequence[float], b: Sequence[float], resamples: int = 2000
                      ) -> dict[str, Any]:
    """Mean of a - b over paired values with a 95 % paired-bootstrap interval."""
    import random

    diffs = [x - y for x, y in zip(a, b, strict=True)]
    rng = random.Random(0)
    means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(resamples))
    return {"mean": round(sum(diffs) / len(diffs), 4),
            "ci95": [round(means[int(0.025 * resamples)], 4),
                     round(means[int(0.975 * resamples) - 1], 4)], "n": len(diffs)}


# -- the whole stage --------------------------------------------------------------------

def _scores(hypotheses: Sequence[str], references: Sequence[str], target: str
            ) -> dict[str, float]:
    import sacrebleu

    tokenize = "13a" if uses_spaces(target) else "zh"
    return {"chrf": round(sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score, 2),
            "bleu": round(sacrebleu.corpus_bleu(list(hypotheses), [list(references)],
                                                tokenize=tokenize).score, 2)}


def run_mt_stage(spec: str, sentences: Sequence[str], passes: int = 3,
                 clients: Sequence[int] = (1, 8), *, pair: tuple[str, str] | None = None,
                 references: Sequence[str] | None = None, step_s: float = 0.3,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    tr = load_translator(spec)
    pair = pair or tr.supported_pairs[0]
    say = progress or (lambda _: None)
    tr.translate_batch(_requests(sentences[:4], pair, 1))  # warm-up
    reqs = _requests(sentences, pair, passes)
    out: dict[str, Any] = {"model": spec, "family": tr.info.kind, "pair": "-".join(pair),
                           "sentences": len(sentences), "passes": passes}
    say("throughput")
    out["bare_loop"] = bare_loop(tr, reqs)
    out["bare_batch16"] = bare_batched(tr, reqs)
    for c in clients:
        out[f"scheduler_c{c}"] = scheduled(tr, reqs, c)
    base = out["bare_loop"]["tokens_per_s"]
    out["ratios_vs_bare_loop"] = {
        k: round(v["tokens_per_s"] / base, 2) for k, v in out.items()
        if isinstance(v, dict) and "tokens_per_s" in v
    }
    offline = [r.text for r in tr.translate_batch(_requests(sentences, pair, 1))]
    variants = {"parley": IncrementalOptions(),
                "no_final_reuse": IncrementalOptions(reuse_complete=False),
                "no_prefix_reuse": IncrementalOptions(reuse_prefix=False),
                "finals_only": IncrementalOptions(partials=False)}
    say("flicker and lag: " + ", ".join(variants))
    runs = asyncio.run(incremental_runs(tr, sentences, pair, variants, step_s))
    out["flicker"] = {name: flicker(runs[name], pair[1], variants[name]) for name in variants}
    finals = [r.final for r in runs["parley"]]

    def lags(name: str) -> list[float]:
        return [r.final_lag_s or 0.0 for r in runs[name]]

    out["final_lag_vs"] = {name: paired_difference(lags("parley"), lags(name))
                           for name in variants if name != "parley"}
    out["agreement"] = {
        "exact": round(sum(a == b for a, b in zip(finals, offline, strict=True)) / len(finals), 3),
        **_scores(finals, offline, pair[1]),
    }
    if references is not None:
        out["references"] = {"parley": _scores(finals, references, pair[1]),
                             "offline": _scores(offline, references, pair[1])}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mt_stage",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--mt-model", default="zh-en", help="a name, directory or repo id")
    parser.add_argument("--sentences", type=int, default=0,
                        help="the first N Chinese sentences (default: all)")
    parser.add_argument("--passes", type=int, default=3, help="throughput passes")
    parser.add_argument("--out", help="also write the results here (JSON)")
    args = parser.parse_args(argv)
    from benchmarks.mt_sentences import SENTENCES_ZH

    sentences = SENTENCES_ZH[: args.sentences or None]
    results = run_mt_stage(args.mt_model, sentences, args.passes,
                           progress=lambda s: print(f"mt_stage: {s}", file=sys.stderr))
    text = json.dumps(results, indent=1, ensure_ascii=False)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    from benchmarks.cli import guarded

    raise SystemExit(guarded(main, "python -m benchmarks.mt_stage"))
