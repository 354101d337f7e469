"""Checks on what a batched Whisper decode said: silence, loops, segments, late words.

Short encoder windows make Whisper repeat itself and write text after the end of the
audio; these pure functions find that in the decoded tokens (`BatchedWhisperEngine`
decides what to do about it: drop, cut, or decode again on the native window).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from server.asr.whisper import AsrOptions
from server.streaming.words import Word

_TIME_PRECISION = 0.02  # seconds per timestamp token
_NORM_RE = re.compile(r"[^\w']+", re.UNICODE)


@dataclass(frozen=True)
class Segment:
    """A stretch of decoded text between two timestamp tokens (times relative to audio[0])."""

    start: float
    end: float
    tokens: tuple[int, ...]  # text tokens only


def avg_logprob(score: float, num_tokens: int) -> float:
    """faster-whisper's average log probability from CTranslate2's length-normalized score."""
    return score * num_tokens / (num_tokens + 1)


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def is_silence(no_speech_prob: float, logprob: float, opts: AsrOptions) -> bool:
    """Whisper's own rule: probably no speech AND not confident about the text."""
    return no_speech_prob > opts.no_speech_threshold and logprob < opts.log_prob_threshold


def find_loop(
    tokens: Sequence[int], *, min_repeats: int, min_tokens: int, max_block: int = 16
) -> int | None:
    """Where a hallucination loop starts repeating, or None.

    A loop is a block of tokens repeated back to back at least `min_repeats` times and
    `min_tokens` long in all: "6, 6, 6, 6, 6, 6, 6", "Firefox Firefox Firefox ...". The
    result is the index of the block's second copy, so `tokens[:index]` keeps one.
    "word, word, word" (3 x 2 tokens) is not a loop; real repetition that is long enough
    is, which costs a needless full-window decode, not words.
    """
    n = len(tokens)
    best: int | None = None
    for block in range(1, min(max_block, n // min_repeats) + 1):
        need = max(min_repeats, -(-min_tokens // block))  # ceil(min_tokens / block)
        if need * block > n:
            continue
        # Runs of equal blocks, for every phase of the block grid.
        for offset in range(block):
            run = 1
            run_start = offset
            prev = tuple(tokens[offset : offset + block])
            pos = offset + block
            while pos + block <= n:
                cur = tuple(tokens[pos : pos + block])
                if cur == prev:
                    run += 1
                    if run >= need:
                        second = run_start + block
                        best = second if best is None else min(best, second)
                        break
                else:
                    run = 1
                    run_start = pos
                    prev = cur
                pos += block
    return best


def repeats_phrase(text: str, words: int, span: int = 0) -> bool:
    """Some run of `words` words (normalized) occurs twice without overlap, the second time
    at most `span` words after the first (0: anywhere).

    Short windows often make Whisper say the whole utterance twice ("you know montreal
    forced aligner you know montreal forced aligner"), once per segment or inside one;
    real speech rarely repeats a phrase within a few words, and a false alarm only costs
    a full-window decode.
    """
    return phrase_repeat_at(text, words, span) is not None


def phrase_repeat_at(text: str, words: int, span: int = 0) -> int | None:
    """The index (in `norm_text(text).split()`) of the first word of the earliest second
    occurrence `repeats_phrase` finds, or None."""
    if words < 1:
        return None
    tokens = norm_text(text).split()
    last: dict[tuple[str, ...], int] = {}
    for i in range(len(tokens) - words + 1):
        gram = tuple(tokens[i : i + words])
        seen = last.get(gram)
        if seen is not None and words <= i - seen and (not span or i - seen <= span):
            return i
        if seen is None or i - seen >= words:
            last[gram] = i  # the latest non-overlapping occurrence
    return None


def tokens_before_word(tokens: Sequence[int], word: int, decode: Any) -> int:
    """How many of `tokens` spell the first `word` normalized words of their text (the
    rest starts word `word`)."""
    for k in range(1, len(tokens) + 1):
        if len(norm_text(decode(list(tokens[:k]))).split()) > word:
            return k - 1
    return len(tokens)


def split_segments(
    tokens: Sequence[int], *, timestamp_begin: int, eot: int, audio_s: float
) -> list[Segment]:
    """Decoded tokens -> segments. Timestamp tokens open and close segments
    (<|0.00|> text <|2.40|><|2.40|> text <|5.00|>); text with no timestamps (or an
    unclosed last segment) runs to the end of the audio."""
    out: list[Segment] = []
    start: float | None = None
    last_end = 0.0
    text: list[int] = []
    for tok in tokens:
        if tok >= timestamp_begin:
            t = (tok - timestamp_begin) * _TIME_PRECISION
            if start is None:
                start = t
            else:
                out.append(Segment(start, t, tuple(text)))
                last_end = t
                start = None
                text = []
        elif tok < eot:
            text.append(tok)
    if text:
        begin = start if start is not None else last_end
        out.append(Segment(begin, max(begin, audio_s), tuple(text)))
    return out


def norm_text(text: str) -> str:
    return " ".join(_NORM_RE.sub(" ", text.lower()).split())


@dataclass
class SegmentCheck:
    kept: list[Segment]
    after_end: int = 0  # segments dropped because they start after the audio
    repeated: int = 0  # segments that repeat an earlier one word for word


def check_segments(segments: Sequence[Segment], audio_s: float, decode: Any) -> SegmentCheck:
    """Drop segments that start after the audio ends, or repeat an earlier segment
    (a hallucination loop); clamp ends to the audio. `decode` turns tokens into text."""
    out = SegmentCheck(kept=[])
    seen: set[str] = set()
    for seg in segments:
        if not seg.tokens:
            continue
        if seg.start >= audio_s:
            out.after_end += 1
            continue
        key = norm_text(decode(list(seg.tokens)))
        if not key:
            continue
        if key in seen and len(key.split()) >= 2:
            out.repeated += 1
            continue
        seen.add(key)
        out.kept.append(Segment(seg.start, min(seg.end, audio_s), seg.tokens))
    return out


def segment_tokens(segments: Iterable[Segment]) -> list[int]:
    """The text tokens of `segments`, joined."""
    return [t for s in segments for t in s.tokens]


def cut_segments(segments: Sequence[Segment], keep_tokens: int) -> list[Segment]:
    """The first `keep_tokens` text tokens of `segments`, segment boundaries kept."""
    out: list[Segment] = []
    left = keep_tokens
    for seg in segments:
        if left <= 0:
            break
        out.append(Segment(seg.start, seg.end, seg.tokens[:left]))
        left -= len(seg.tokens)
    return [s for s in out if s.tokens]


def clip_words(words: Iterable[Word], audio_s: float) -> list[Word]:
    """Words that start after the audio ends are hallucinated: drop; clamp ends."""
    out: list[Word] = []
    for w in words:
        if w.start >= audio_s:
            continue
        end = min(w.end, audio_s)
        out.append(Word(w.text, w.start, max(w.start, end), w.probability))
    return out
