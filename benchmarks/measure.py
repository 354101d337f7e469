"""Client-side latency of a replayed stream, as docs/protocol.md defines it. Pure functions.

Per word of the final transcript (the words of every `transcript` final, in
order, with the final's word timestamps):
- partial latency = receive time of the first event showing the word
  - send time of the frame holding the word's end;
- final latency = receive time of the first event that commits it (the word
  is in a partial's `stable` text, or in a final) - the same send time.

"Showing the word": events only show text for the open segment, so an
event's view of the transcript is every final received before it followed by
the event's own text. The event's words are aligned (difflib, on normalized
words: case, punctuation and spacing ignored) against the final transcript
just past the words already finalized; a final word matched by the alignment
is shown. This does not depend on how a server numbers its segments, so the
same code measures Parley and the baseline. A match only counts once the frame
holding the word's start was sent (an earlier match is the same word said
later). Word end times come from Whisper and can lie a little after the audio
that holds the word, so a latency can be slightly negative; values are
reported as measured.

Segment ending offset: per final, receive time - send time of the frame
holding the final's `end`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.recording import Recording

_NORM_RE = re.compile(r"[^\w']+", re.UNICODE)


def word_key(text: str) -> str:
    return _NORM_RE.sub("", text.lower()).strip("'")


def text_keys(text: str) -> list[str]:
    return [k for k in (word_key(t) for t in text.split()) if k]


@dataclass(frozen=True)
class FinalWord:
    key: str
    text: str
    start: float  # stream seconds (word timestamps)
    end: float
    segment: int


@dataclass(frozen=True)
class WordTiming:
    word: FinalWord
    sent_at: float  # send time of the frame holding the word's end
    shown_at: float  # first event showing it
    committed_at: float  # first event committing it

    @property
    def partial_s(self) -> float:
        return self.shown_at - self.sent_at

    @property
    def final_s(self) -> float:
        return self.committed_at - self.sent_at


@dataclass(frozen=True)
class Latencies:
    words: list[WordTiming]
    segment_offsets_s: list[float]
    server_latency_ms: list[float]  # `latency_ms` the server put on its finals

    @property
    def partial_s(self) -> list[float]:
        return [w.partial_s for w in self.words]

    @property
    def final_s(self) -> list[float]:
        return [w.final_s for w in self.words]


def final_words(rec: Recording) -> list[FinalWord]:
    out: list[FinalWord] = []
    for r in rec.of_type("transcript"):
        ev = r.event
        if not ev.get("final"):
            continue
        seg = int(ev.get("segment", -1))
        for w in ev.get("words") or []:
            key = word_key(str(w.get("word", "")))
            if key:
                start = float(w.get("start", w["end"]))
                out.append(FinalWord(key, str(w["word"]), start, float(w["end"]), seg))
    return out


def final_text(rec: Recording) -> str:
    """The final transcript: every final's text, in order."""
    parts = [str(r.event.get("text", "")).strip() for r in rec.of_type("transcript")
             if r.event.get("final")]
    return " ".join(p for p in parts if p)


def _mark(
    seen: list[float | None], base: int, window: list[str], keys: list[str], at: float,
    earliest: list[float],
) -> None:
    if not keys or not window:
        return
    matcher = difflib.SequenceMatcher(None, window, keys, autojunk=False)
    for block in matcher.get_matching_blocks():
        for j in range(block.size):
            g = base + block.a + j
            # No event can show a word whose audio was not sent yet: such a match is the
            # same word said later (a repeated "words", "the"), not this one.
            if seen[g] is None and at >= earliest[g]:
                seen[g] = at


def word_latencies(rec: Recording) -> Latencies:
    words = final_words(rec)
    keys = [w.key for w in words]
    shown: list[float | None] = [None] * len(words)
    committed: list[float | None] = [None] * len(words)
    earliest = [rec.sent_time_of(w.start) or 0.0 for w in words]
    done = 0  # words finalized so far
    offsets: list[float] = []
    server_ms: list[float] = []
    for r in rec.of_type("transcript"):
        ev = r.event
        if ev.get("final"):
            n = sum(1 for w in ev.get("words") or [] if word_key(str(w.get("word", ""))))
            for g in range(done, min(done + n, len(words))):
                if shown[g] is None:
                    shown[g] = r.at
                if committed[g] is None:
                    committed[g] = r.at
            done += n
            sent = rec.sent_time_of(float(ev.get("end", 0.0)))
            if sent is not None and n:
                offsets.append(r.at - sent)
            if isinstance(ev.get("latency_ms"), int | float):
                server_ms.append(float(ev["latency_ms"]))
            continue
        text_k = text_keys(str(ev.get("text", "")))
        stable_k = text_keys(str(ev.get("stable", "")))
        span = len(text_k) + max(5, len(text_k) // 2)
        window = keys[done: done + span]
        _mark(shown, done, window, text_k, r.at, earliest)
        _mark(committed, done, window[: len(stable_k) + max(5, len(stable_k) // 2)], stable_k,
              r.at, earliest)
    timings: list[WordTiming] = []
    for g, w in enumerate(words):
        sent = rec.sent_time_of(w.end)
        c = committed[g]
        s = shown[g]
        if sent is None or c is None or s is None:
            continue
        timings.append(WordTiming(w, sent, min(s, c), c))
    return Latencies(timings, offsets, server_ms)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """p50 / p90 / p99 / mean / max / n, rounded to milliseconds."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        "p50": r(percentile(values, 50)),
        "p90": r(percentile(values, 90)),
        "p99": r(percentile(values, 99)),
        "mean": r(sum(values) / len(values)) if values else None,
        "max": r(max(values)) if values else None,
        "n": len(values),
    }


def erased_chars(before: Sequence[str], after: Sequence[str]) -> int:
    """Characters of `before` a reader sees erased when the text changes to `after` (past
    their common prefix); of lists of words, the words erased."""
    common = 0
    for a, b in zip(before, after, strict=False):
        if a != b:
            break
        common += 1
    return len(before) - common
