"""OpenAI's audio response bodies from Parley's timed words (pure functions).

Whisper's own segments are not kept by Parley's decode (it returns timed words), so
`segments_of` cuts the words into segments again: at the end of a sentence, at a pause,
and at `MAX_SEGMENT_S`. Per-segment fields Parley does not have are filled with neutral
values (`tokens` empty, `no_speech_prob` 0, `temperature` 0: the decode is greedy/beam at
temperature 0); `avg_logprob` is the mean log of the words' probabilities.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from server.streaming.words import Word, join_words

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = ("json", "text", "srt", "verbose_json", "vtt")

#: A segment ends at a silence between words at least this long...
PAUSE_S = 1.0
#: ...and is cut before it grows longer than this.
MAX_SEGMENT_S = 30.0


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float
    compression_ratio: float


def segments_of(words: Sequence[Word]) -> list[Segment]:
    """`words` (in time order) grouped into subtitle-sized segments."""
    return [_segment(i, group) for i, group in enumerate(_groups(words))]


def deltas(words: Sequence[Word]) -> list[str]:
    """The text of `words` in one piece per segment; joined, they are `join_words(words)`."""
    pieces = ["".join(w.text for w in group) for group in _groups(words)]
    if pieces:
        pieces[0] = pieces[0].lstrip()
        pieces[-1] = pieces[-1].rstrip()
    return pieces


def _groups(words: Sequence[Word]) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for word in words:
        current = groups[-1] if groups else None
        if (
            current is None
            or current[-1].ends_sentence
            or word.start - current[-1].end >= PAUSE_S
            or word.end - current[0].start > MAX_SEGMENT_S
        ):
            groups.append([word])
        else:
            current.append(word)
    return groups


def _segment(index: int, words: list[Word]) -> Segment:
    text = join_words(words)
    logprob = sum(math.log(max(w.probability, 1e-6)) for w in words) / len(words)
    return Segment(index, words[0].start, words[-1].end, text, round(logprob, 4),
                   round(compression_ratio(text), 4))


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: raw bytes over zlib-compressed bytes."""
    raw = text.encode()
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def timestamp(seconds: float, separator: str) -> str:
    """HH:MM:SS<sep>mmm (SRT: ",", WebVTT: ".")."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def srt(segments: Sequence[Segment]) -> str:
    cues = [
        f"{i}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{s.text}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(cues) + ("\n" if cues else "")


def vtt(segments: Sequence[Segment]) -> str:
    cues = [f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{s.text}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def verbose_json(
    *, task: str, language: str, duration: float, words: Sequence[Word],
    with_segments: bool, with_words: bool,
) -> dict[str, Any]:
    """OpenAI's `verbose_json` body (`TranscriptionVerbose` / `TranslationVerbose`)."""
    body: dict[str, Any] = {
        "task": task,
        "language": language,
        "duration": round(duration, 3),
        "text": join_words(list(words)),
    }
    if with_segments:
        body["segments"] = [
            {"id": s.id, "seek": 0, "start": round(s.start, 3), "end": round(s.end, 3),
             "text": s.text, "tokens": [], "temperature": 0.0, "avg_logprob": s.avg_logprob,
             "compression_ratio": s.compression_ratio, "no_speech_prob": 0.0}
            for s in segments_of(words)
        ]
    if with_words:
        body["words"] = [
            {"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for w in words
        ]
    body["usage"] = {"type": "duration", "seconds": math.ceil(duration)}
    return body


def sse_events(text_pieces: Sequence[str], text: str) -> list[str]:
    """Server-sent events of a streamed transcription: a `transcript.text.delta` per
    piece, then `transcript.text.done` with the whole `text`."""
    events = [{"type": "transcript.text.delta", "delta": piece} for piece in text_pieces]
    events.append({"type": "transcript.text.done", "text": text})
    return [f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events]


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
