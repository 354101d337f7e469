"""Translation stage: throughput of Parley's scheduler vs a bare loop; partial flicker.

Throughput (target tokens per second, same model, same sentences, same process):
- `bare_loop`: `translate_batch([one request])` per sentence, one after another: what a
  server without a scheduler does per request;
- `bare_batch16`: `translate_batch` on 16 sentences at once: the batching ceiling;
- `scheduler_c{N}`: N concurrent clients each awaiting `TranslationScheduler.translate`
  (priority final) for their share of the sentences: Parley's path.

Flicker: each sentence is revealed as a recognizer would (2 characters per 0.3 s of
simulated time) to Parley's incremental translator (`server.mt.incremental`), which
issues rate-limited partial requests (reusing the previous partial as target prefix)
and one final request; translations are computed by the same model. Flicker =
characters a reader sees erased across the successive partial translations and the
final, per character of the final translation. Agreement = share of final translations
identical to the offline translation of the same final text (and their chrF).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.measure import erased_chars
from server.mt.incremental import IncrementalOptions, IncrementalTranslator
from server.mt.requests import TranslationRequest, TranslationResult
from server.mt.scheduler import TranslationScheduler
from server.mt.translator import Translator, TranslatorOptions


def load_translator(spec: str) -> Translator:
    from server.models.resolve import resolve_mt

    return Translator(resolve_mt(spec), TranslatorOptions())


def _requests(sentences: Sequence[str], passes: int) -> list[TranslationRequest]:
    return [TranslationRequest(s, "zh", "en") for _ in range(passes) for s in sentences]


def bare_loop(tr: Translator, reqs: list[TranslationRequest]) -> dict[str, float]:
    t0 = time.perf_counter()
    tokens = sum(tr.translate_batch([r])[0].tokens for r in reqs)
    wall = time.perf_counter() - t0
    return {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 1)}


def bare_batched(tr: Translator, reqs: list[TranslationRequest], size: int = 16
                 ) -> dict[str, float]:
    t0 = time.perf_counter()
    tokens = 0
    for i in range(0, len(reqs), size):
        tokens += sum(r.tokens for r in tr.translate_batch(reqs[i: i + size]))
    wall = time.perf_counter() - t0
    return {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 1)}


async def _scheduled(tr: Translator, reqs: list[TranslationRequest], clients: int
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


def scheduled(tr: Translator, reqs: list[TranslationRequest], clients: int) -> dict[str, float]:
    return asyncio.run(_scheduled(tr, reqs, clients))


def flicker_one(tr: Translator, sentence: str, reuse_prefix: bool,
                chars_per_step: int = 2, step_s: float = 0.3) -> tuple[list[str], str]:
    """Reveal `sentence` step by step; returns (partial translations shown, final translation)."""
    stream = IncrementalTranslator("zh", "en", IncrementalOptions(reuse_prefix=reuse_prefix))
    shown: list[str] = []
    final = ""
    now = 0.0

    def drain() -> None:
        nonlocal final
        while (req := stream.next_request(now)) is not None:
            result: TranslationResult = tr.translate_batch([req])[0]
            for ev in stream.on_result(req, result, now):
                if ev.final:
                    final = ev.text
                else:
                    shown.append(ev.text)

    for end in range(chars_per_step, len(sentence) + chars_per_step, chars_per_step):
        now += step_s
        stream.on_partial(sentence[:end], now)
        drain()
    now += step_s
    stream.on_final(0, sentence, True, now)
    drain()
    return shown, final


def flicker(tr: Translator, sentences: Sequence[str], reuse_prefix: bool) -> dict[str, Any]:
    erased = 0
    final_chars = 0
    partials = 0
    finals: list[str] = []
    for s in sentences:
        shown, final = flicker_one(tr, s, reuse_prefix)
        seq = [*shown, final]
        erased += sum(erased_chars(a, b) for a, b in itertools.pairwise(seq))
        final_chars += len(final)
        partials += len(shown)
        finals.append(final)
    return {
        "erased_per_final_char": round(erased / final_chars, 4) if final_chars else None,
        "partials_per_sentence": round(partials / len(sentences), 2),
        "finals": finals,
    }


def run_mt_stage(spec: str, sentences: Sequence[str], passes: int = 3,
                 clients: Sequence[int] = (1, 8)) -> dict[str, Any]:
    import sacrebleu

    tr = load_translator(spec)
    tr.translate_batch(_requests(sentences[:4], 1))  # warm-up
    reqs = _requests(sentences, passes)
    out: dict[str, Any] = {"model": spec, "sentences": len(sentences), "passes": passes}
    out["bare_loop"] = bare_loop(tr, reqs)
    out["bare_batch16"] = bare_batched(tr, reqs)
    for c in clients:
        out[f"scheduler_c{c}"] = scheduled(tr, reqs, c)
    base = out["bare_loop"]["tokens_per_s"]
    out["ratios_vs_bare_loop"] = {
        k: round(v["tokens_per_s"] / base, 2) for k, v in out.items()
        if isinstance(v, dict) and "tokens_per_s" in v
    }
    offline = [r.text for r in tr.translate_batch(_requests(sentences, 1))]
    with_prefix = flicker(tr, sentences, reuse_prefix=True)
    without = flicker(tr, sentences, reuse_prefix=False)
    finals = with_prefix.pop("finals")
    without.pop("finals")
    out["flicker"] = {"parley": with_prefix, "no_prefix_reuse": without}
    out["agreement"] = {
        "exact": round(sum(a == b for a, b in zip(finals, offline, strict=True)) / len(finals), 3),
        "chrf": round(sacrebleu.corpus_chrf(finals, [offline]).score, 2),
    }
    return out
