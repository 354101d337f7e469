"""Decoder prompts for batched Whisper calls: what each request says before it is heard.

A prompt is `[<|startofprev|> previous text] <|startoftranscript|> [lang] [task]
[<|notimestamps|>]`. CTranslate2 needs the start-of-transcript token at one index in
every prompt of a `generate` call, so a batch is split into calls by prompt length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

#: How prompts of different lengths share `generate` calls (CTranslate2 needs the
#: start-of-transcript token at one index in every prompt of a call):
#: "group": one call per distinct prompt length (after the `max_prompt_tokens` cap); every
#:          request decodes exactly as it would alone. Sessions in full flow all hit the
#:          cap (the policy sends ~45 tokens), so they share one call; only sessions with
#:          little text yet add calls.
#: "bucket": prompts grouped by length class (0, 1, 2-3, 4-7, 8-15, 16-31, 32-63, ...) and
#:           cut to the shortest of their class: fewer calls, but a request's text can
#:           depend on its batch-mates (measured: no faster than "group").
#: "truncate": one call per window; every prompt cut to the shortest in the batch (a
#:             session with no text yet takes every other session's context away:
#:             tiny.en WER 0.17 -> 0.31 in batches of 8).
#: Padding short prompts with filler tokens was measured and rejected: any filler
#: (spaces, <|startofprev|>, <|endoftext|>, "...") raised tiny.en's WER from 0.37 to 0.48-0.92.
PromptFit = Literal["bucket", "group", "truncate"]

#: Whisper's decoder context is 448 tokens; CTranslate2 also caps the generated tokens at
#: half of `max_length` (as openai-whisper's sample_len), measured: max_length=10 with a
#: 2-token prompt gives at most 5 tokens.
WHISPER_MAX_LENGTH = 448


def build_prompt(
    previous: Sequence[int],
    *,
    sot_prev: int,
    sot_sequence: Sequence[int],
    no_timestamps: int | None,
) -> list[int]:
    """[<|startofprev|> previous...] <|startoftranscript|> [lang] [task] [<|notimestamps|>].

    As faster-whisper's `get_prompt`; no <|startofprev|> when there is no previous text.
    """
    prompt: list[int] = []
    if previous:
        prompt.append(sot_prev)
        prompt.extend(previous)
    prompt.extend(sot_sequence)
    if no_timestamps is not None:
        prompt.append(no_timestamps)
    return prompt


def group_by_prompt(
    previous: Sequence[Sequence[int]], mode: PromptFit
) -> list[tuple[list[int], list[list[int]]]]:
    """Split a batch into `generate` calls: [(indices, previous tokens per index)].

    Every call's prompts have the same length, so <|startoftranscript|> sits at one index.
    """
    if not previous:
        return []
    if mode == "truncate":
        shortest = min(len(p) for p in previous)
        cut = [list(p[len(p) - shortest :]) if shortest else [] for p in previous]
        return [(list(range(len(previous))), cut)]
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(previous):
        key = len(p) if mode == "group" else prompt_class(len(p))
        groups.setdefault(key, []).append(i)
    out: list[tuple[list[int], list[list[int]]]] = []
    for _, idx in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shortest = min(len(previous[i]) for i in idx)
        out.append((idx, [list(previous[i][len(previous[i]) - shortest :]) for i in idx]))
    return out


def prompt_class(length: int) -> int:
    """0 for no prompt, else 1 + floor(log2(length)): 1, 2-3, 4-7, 8-15, ..."""
    return length.bit_length()


def generation_max_length(budget: int, prompt_len: int) -> int:
    """`max_length` for CTranslate2 so that up to `budget` tokens can be generated."""
    return min(WHISPER_MAX_LENGTH, max(2 * budget, prompt_len + budget))
