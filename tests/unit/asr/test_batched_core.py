"""The batched engine's options and its start-up timing (the engine itself: test_batched_engine.py)."""

from __future__ import annotations

import pytest

from server.asr.batched import BatchOptions, uncontended_s


def test_options_always_end_with_the_native_window() -> None:
    assert BatchOptions(window_buckets_s=(10.0, 15.0)).window_buckets_s == (10.0, 15.0, 30.0)
    assert BatchOptions().window_buckets_s[-1] == 30.0
    crowded = BatchOptions(crowded_window_buckets_s=(15.0, 10.0)).crowded_window_buckets_s
    assert crowded == (10.0, 15.0, 30.0)
    assert BatchOptions(crowded_window_buckets_s=None).crowded_window_buckets_s is None


@pytest.mark.parametrize(
    "kw",
    [
        {"window_buckets_s": ()},
        {"crowded_window_buckets_s": (40.0,)},
        {"window_margin_s": -1.0},
        {"window_margin_s": 30.0},
        {"max_batch": 0},
        {"beam_size": 0},
        {"crowded_beam_size": 0},
        {"encode_batch": 0},
        {"max_prompt_tokens": 300},
        {"tokens_per_second": 0.0},
    ],
)
def test_bad_options(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BatchOptions(**kw)  # type: ignore[arg-type]


def test_uncontended_time_discounts_other_processes() -> None:
    assert uncontended_s(0.149, 0.148, 2) == pytest.approx(0.074)  # a busy machine
    assert uncontended_s(0.077, 0.146, 2) == pytest.approx(0.073)  # an idle one
    assert uncontended_s(0.10, 0.30, 2) == pytest.approx(0.10)  # other threads of ours ran
    assert uncontended_s(0.10, 0.10, 0) == pytest.approx(0.10)
