"""Sentence splitting and joining for translation input and output.

Translation models are trained on sentences: a long input translates better,
and with a bounded output length, when it is cut into sentences that are
translated side by side in one batch and joined again.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Languages written without spaces between words (text is joined with "").
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "km", "bo", "yue", "wuu"})

#: Terminators that end a sentence wherever they occur (full-width CJK forms).
_CJK_TERMINATORS = frozenset("。！？")
#: Terminators that end a sentence only before whitespace or the end of text, so
#: "3.14", "e.g.x" or "file.txt" stay whole.
_LATIN_TERMINATORS = frozenset(".!?")
#: Characters that stay with the sentence they close: more terminators, an
#: ellipsis, closing quotes and brackets.
_TRAILERS = frozenset("。！？.!?…”’」』）)]】》\"'")
_ENDS = _CJK_TERMINATORS | _LATIN_TERMINATORS | {"…"}


def uses_spaces(language: str) -> bool:
    """Whether words of `language` are separated by spaces."""
    return language.split("-")[0].lower() not in NO_SPACE_LANGUAGES


def join_text(parts: Sequence[str], language: str) -> str:
    """Join text fragments of one language: with spaces, or without for CJK and the like."""
    stripped = [p.strip() for p in parts]
    sep = " " if uses_spaces(language) else ""
    return sep.join(p for p in stripped if p)


def ends_sentence(text: str) -> bool:
    """Whether `text` ends with a sentence terminator (closing quotes and brackets after
    it allowed): a transcript that reads as a complete sentence."""
    stripped = text.rstrip().rstrip("".join(_TRAILERS - _ENDS)).rstrip()
    return bool(stripped) and stripped[-1] in _ENDS


def split_sentences(text: str) -> list[str]:
    """Cut `text` after each sentence terminator; the pieces are stripped and non-empty.

    Handles the CJK terminators 。！？ anywhere and the Latin ones .!? before a space
    or the end; closing quotes and brackets stay with their sentence.
    """
    sentences: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in _CJK_TERMINATORS or ch in _LATIN_TERMINATORS:
            j = i + 1
            while j < n and text[j] in _TRAILERS:
                j += 1
            cjk = ch in _CJK_TERMINATORS or any(c in _CJK_TERMINATORS for c in text[i:j])
            if cjk or j == n or text[j].isspace():
                piece = text[start:j].strip()
                if piece:
                    sentences.append(piece)
                start = j
            i = j
        else:
            i += 1
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences
