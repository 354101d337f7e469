"""How many recognition workers and threads per call `AsrOptions` picks (server/asr/whisper.py)."""

from __future__ import annotations

import pytest

from server.asr.whisper import AsrOptions, available_cores, parallelism


@pytest.mark.parametrize(
    ("cores", "auto"),
    [(1, (1, 1)), (2, (2, 2)), (3, (3, 2)), (4, (4, 2)), (8, (4, 4)), (16, (4, 4)), (64, (4, 4))],
)
def test_auto_is_a_worker_per_core_up_to_4_and_at_most_2_threads_a_core(
    cores: int, auto: tuple[int, int]
) -> None:
    workers, threads = parallelism(cores)
    assert (workers, threads) == auto
    assert workers * threads <= 2 * cores and threads <= 4


def test_a_given_value_is_kept_and_the_other_fits_it() -> None:
    assert parallelism(2, workers=1) == (1, 2)
    assert parallelism(16, workers=2) == (2, 4)
    assert parallelism(2, threads=1) == (2, 1)
    assert parallelism(2, workers=3, threads=5) == (3, 5)  # the operator's choice stands


def test_resolved_options_fill_in_only_the_zeros() -> None:
    assert AsrOptions().resolved(cores=2) == AsrOptions(workers=2, cpu_threads=2)
    assert AsrOptions(workers=1).resolved(cores=8) == AsrOptions(workers=1, cpu_threads=4)
    assert AsrOptions().resolved().workers == parallelism(available_cores())[0]


@pytest.mark.parametrize("field", ["workers", "cpu_threads"])
def test_negative_counts_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be >= 0"):
        AsrOptions(**{field: -1})  # type: ignore[arg-type]


def test_a_beam_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="beam_size must be >= 1"):
        AsrOptions(beam_size=0)
