"""Speech a long-form decode did not hear: where to decode again.

faster-whisper decodes a long file one 30 s window after another. When Whisper ends a
window's text early (its end-of-text after the first sentence), the decoder moves on to
the next window and the rest of that window's speech is never transcribed: on one
replay layout of the English set, tiny.en heard "He was not an ill-disposed young man."
and nothing of the next 27 s (91 of 392 words lost). The VAD says where the speech was;
the spans no word covers are decoded again on their own.

Pure functions: VAD probabilities and words in, time spans out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from server.streaming.words import Word

#: Silero's 512-sample window at 16 kHz.
WINDOW_S = 0.032


def speech_spans(
    probs: npt.NDArray[np.float32], threshold: float = 0.5, window_s: float = WINDOW_S
) -> list[tuple[float, float]]:
    """(start, end) seconds of each run of windows scoring at least `threshold`."""
    speech = np.concatenate([[False], np.asarray(probs) >= threshold, [False]])
    edges = np.flatnonzero(np.diff(speech.astype(np.int8)))
    return [(float(a) * window_s, float(b) * window_s) for a, b in zip(edges[::2], edges[1::2])]


def unheard_spans(
    words: Sequence[Word],
    speech: Sequence[tuple[float, float]],
    margin_s: float = 0.5,
    min_s: float = 1.0,
    join_s: float = 1.0,
) -> list[tuple[float, float]]:
    """Spans of `speech` that no word covers, each holding at least `min_s` of speech.

    A word covers its own time and `margin_s` either side (Whisper's word times are
    approximate, and a pause inside a sentence is no missed speech). Uncovered pieces
    less than `join_s` apart are one span: a sentence is decoded whole, not in bits.
    """
    covered = _union([(w.start - margin_s, w.end + margin_s) for w in words])
    pieces = [p for s in sorted(speech) for p in _subtract(s, covered)]
    spans: list[tuple[float, float, float]] = []  # (start, end, speech inside)
    for start, end in pieces:
        if spans and start - spans[-1][1] < join_s:
            first, _, inside = spans[-1]
            spans[-1] = (first, end, inside + end - start)
        else:
            spans.append((start, end, end - start))
    return [(start, end) for start, end, inside in spans if inside >= min_s]


def outside(words: Sequence[Word], covered: Sequence[Word]) -> list[Word]:
    """`words` whose middle no word of `covered` spans: a re-decode's new words only."""
    spans = [(w.start, w.end) for w in covered]
    return [w for w in words if not any(a <= (w.start + w.end) / 2 <= b for a, b in spans)]


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _subtract(
    span: tuple[float, float], covered: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    start, end = span
    out: list[tuple[float, float]] = []
    for a, b in covered:
        if b <= start or a >= end:
            continue
        if a > start:
            out.append((start, a))
        start = max(start, b)
        if start >= end:
            return out
    out.append((start, end))
    return out
