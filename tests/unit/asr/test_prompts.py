"""Decoder prompts for batched calls: layout, grouping by length, the generation budget."""

from __future__ import annotations

import pytest

from server.asr.prompts import (
    WHISPER_MAX_LENGTH,
    build_prompt,
    generation_max_length,
    group_by_prompt,
    prompt_class,
)

SOT_PREV, SOT, EN, TRANSCRIBE, NO_TS = 90, 91, 92, 93, 94


def test_prompt_with_previous_text_and_no_timestamps() -> None:
    got = build_prompt(
        [5, 6], sot_prev=SOT_PREV, sot_sequence=[SOT, EN, TRANSCRIBE], no_timestamps=NO_TS
    )
    assert got == [SOT_PREV, 5, 6, SOT, EN, TRANSCRIBE, NO_TS]


def test_prompt_without_previous_text_has_no_startofprev() -> None:
    got = build_prompt([], sot_prev=SOT_PREV, sot_sequence=[SOT], no_timestamps=None)
    assert got == [SOT]


@pytest.mark.parametrize("mode", ["bucket", "group", "truncate"])
def test_every_call_has_the_start_of_transcript_at_one_index(mode: str) -> None:
    previous = [[1] * n for n in (0, 3, 5, 5, 9, 16, 32, 32, 1)]
    groups = group_by_prompt(previous, mode)  # type: ignore[arg-type]
    seen = sorted(i for idx, _ in groups for i in idx)
    assert seen == list(range(len(previous)))
    for idx, prevs in groups:
        assert len(idx) == len(prevs)
        assert len({len(p) for p in prevs}) == 1  # equal lengths: sot at one index
        for i, p in zip(idx, prevs):
            # Only ever cut from the front: the most recent text is kept.
            assert p == previous[i][len(previous[i]) - len(p) :]


def test_group_keeps_every_prompt_whole() -> None:
    previous = [[1, 2, 3], [4, 5], [6, 7, 8], []]
    groups = group_by_prompt(previous, "group")
    assert sorted((sorted(idx) for idx, _ in groups)) == [[0, 2], [1], [3]]
    for idx, prevs in groups:
        assert prevs == [previous[i] for i in idx]


def test_truncate_cuts_everything_to_the_shortest() -> None:
    groups = group_by_prompt([[1, 2, 3], [4, 5], [6, 7, 8, 9]], "truncate")
    assert groups == [([0, 1, 2], [[2, 3], [4, 5], [8, 9]])]
    assert group_by_prompt([[1, 2], []], "truncate") == [([0, 1], [[], []])]


def test_bucket_cuts_within_a_length_class_only() -> None:
    previous = [[1] * 32, [2] * 32, [3] * 20, [4] * 17, [5] * 3, []]
    groups = {tuple(idx): prevs for idx, prevs in group_by_prompt(previous, "bucket")}
    assert set(groups) == {(0, 1), (2, 3), (4,), (5,)}
    assert [len(p) for p in groups[(2, 3)]] == [17, 17]  # lost less than half
    assert groups[(4,)] == [[5, 5, 5]] and groups[(5,)] == [[]]


def test_prompt_classes() -> None:
    assert [prompt_class(n) for n in (0, 1, 2, 3, 4, 7, 8, 31, 32)] == [0, 1, 2, 2, 3, 3, 4, 5, 6]


def test_empty_batch_has_no_calls() -> None:
    assert group_by_prompt([], "bucket") == []


def test_max_length_allows_the_budget_despite_ct2_halving() -> None:
    # CTranslate2 generates at most max_length // 2 tokens for Whisper.
    assert generation_max_length(20, 3) == 40
    assert generation_max_length(20, 30) == 50
    assert generation_max_length(300, 3) == WHISPER_MAX_LENGTH
