import numpy as np

from server.asr.unheard import outside, speech_spans, unheard_spans
from server.streaming.words import Word


def w(start: float, end: float, text: str = " x") -> Word:
    return Word(text, start, end)


def test_speech_spans_are_the_runs_above_the_threshold() -> None:
    probs = np.array([0.1, 0.9, 0.8, 0.2, 0.6, 0.7], dtype=np.float32)
    assert speech_spans(probs, 0.5, window_s=1.0) == [(1.0, 3.0), (4.0, 6.0)]
    assert speech_spans(np.zeros(0, dtype=np.float32)) == []


def test_speech_the_words_cover_is_heard() -> None:
    words = [w(0.0, 0.4), w(0.5, 1.0), w(1.2, 2.0)]
    assert unheard_spans(words, [(0.0, 2.1)]) == []


def test_a_window_whose_text_ended_early_leaves_its_speech_unheard() -> None:
    # "He was not an ill-disposed young man." and then nothing until the next window.
    words = [w(0.0, 3.3), w(30.0, 31.0)]
    speech = [(0.0, 3.3), (4.0, 10.0), (10.6, 20.5), (21.0, 29.5), (30.0, 31.0)]
    # Pieces less than 1 s apart are one span, decoded whole.
    assert unheard_spans(words, speech) == [(4.0, 29.5)]


def test_a_short_stretch_of_speech_is_not_worth_a_decode() -> None:
    assert unheard_spans([w(0.0, 1.0)], [(3.0, 3.6)]) == []
    assert unheard_spans([w(0.0, 1.0)], [(3.0, 4.2)]) == [(3.0, 4.2)]


def test_the_margin_around_words_counts_as_heard() -> None:
    # Speech from 1.0 to 2.8 with words up to 1.5: uncovered from 2.0, 0.8 s, too short.
    assert unheard_spans([w(0.0, 1.5)], [(1.0, 2.8)]) == []
    assert unheard_spans([w(0.0, 1.5)], [(1.0, 2.8)], margin_s=0.2) == [(1.7, 2.8)]


def test_nothing_heard_at_all_leaves_all_speech_unheard() -> None:
    assert unheard_spans([], [(0.5, 2.0), (2.5, 4.0)]) == [(0.5, 4.0)]


def test_a_re_decode_keeps_only_words_no_earlier_word_spans() -> None:
    earlier = [w(0.0, 1.0, " man.")]
    again = [w(0.9, 1.05, " man."), w(4.0, 4.5, " Had"), w(4.5, 4.8, " he")]
    assert [x.text for x in outside(again, earlier)] == [" Had", " he"]
