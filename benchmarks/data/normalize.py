"""Text normalization for fair word error rates, and the WER itself (jiwer).

`normalize_en` follows the spirit of Whisper's English normalizer, written small: lowercase,
no punctuation, typographic quotes folded, accents stripped, annotation marks ([laughter],
<unk>) and filler words (uh, um, hm, hmm, mm, mhm) removed, British spellings and a few common
variants mapped to one form ("colour" -> "color", "mr" -> "mister", "ok" -> "okay"), hyphenated
words split, and numbers written out as words ("2020" -> "twenty twenty", "21st" -> "twenty
first", "3.5" -> "three point five", "10%" -> "ten percent").
`normalize_basic` is the language-neutral part, for other languages.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_TYPOGRAPHIC = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": " ",
    }
)
_ANNOTATION = re.compile(r"\[[^\]]*\]|<[^>]*>|\{[^}]*\}")
_FILLERS = frozenset({"uh", "um", "hm", "hmm", "mm", "mhm", "mmm"})

#: One spelling for words written several ways (British -> American, informal variants).
SPELLINGS: dict[str, str] = {
    "aeroplane": "airplane",
    "analyse": "analyze",
    "analysed": "analyzed",
    "apologise": "apologize",
    "apologised": "apologized",
    "behaviour": "behavior",
    "behaviours": "behaviors",
    "cancelled": "canceled",
    "cancelling": "canceling",
    "catalogue": "catalog",
    "centre": "center",
    "centres": "centers",
    "cheque": "check",
    "colour": "color",
    "colours": "colors",
    "coloured": "colored",
    "defence": "defense",
    "dialogue": "dialog",
    "emphasise": "emphasize",
    "endeavour": "endeavor",
    "favour": "favor",
    "favourite": "favorite",
    "favourites": "favorites",
    "flavour": "flavor",
    "fulfil": "fulfill",
    "grey": "gray",
    "harbour": "harbor",
    "honour": "honor",
    "honours": "honors",
    "humour": "humor",
    "jewellery": "jewelry",
    "judgement": "judgment",
    "labour": "labor",
    "licence": "license",
    "litre": "liter",
    "metre": "meter",
    "metres": "meters",
    "neighbour": "neighbor",
    "neighbours": "neighbors",
    "offence": "offense",
    "organisation": "organization",
    "organise": "organize",
    "organised": "organized",
    "practise": "practice",
    "programme": "program",
    "programmes": "programs",
    "realise": "realize",
    "realised": "realized",
    "recognise": "recognize",
    "recognised": "recognized",
    "rumour": "rumor",
    "savour": "savor",
    "theatre": "theater",
    "travelled": "traveled",
    "traveller": "traveler",
    "travelling": "traveling",
    "tyre": "tire",
    "vapour": "vapor",
    "mr": "mister",
    "mrs": "missus",
    "dr": "doctor",
    "ok": "okay",
    "alright": "all right",
    "yknow": "you know",
    "y'know": "you know",
    "till": "until",
    "til": "until",
    "'til": "until",
    "cause": "because",
    "'cause": "because",
    "vs": "versus",
}

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_100(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])


def _below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = []
    if hundreds:
        words.append(_ONES[hundreds] + " hundred")
    if rest or not hundreds:
        words.append(_below_100(rest))
    return " ".join(words)


def number_to_words(n: int) -> str:
    """Cardinal words: 0 -> "zero", 1234 -> "one thousand two hundred thirty four"."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 1000:
        return _below_1000(n)
    words = []
    for value, name in _SCALES:
        if n >= value:
            count, n = divmod(n, value)
            words.append(number_to_words(count) + " " + name)
    if n:
        words.append(_below_1000(n))
    return " ".join(words)


def year_to_words(n: int) -> str:
    """How a four-digit year is read: 1999 -> "nineteen ninety nine", 1905 -> "nineteen oh
    five", 1900 -> "nineteen hundred", 2020 -> "twenty twenty", 2005 -> "two thousand five"."""
    century, rest = divmod(n, 100)
    if 2000 <= n < 2010:
        return number_to_words(n)
    if rest == 0:
        return _below_100(century) + " hundred"
    tail = "oh " + _ONES[rest] if rest < 10 else _below_100(rest)
    return _below_100(century) + " " + tail


