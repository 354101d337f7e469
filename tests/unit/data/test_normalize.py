"""English normalization for WER, and the WER itself."""

from __future__ import annotations

import pytest

from benchmarks.data.normalize import (
    error_kinds,
    normalize_basic,
    normalize_en,
    number_to_words,
    ordinal_words,
    wer,
    word_errors,
    year_to_words,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("Mr. Dashwood wasn't ill-disposed.", "mister dashwood wasn't ill disposed"),
        ("The colour of the theatre’s centre", "the color of the theater's center"),
        ("Uh, so, um... I have a cold [laughter] <unk>", "so i have a cold"),
        ("“Quoted” — and ‘single’", "quoted and single"),
        ("OK, alright, y'know", "okay all right you know"),
        ("naïve café", "naive cafe"),
        (
            "In 2020 we scored 21st, 3.5 points, 10% and $5.",
            (
                "in twenty twenty we scored twenty first three point five points ten percent "
                "and five dollars"
            ),
        ),
        ("1,000 people in the 1990s", "one thousand people in the nineteen nineties"),
        ("Rock & roll", "rock and roll"),
        ("'tis 'quoted'", "tis quoted"),
        ("", ""),
    ],
)
def test_normalize_en(text: str, expected: str) -> None:
    assert normalize_en(text) == expected


def test_numbers() -> None:
    assert number_to_words(0) == "zero"
    assert number_to_words(115) == "one hundred fifteen"
    assert number_to_words(2_000_042) == "two million forty two"
    assert number_to_words(-3) == "minus three"
    assert year_to_words(1905) == "nineteen oh five"
    assert year_to_words(1900) == "nineteen hundred"
    assert year_to_words(2005) == "two thousand five"
    assert ordinal_words(1) == "first" and ordinal_words(12) == "twelfth"
    assert ordinal_words(40) == "fortieth" and ordinal_words(103) == "one hundred third"


def test_normalize_basic_keeps_non_english_words() -> None:
    assert normalize_basic("Welkom in onze stad.  Vergeleken!") == "welkom in onze stad vergeleken"
    assert normalize_basic("Dovoluji si vás přivítat") == "dovoluji si vás přivítat"


def test_wer() -> None:
    assert (
        wer("he was not an ill disposed young man", "He was not an ill-disposed young man.") == 0.0
    )
    assert wer("a b c d", "a x c") == pytest.approx(0.5)  # 1 substitution + 1 deletion
    assert wer("a b", "a b c d") == pytest.approx(1.0)  # 2 insertions
    assert wer("Hello", "hello", normalize=False) == 1.0


def test_word_errors_are_the_counts_behind_wer() -> None:
    assert word_errors("a b c d", "a x c") == (2, 4)
    assert word_errors(["a b", "uh"], ["a b", "oops"]) == (1, 2)


def test_error_kinds_split_the_errors_of_word_errors() -> None:
    assert error_kinds("a b c d", "a x c") == {"sub": 1, "del": 1, "ins": 0}
    assert error_kinds("He was ill-disposed.", "he was ill disposed young") == {
        "sub": 0, "del": 0, "ins": 1,
    }
    assert error_kinds("a b", "") == {"sub": 0, "del": 2, "ins": 0}
    assert error_kinds("uh", "oops") == {"sub": 0, "del": 0, "ins": 1}  # "uh" normalizes away
    assert error_kinds("Hello", "hello", normalize=False) == {"sub": 1, "del": 0, "ins": 0}


def test_corpus_wer_and_empty_references() -> None:
    # 1 error over 4 reference words in all; the empty reference adds its hypothesis words.
    assert wer(["a b", "c d"], ["a b", "c x"]) == pytest.approx(0.25)
    assert wer(["a b", "uh"], ["a b", "oops"]) == pytest.approx(0.5)
    assert wer(["um"], [""]) == 0.0
    assert wer(["a b"], [""]) == 1.0
    with pytest.raises(ValueError, match="2 references but 1"):
        wer(["a", "b"], ["a"])
