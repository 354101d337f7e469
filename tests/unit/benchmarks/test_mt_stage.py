"""Normalized erasure on hand-built sequences, and the real-time driver with a scripted model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from benchmarks.mt_stage import (
    erasure,
    flicker,
    incremental_runs,
    normalized_erasure,
    paired_difference,
    reveal_steps,
    units,
)
from server.mt.incremental import IncrementalOptions
from server.mt.requests import TranslationRequest, TranslationResult


def test_growing_text_erases_nothing() -> None:
    assert erasure(["I", "I went", "I went home"], "en") == (0, 0, 3)
    assert normalized_erasure([["I", "I went", "I went home"]], "en") == {
        "ne": 0.0, "ne_chars": 0.0, "ne_partials": 0.0}


def test_each_step_erases_what_follows_the_common_prefix() -> None:
    # "I go" -> "I went": "go" erased (1 word, 2 characters after "I ")
    # "I went" -> "I went home": nothing; "I went home" -> "We went home": all 3 words
    shown = ["I go", "I went", "I went home", "We went home"]
    assert erasure(shown, "en") == (1 + 0 + 3, 2 + 0 + 11, 3)
    assert normalized_erasure([shown], "en") == {"ne": round(4 / 3, 4),
                                                 "ne_chars": round(13 / 12, 4),
                                                 "ne_partials": round(1 / 3, 4)}


def test_languages_without_spaces_count_characters() -> None:
    assert units("我们 去了", "zh") == ["我", "们", "去", "了"]
    # 我们 -> 我门去: 1 erased; 我门去 -> 我们去了: 2 erased; final 4 characters
    assert erasure(["我们", "我门去", "我们去了"], "zh") == (3, 3, 4)


def test_the_corpus_is_normalized_by_all_finals_together() -> None:
    runs = [["a b", "a c"], ["x y z w"]]  # 1 word erased over 2 + 4 final words
    assert normalized_erasure(runs, "en")["ne"] == round(1 / 6, 4)
    assert normalized_erasure([[""]], "en")["ne"] is None
    assert normalized_erasure([], "en") == {"ne": None, "ne_chars": None, "ne_partials": None}


def test_a_recognizer_reveals_characters_or_words() -> None:
    assert reveal_steps("我们今天去", "zh") == ["我们", "我们今天", "我们今天去"]
    assert reveal_steps("we go now", "en") == ["we", "we go", "we go now"]


class Slow:
    """One output word per source word, after `delay_s` per call (a model's time)."""

    name = "slow"
    supported_pairs = (("en", "de"),)

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls: list[bool] = []

    def covers(self, source: str, target: str) -> bool:
        return (source, target) in self.supported_pairs

    def translate_batch(self, requests: Sequence[TranslationRequest]) -> list[TranslationResult]:
        time.sleep(self.delay_s)
        self.calls.extend(r.target_prefix is not None for r in requests)
        out = []
        for r in requests:
            words = [w.upper() for w in r.text.split()]
            out.append(TranslationResult(" ".join(words), len(words)))
        return out


def test_runs_record_partials_finals_and_the_final_lag() -> None:
    model = Slow(0.02)
    variants = {"on": IncrementalOptions(partial_interval_s=0.05),
                "off": IncrementalOptions(partials=False)}
    runs = asyncio.run(incremental_runs(
        model, ["one two three four five six"], ("en", "de"), variants, step_s=0.1))
    for name, partials in (("on", True), ("off", False)):
        (run,) = runs[name]
        assert run.final == "ONE TWO THREE FOUR FIVE SIX" and run.shown[-1] == run.final
        assert run.stable[-1] == run.final and len(run.stable) == len(run.shown)
        assert (len(run.shown) > 1) is partials
        assert run.final_lag_s is not None and 0.0 <= run.final_lag_s < 2.0
    assert runs["off"][0].final_lag_s >= 0.02  # its own model call
    summary = flicker(runs["on"], "de", variants["on"])
    assert summary["final_lag_s"]["n"] == 1 and summary["ne"] is not None
    assert flicker(runs["off"], "de", variants["off"])["ne_stable"] is None


def test_a_paired_difference_has_a_bootstrap_interval() -> None:
    diff = paired_difference([1.0, 2.0, 3.0, 4.0], [0.5, 1.5, 2.5, 3.5])
    assert diff == {"mean": 0.5, "ci95": [0.5, 0.5], "n": 4}
    noisy = paired_difference([1.0, 0.0, 1.0, 0.0, 2.0], [0.0] * 5)
    assert noisy["ci95"][0] < noisy["mean"] < noisy["ci95"][1]