def ordinal_words(n: int) -> str:
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


_NUMBER = re.compile(r"(\$)?(\d[\d,]*)(?:\.(\d+))?(st|nd|rd|th|s)?(%)?")


def _spell_number(m: re.Match[str]) -> str:
    dollar, whole, frac, suffix, percent = m.groups()
    digits = whole.replace(",", "")
    if not digits:
        return m.group(0)
    n = int(digits)
    if suffix in ("st", "nd", "rd", "th") and frac is None:
        words = ordinal_words(n)
    elif frac is None and "," not in whole and len(digits) == 4 and 1100 <= n <= 2099:
        words = year_to_words(n)
    else:
        words = number_to_words(n)
    if frac is not None:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    if suffix == "s":  # "1990s" -> "nineteen nineties"
        words = words[:-1] + "ies" if words.endswith("y") else words + "s"
    if percent:
        words += " percent"
    if dollar:
        words += " dollar" if n == 1 and frac is None else " dollars"
    return f" {words} "


def normalize_basic(text: str) -> str:
    """Language-neutral: NFKC, quotes folded, lowercase, annotations and punctuation removed."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC).lower()
    text = _ANNOTATION.sub(" ", text)
    text = re.sub(r"[^\w\s']", " ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize_en(text: str) -> str:
    """English text in the one form used to compute WER (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC).lower()
    text = _ANNOTATION.sub(" ", text)
    text = _strip_accents(text)
    text = text.replace("&", " and ")
    text = _NUMBER.sub(_spell_number, text)
    text = re.sub(r"[^a-z0-9\s']", " ", text)  # hyphens, slashes, punctuation -> space
    out: list[str] = []
    for raw in text.split():
        word = SPELLINGS.get(raw, raw).strip("'")
        word = SPELLINGS.get(word, word)
        if word.endswith("'s") and word[:-2] in SPELLINGS:  # "theatre's" -> "theater's"
            word = SPELLINGS[word[:-2]] + "'s"
        if word and word not in _FILLERS:
            out.extend(word.split())
    return " ".join(out)


def word_errors(
    reference: str | Sequence[str],
    hypothesis: str | Sequence[str],
    *,
    normalize: bool = True,
) -> tuple[int, int]:
    """(errors, reference words) of `hypothesis` against `reference`, as `wer` counts them."""
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    errors = 0
    words = 0
    for ref, hyp in zip(refs, hyps):
        errors += sum(error_kinds(ref, hyp, normalize=normalize).values())
        words += len((normalize_en(ref) if normalize else ref).split())
    return errors, words


def error_kinds(reference: str, hypothesis: str, *, normalize: bool = True) -> dict[str, int]:
    """Substitutions, deletions and insertions of `hypothesis` against `reference`.

    An empty reference counts every hypothesis word as an insertion; an empty
    hypothesis every reference word as a deletion.
    """
    import jiwer

    if normalize:
        reference, hypothesis = normalize_en(reference), normalize_en(hypothesis)
    ref_words, hyp_words = len(reference.split()), len(hypothesis.split())
    if ref_words == 0 or hyp_words == 0:
        return {"sub": 0, "del": ref_words, "ins": hyp_words}
    out = jiwer.process_words(reference, hypothesis)
    return {"sub": out.substitutions, "del": out.deletions, "ins": out.insertions}


def wer(
    reference: str | Sequence[str],
    hypothesis: str | Sequence[str],
    *,
    normalize: bool = True,
) -> float:
    """Word error rate of `hypothesis` against `reference` (one text or parallel lists).

    Lists are scored as one corpus (errors summed over the sum of reference words). Texts are
    normalized with `normalize_en` first unless `normalize` is False. An empty reference
    counts every hypothesis word as an insertion.
    """
    errors, words = word_errors(reference, hypothesis, normalize=normalize)
    return errors / max(words, 1)  # an empty reference: its insertions, counted whole
