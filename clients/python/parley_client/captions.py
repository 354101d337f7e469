"""Caption files from final events: WebVTT and SRT (pure functions, no I/O).

One track per language: the transcript (key None) and each translation
language. A final longer than two lines of `line_chars` characters is cut into several
cues, timed by its word timings where it has them (transcripts), else by
sharing its span by characters (translations).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LINE_CHARS = 42
MAX_LINES = 2


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


@dataclass
class CaptionTrack:
    """Collects the final events of a stream into cues, per language."""

    line_chars: int = LINE_CHARS
    tracks: dict[str | None, list[Cue]] = field(default_factory=dict)

    def add(self, event: Mapping[str, Any]) -> list[Cue]:
        """Take one event; returns the cues it made (none for partials and other types)."""
        kind = event.get("type")
        if kind not in ("transcript", "translation") or not event.get("final"):
            return []
        text = str(event.get("text") or "").strip()
        if not text:
            return []
        start, end = float(event.get("start") or 0.0), float(event.get("end") or 0.0)
        if kind == "transcript":
            key: str | None = None
            words = event.get("words") or []
        else:
            key, words = str(event.get("lang")), []
        cues = split_text(text, start, end, words, self.line_chars)
        self.tracks.setdefault(key, []).extend(cues)
        return cues

    def cues(self, lang: str | None = None) -> list[Cue]:
        return list(self.tracks.get(lang, []))


def split_text(
    text: str, start: float, end: float, words: Sequence[Mapping[str, Any]] = (),
    line_chars: int = LINE_CHARS,
) -> list[Cue]:
    """Cut a final's text into cues of at most MAX_LINES lines of `line_chars` characters.

    Cue times come from the word timings: the text and the words spell the same
    characters (spacing aside), so a cue's first and last character are located
    in the word list by their count of non-space characters.
    """
    limit = line_chars * MAX_LINES
    if len(text) <= limit:
        return [Cue(start, max(end, start), text)]
    chunks: list[list[str]] = [[]]
    for token in text.split():
        if chunks[-1] and len(" ".join([*chunks[-1], token])) > limit:
            chunks.append([])
        chunks[-1].append(token)
    bounds: list[tuple[int, float, float]] = []  # (cumulative chars at word end, start, end)
    total = 0
    for w in words:
        total += len(str(w.get("word", "")).replace(" ", ""))
        bounds.append((total, float(w.get("start") or start), float(w.get("end") or end)))

    def time_at(chars: int, use_end: bool) -> float | None:
        for cum, w_start, w_end in bounds:
            if chars <= cum:
                return w_end if use_end else w_start
        return None

    cues: list[Cue] = []
    done = 0
    n = len(chunks)
    for i, chunk in enumerate(chunks):
        size = sum(len(t) for t in chunk)
        t0 = time_at(done + 1, False)
        t1 = time_at(done + size, True)
        if t0 is None or t1 is None:  # no usable word timings: share the span by characters
            span = max(end - start, 0.0)
            t0 = start + span * i / n
            t1 = start + span * (i + 1) / n
        cues.append(Cue(t0, max(t1, t0), " ".join(chunk)))
        done += size
    return cues


def timestamp(seconds: float, decimal: str = ".") -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def _lines(text: str, line_chars: int) -> str:
    return "\n".join(textwrap.wrap(text, line_chars)) or text


def _ordered(cues: Iterable[Cue]) -> list[Cue]:
    # A cue must end after it starts; zero-length cues get a minimal duration.
    return [Cue(c.start, c.end if c.end > c.start else c.start + 0.5, c.text) for c in cues]


def format_vtt(cues: Iterable[Cue], line_chars: int = LINE_CHARS) -> str:
    parts = ["WEBVTT", ""]
    for cue in _ordered(cues):
        parts += [f"{timestamp(cue.start)} --> {timestamp(cue.end)}",
                  _lines(_vtt_escape(cue.text), line_chars), ""]
    return "\n".join(parts)


def format_srt(cues: Iterable[Cue], line_chars: int = LINE_CHARS) -> str:
    parts: list[str] = []
    for i, cue in enumerate(_ordered(cues), 1):
        parts += [str(i), f"{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}",
                  _lines(cue.text, line_chars), ""]
    return "\n".join(parts)


def _vtt_escape(text: str) -> str:
    # "-->" would end the cue timing line's meaning; & and < start entities and tags.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("-->", "--&gt;")
