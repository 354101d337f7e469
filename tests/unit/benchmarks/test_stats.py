"""The paired bootstrap: known differences are found, identical systems are not."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stats import compare, wer_interval


def _clips(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    words = rng.integers(3, 20, size=n)
    errors = rng.binomial(words, 0.1)
    return errors, words


def test_a_real_difference_excludes_zero() -> None:
    base, words = _clips()
    worse = base + (np.arange(base.size) % 3 == 0)  # one more error on every third clip
    cmp = compare(worse, base, words)
    assert cmp.changed
    assert cmp.difference.low > 0 and cmp.ratio.low > 1.0
    assert cmp.difference.value == pytest.approx((worse.sum() - base.sum()) / words.sum())
    assert cmp.ratio.value == pytest.approx(worse.sum() / base.sum())


def test_identical_systems_contain_zero() -> None:
    base, words = _clips()
    cmp = compare(base, base, words)
    assert not cmp.changed
    assert cmp.difference.low <= 0.0 <= cmp.difference.high
    assert cmp.ratio.low <= 1.0 <= cmp.ratio.high


def test_noise_alone_is_not_called_a_change() -> None:
    base, words = _clips()
    rng = np.random.default_rng(7)
    # Errors moved between clips at random, the same total: no change in the system.
    shuffled = base.copy()
    for _ in range(40):
        i, j = rng.integers(0, base.size, size=2)
        if shuffled[i] > 0:
            shuffled[i] -= 1
            shuffled[j] += 1
    cmp = compare(shuffled, base, words)
    assert cmp.difference.value == pytest.approx(0.0)
    assert not cmp.changed


def test_seeded_and_deterministic() -> None:
    base, words = _clips()
    assert wer_interval(base, words) == wer_interval(base, words)
    one = wer_interval(base, words)
    assert one.low < one.value < one.high
    assert one.value == pytest.approx(base.sum() / words.sum())
    assert wer_interval(base, words, seed=2) != one


def test_more_clips_narrow_the_interval() -> None:
    small, w_small = _clips(50)
    large, w_large = _clips(2000)
    a, b = wer_interval(small, w_small), wer_interval(large, w_large)
    assert (b.high - b.low) < (a.high - a.low)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        wer_interval([], [])
    with pytest.raises(ValueError):
        compare([1, 2], [1], [3, 3])
    with pytest.raises(ValueError):
        wer_interval([0, 0], [0, 0])


def test_a_ratio_over_clips_where_b_is_often_perfect_has_no_nan() -> None:
    # Two clips, B wrong on one only: many draws have no B error and an infinite ratio.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cmp = compare([1, 1], [0, 1], [5, 5])
    assert cmp.ratio.value == pytest.approx(2.0)
    assert not np.isnan(cmp.ratio.low) and not np.isnan(cmp.ratio.high)
    assert cmp.ratio.low <= 2.0 and cmp.ratio.high == np.inf
