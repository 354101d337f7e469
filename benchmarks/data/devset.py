"""The English dev set: over 10,000 scored words of real speech, in long-form layouts.

Clips, in this order:
1. Asterisk's English prompts of 5 or more words (one professional voice, read; about 210
   clips, 18 min);
2. Drascula's English voice clips (several acted voices; 742 clips, 46 min);
3. the LibriVox and MFA clips of `english_clips()` (LibriVox readers, Common Voice, lab
   recordings; 10 min), which also bring the set past 10,000 words.

Layouts: the clips, in that order, are cut into consecutive streams of at most `chunk_s`
seconds (clips and pauses; a clip is never split), each joined with `pause_s` of silence
after every clip (`build_stream`), named `en-dev-<pause>-<k>`. The layout is a function of
the data and the two numbers alone, and every stream keeps its clip offsets and references,
so a transcript can be scored clip by clip (`score_clips`): the unit a paired bootstrap
resamples (benchmarks/stats.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.data.asterisk import asterisk_clips
from benchmarks.data.audio import load_audio_16k
from benchmarks.data.clips import SAMPLE_RATE, Clip, Stream, StreamPart
from benchmarks.data.drascula import drascula_clips
from benchmarks.data.english import english_clips
from benchmarks.data.normalize import normalize_en, word_errors
from benchmarks.data.streams import build_stream

#: Asterisk prompts shorter than this are single words and menu fragments ("Goodbye.").
ASTERISK_MIN_WORDS = 5


def english_dev_clips(*, fetch: bool = True, data: Path | None = None) -> list[Clip]:
    """The dev set's clips in their fixed order (module docstring); fetches what is missing."""
    return (
        asterisk_clips("en", ASTERISK_MIN_WORDS, fetch=fetch, data=data)
        + drascula_clips(fetch=fetch, data=data)
        + english_clips(fetch=fetch, data=data)
    )


def scored_words(clips: Sequence[Clip]) -> int:
    """Reference words after normalization (what a WER divides by)."""
    return sum(len(normalize_en(c.text).split()) for c in clips)


def chunk_clips(
    clips: Sequence[Clip], durations_s: Sequence[float], chunk_s: float, pause_s: float
) -> list[list[Clip]]:
    """Consecutive groups of clips whose length with pauses stays within `chunk_s`.

    A clip longer than `chunk_s` is a group of its own.
    """
    groups: list[list[Clip]] = []
    total = 0.0
    for clip, seconds in zip(clips, durations_s, strict=True):
        length = seconds + pause_s
        if groups and groups[-1] and total + length <= chunk_s:
            groups[-1].append(clip)
            total += length
        else:
            groups.append([clip])
            total = length
    return groups


def english_dev_streams(
    chunk_s: float = 300.0, pause_s: float = 0.8, *, limit: int | None = None
) -> list[Stream]:
    """The dev set laid out as streams (module docstring); the first `limit` if given."""
    clips = english_dev_clips()
    durations = [len(load_audio_16k(c.path)) / SAMPLE_RATE for c in clips]
    groups = chunk_clips(clips, durations, chunk_s, pause_s)
    if limit is not None:
        groups = groups[:limit]
    return [
        build_stream(group, pause_s=pause_s, name=f"en-dev-{pause_s:g}-{k:02d}")
        for k, group in enumerate(groups)
    ]


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class ClipScore:
    clip_id: str
    errors: int
    words: int  # reference words (normalized)


def assign_words(words: Sequence[TimedWord], parts: Sequence[StreamPart]) -> list[str]:
    """Each word's text onto the clip its middle falls in, or the nearest clip (pauses)."""
    out: list[list[str]] = [[] for _ in parts]
    if not parts:
        return []
    k = 0
    for word in sorted(words, key=lambda w: (w.start + w.end) / 2):
        mid = (word.start + word.end) / 2
        while k + 1 < len(parts) and mid >= (parts[k].end_s + parts[k + 1].start_s) / 2:
            k += 1
        out[k].append(word.text.strip())
    return [" ".join(t for t in texts if t) for texts in out]


def score_clips(words: Sequence[TimedWord], parts: Sequence[StreamPart]) -> list[ClipScore]:
    """Word errors per clip of a timed transcript of a stream (normalized, as `wer`)."""
    texts = assign_words(words, parts)
    scores = []
    for part, hyp in zip(parts, texts, strict=True):
        errors, ref_words = word_errors(part.text, hyp)
        scores.append(ClipScore(part.clip_id, errors, ref_words))
    return scores
