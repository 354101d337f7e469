"""Guards on decoded tokens: silence, loops, repeated phrases, segments, late words."""

from __future__ import annotations

import pytest

from server.asr.guards import (
    Segment,
    avg_logprob,
    check_segments,
    clip_words,
    compression_ratio,
    cut_segments,
    find_loop,
    is_silence,
    phrase_repeat_at,
    repeats_phrase,
    split_segments,
    tokens_before_word,
)
from server.asr.whisper import AsrOptions
from server.streaming.words import Word

TS = 100  # timestamp_begin: token TS + k is k * 0.02 s
EOT = 95


def ts(seconds: float) -> int:
    return TS + round(seconds / 0.02)


def test_avg_logprob_as_faster_whisper() -> None:
    # score is cumulative logprob / length; faster-whisper divides by length + 1
    assert avg_logprob(-0.5, 9) == pytest.approx(-0.45)
    assert avg_logprob(0.0, 0) == 0.0


def test_silence_needs_both_no_speech_and_low_confidence() -> None:
    opts = AsrOptions()
    assert is_silence(0.9, -1.5, opts)
    assert not is_silence(0.9, -0.3, opts)  # confident text despite the no-speech token
    assert not is_silence(0.2, -1.5, opts)


def test_compression_ratio_flags_repetition() -> None:
    assert compression_ratio("") == 0.0
    assert compression_ratio("He was not an ill disposed young man.") < 1.5
    assert compression_ratio("Firefox " * 30) > 2.4


def test_find_loop() -> None:
    assert find_loop([1, 2, 3, 4, 5, 6, 7, 8], min_repeats=3, min_tokens=12) is None
    # "6, 6, 6, ..." : block [6, ","] repeated 7 times
    six = [7, 8] * 7
    assert find_loop([1] + six, min_repeats=3, min_tokens=12) == 3
    # "word, word, word": real repetition too short to count
    assert find_loop([5, 8, 5, 8, 5, 8], min_repeats=3, min_tokens=12) is None
    # a long sentence said twice is not a loop with 3 repeats required
    sentence = list(range(20, 34))
    assert find_loop(sentence * 2, min_repeats=3, min_tokens=12) is None
    assert find_loop(sentence[:5] * 3, min_repeats=3, min_tokens=12) == 5
    # single-token loops
    assert find_loop([4] * 12, min_repeats=3, min_tokens=12) == 1
    assert find_loop([4] * 11, min_repeats=3, min_tokens=12) is None


def test_repeats_phrase() -> None:
    said_twice = "You know Montreal forced aligner. you know, montreal forced aligner"
    assert repeats_phrase(said_twice, 4)
    assert repeats_phrase("this is the montreal forced aligner this is the Montreal", 4)
    assert not repeats_phrase("this is the montreal forced aligner", 4)
    # overlapping occurrences ("a a a a a") are not a phrase said twice
    assert not repeats_phrase("uh uh uh uh uh", 4)
    assert repeats_phrase("uh uh uh uh uh uh uh uh", 4)
    assert not repeats_phrase(said_twice, 0)


def test_repeats_phrase_within_a_span() -> None:
    doubled = "a harlan hour montreal forced aligner a harlan hour"
    read = ("he might have been made still more respectable than he was. "
            "He might even have been made amiable himself.")
    assert repeats_phrase(doubled, 3, 6) and repeats_phrase(doubled, 3)
    assert repeats_phrase(read, 3) and not repeats_phrase(read, 3, 6)  # 12 words apart
    assert repeats_phrase(read, 3, 12)
    # A third time close to the second counts, though the first was far.
    assert repeats_phrase("go on then x x x x x x x x go on then go on then", 3, 6)


def test_phrase_repeat_at_points_at_the_second_saying() -> None:
    assert phrase_repeat_at("a harlan hour, Montreal forced aligner. A harlan hour", 3) == 6
    assert phrase_repeat_at("go on then a b c d e f g h go on then go on then", 3, 6) == 14
    assert phrase_repeat_at("this is the montreal forced aligner", 3) is None


def test_tokens_before_word_counts_whole_words() -> None:
    pieces = {1: " a", 2: " har", 3: "lan", 4: " hour", 5: ",", 6: " a", 7: " har"}

    def decode(ids: list[int]) -> str:
        return "".join(pieces[i] for i in ids)

    tokens = list(pieces)
    assert tokens_before_word(tokens, 3, decode) == 5  # " a har lan hour ,"
    assert tokens_before_word(tokens, 1, decode) == 1
    assert tokens_before_word(tokens, 0, decode) == 0
    assert tokens_before_word(tokens, 9, decode) == 7


def test_split_segments_on_timestamp_pairs() -> None:
    tokens = [ts(0), 1, 2, ts(2.4), ts(2.4), 3, ts(5.0), EOT]
    got = split_segments(tokens, timestamp_begin=TS, eot=EOT, audio_s=6.0)
    assert got == [Segment(0.0, 2.4, (1, 2)), Segment(2.4, 5.0, (3,))]


def test_unclosed_segment_runs_to_the_audio_end() -> None:
    got = split_segments(
        [ts(0), 1, 2, ts(2.0), ts(2.0), 3, 4], timestamp_begin=TS, eot=EOT, audio_s=4.0
    )
    assert got[-1] == Segment(2.0, 4.0, (3, 4))


def test_text_without_timestamps_is_one_segment() -> None:
    got = split_segments([1, 2, 3], timestamp_begin=TS, eot=EOT, audio_s=3.5)
    assert got == [Segment(0.0, 3.5, (1, 2, 3))]


def _decode(tokens: list[int]) -> str:
    return " ".join(f"w{t}" for t in tokens)


def test_segments_after_the_audio_end_are_dropped_and_ends_clamped() -> None:
    segs = [Segment(0.0, 7.0, (1, 2)), Segment(7.0, 14.0, (3, 4))]
    check = check_segments(segs, 5.9, _decode)
    assert check.kept == [Segment(0.0, 5.9, (1, 2))]
    assert check.after_end == 1 and check.repeated == 0


def test_a_segment_repeating_an_earlier_one_is_dropped() -> None:
    segs = [Segment(0.0, 4.0, (1, 2, 3)), Segment(4.0, 5.0, (1, 2, 3)), Segment(5.0, 5.3, (9,))]
    check = check_segments(segs, 5.4, _decode)
    assert [s.tokens for s in check.kept] == [(1, 2, 3), (9,)]
    assert check.repeated == 1


def test_cut_segments_keeps_the_first_tokens() -> None:
    segs = [Segment(0.0, 1.0, (1, 2)), Segment(1.0, 2.0, (3, 4, 5))]
    assert cut_segments(segs, 3) == [Segment(0.0, 1.0, (1, 2)), Segment(1.0, 2.0, (3,))]
    assert cut_segments(segs, 0) == []


def test_words_after_the_audio_end_are_dropped() -> None:
    words = [Word(" a", 0.0, 0.5), Word(" b", 2.8, 3.4), Word(" c", 3.0, 3.2)]
    assert clip_words(words, 3.0) == [Word(" a", 0.0, 0.5), Word(" b", 2.8, 3.0)]
