"""Timed words: the unit every stage after recognition works in."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NORM_RE = re.compile(r"[^\w']+", re.UNICODE)
_SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")
#: Words ending in "." that rarely end a sentence.
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "mt", "no", "fig", "gen", "col", "lt", "sgt", "capt", "rev", "hon"]
)


@dataclass(frozen=True)
class Word:
    """A recognized word with absolute stream times in seconds.

    `text` keeps Whisper's leading space (" Hello") so joining words gives the
    text exactly as the model wrote it, for languages with and without spaces.
    """

    text: str
    start: float
    end: float
    probability: float = 1.0

    @property
    def key(self) -> str:
        """Comparison form: case, punctuation and spacing do not count."""
        return _NORM_RE.sub("", self.text.lower())

    @property
    def ends_sentence(self) -> bool:
        text = self.text.strip()
        if not text.endswith(_SENTENCE_END):
            return False
        if text.endswith(".") and not text.endswith(".."):
            bare = text[:-1].lower()
            if bare in _ABBREVIATIONS or (len(bare) == 1 and bare.isalpha()):
                return False  # "Mr.", "Dr.", an initial like "J."
        return True

    def shifted(self, offset: float) -> Word:
        return Word(self.text, self.start + offset, self.end + offset, self.probability)


def join_words(words: list[Word] | tuple[Word, ...]) -> str:
    return "".join(w.text for w in words).strip()
