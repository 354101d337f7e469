"""Sentence splitting / joining and the SentencePiece join rule."""

from __future__ import annotations

import pytest

from server.mt.pieces import join_pieces
from server.mt.sentences import join_text, split_sentences, uses_spaces


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好，世界。今天天气很好！你呢？", ["你好，世界。", "今天天气很好！", "你呢？"]),
        ("他说：“走吧。”然后走了", ["他说：“走吧。”", "然后走了"]),
        ("Hello world. How are you? Fine!", ["Hello world.", "How are you?", "Fine!"]),
        ("Pi is 3.14 today. Really?!  Yes", ["Pi is 3.14 today.", "Really?!", "Yes"]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("no terminator", ["no terminator"]),
        ("好。。。再见", ["好。。。", "再见"]),
        ("", []),
        ("   ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_join_text_uses_spaces_only_where_the_language_does() -> None:
    assert join_text([" Hello", "world. ", ""], "en") == "Hello world."
    assert join_text(["你好，", " 世界。"], "zh") == "你好，世界。"
    assert not uses_spaces("ja") and uses_spaces("de") and not uses_spaces("zh-TW")


def test_join_pieces_turns_marks_into_spaces() -> None:
    assert join_pieces(["▁We", "▁are", "▁discuss", "ing", ",", "▁ok", "."]) == (
        "We are discussing, ok."
    )
    assert join_pieces(["▁", "▁Hi", "▁▁there"]) == "Hi there"
    assert join_pieces([]) == ""
