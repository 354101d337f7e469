"""Confidence intervals for word error rates: a paired bootstrap over clips.

A WER pooled over a set (errors summed over reference words summed) moves by chance with the
clips that happen to be in it. The bootstrap draws the clips again, with replacement, many
times, recomputes the statistic on each draw, and reports the middle 95 % of the draws
(percentile interval). Paired: both systems are scored on the same drawn clips, so the
variation the two share (hard clips are hard for both) cancels out of their difference and
ratio, and what is left is the change itself.

    from benchmarks.stats import compare, wer_interval
    ci = wer_interval(errors, words)                  # one system: WER and its 95 % CI
    cmp = compare(errors_variant, errors_main, words)  # variant - main, variant / main
    cmp.changed                                       # the difference's CI excludes 0

Deterministic: a fixed seed (and draws made in fixed-size batches) give the same interval
for the same data on every machine. numpy's `Generator` is used directly; scipy's
`bootstrap` would do the same for one statistic but not the paired ratio of sums without
a wrapper as long as this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RESAMPLES = 10_000
CONFIDENCE = 0.95
SEED = 35
_BATCH = 1000


@dataclass(frozen=True)
class Interval:
    """A statistic and its bootstrap confidence interval."""

    value: float
    low: float
    high: float

    def excludes(self, point: float) -> bool:
        return point < self.low or point > self.high

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        return {"value": round(self.value, digits), "low": round(self.low, digits),
                "high": round(self.high, digits)}

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass(frozen=True)
class Comparison:
    """System A against system B on the same clips (A - B and A / B of the pooled WER)."""

    wer_a: Interval
    wer_b: Interval
    difference: Interval  # WER A - WER B
    ratio: Interval  # WER A / WER B
    clips: int
    words: int

    @property
    def changed(self) -> bool:
        """The difference's interval excludes no change (0)."""
        return self.difference.excludes(0.0)

    def as_dict(self) -> dict[str, object]:
        return {"wer_a": self.wer_a.as_dict(), "wer_b": self.wer_b.as_dict(),
                "difference": self.difference.as_dict(), "ratio": self.ratio.as_dict(3),
                "changed": self.changed, "clips": self.clips, "words": self.words}


def _arrays(*columns: Sequence[float]) -> list[npt.NDArray[np.float64]]:
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    n = arrays[0].size
    if n == 0:
        raise ValueError("a bootstrap needs at least one clip")
    if any(a.shape != (n,) for a in arrays):
        raise ValueError("errors and words must be flat sequences of the same length")
    if float(arrays[-1].sum()) <= 0:
        raise ValueError("the clips hold no reference words")
    return arrays


def _draws(n: int, resamples: int, seed: int) -> list[npt.NDArray[np.intp]]:
    """Index draws (resamples x n, in batches to bound memory), the same for a given seed."""
    rng = np.random.default_rng(seed)
    out = []
    left = resamples
    while left > 0:
        size = min(_BATCH, left)
        out.append(rng.integers(0, n, size=(size, n)))
        left -= size
    return out


def _interval(value: float, samples: npt.NDArray[np.float64], confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2 * 100
    # A ratio over a draw where B made no error is infinite; interpolating between two
    # infinities is undefined (NaN), so such samples take the nearest drawn value instead.
    q = [tail, 100 - tail]
    if np.isfinite(samples).all():
        low, high = np.percentile(samples, q)
    else:
        low, high = np.percentile(samples, q, method="inverted_cdf")
    return Interval(value, float(low), float(high))


def wer_interval(
    errors: Sequence[float], words: Sequence[float], *, resamples: int = RESAMPLES,
    seed: int = SEED, confidence: float = CONFIDENCE,
) -> Interval:
    """Pooled WER (sum of errors / sum of words) of per-clip counts, with its CI."""
    err, ref = _arrays(errors, words)
    samples = [err[idx].sum(axis=1) / np.maximum(ref[idx].sum(axis=1), 1.0)
               for idx in _draws(err.size, resamples, seed)]
    return _interval(float(err.sum() / ref.sum()), np.concatenate(samples), confidence)


def compare(
    errors_a: Sequence[float], errors_b: Sequence[float], words: Sequence[float], *,
    resamples: int = RESAMPLES, seed: int = SEED, confidence: float = CONFIDENCE,
) -> Comparison:
    """Paired bootstrap of system A against B: per-clip errors of each, per-clip words."""
    a, b, ref = _arrays(errors_a, errors_b, words)
    diffs, ratios, wa, wb = [], [], [], []
    for idx in _draws(a.size, resamples, seed):
        total = np.maximum(ref[idx].sum(axis=1), 1.0)
        ea, eb = a[idx].sum(axis=1), b[idx].sum(axis=1)
        wa.append(ea / total)
        wb.append(eb / total)
        diffs.append((ea - eb) / total)
        # A draw where B made no error at all has no ratio; it counts as "A no better".
        ratios.append(np.where(eb > 0, ea / np.maximum(eb, 1e-12),
                               np.where(ea > 0, np.inf, 1.0)))
    words_total = float(ref.sum())
    value_a, value_b = float(a.sum()) / words_total, float(b.sum()) / words_total
    ratio = value_a / value_b if value_b > 0 else (float("inf") if value_a > 0 else 1.0)
    return Comparison(
        wer_a=_interval(value_a, np.concatenate(wa), confidence),
        wer_b=_interval(value_b, np.concatenate(wb), confidence),
        difference=_interval(value_a - value_b, np.concatenate(diffs), confidence),
        ratio=_interval(ratio, np.concatenate(ratios), confidence),
        clips=int(a.size),
        words=int(words_total),
    )
