"""The incremental translation core, with a fake translator and a fake clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.mt.incremental import (
    IncrementalOptions,
    IncrementalTranslator,
    StreamRequest,
    TranslationEvent,
)
from server.mt.requests import TranslationResult


def fake_translate(req: StreamRequest) -> TranslationResult:
    """One English 'word' per source character, continuing the target prefix if any."""
    words = [f"w{ord(c) % 1000}" for c in req.text if not c.isspace()]
    if req.target_prefix:
        kept = req.target_prefix.split()
        words = kept + words[len(kept) :]
    return TranslationResult(text=" ".join(words), tokens=len(words))


def drain(stream: IncrementalTranslator, now: float) -> list[StreamRequest]:
    out = []
    while (req := stream.next_request(now)) is not None:
        out.append(req)
    return out


def answer(
    stream: IncrementalTranslator, reqs: list[StreamRequest], now: float
) -> list[TranslationEvent]:
    events: list[TranslationEvent] = []
    for req in reqs:
        events += stream.on_result(req, fake_translate(req), now)
    return events


def zh_en(**kw: object) -> IncrementalTranslator:
    return IncrementalTranslator("zh", "en", IncrementalOptions(**kw))  # type: ignore[arg-type]


def test_partial_requests_are_rate_limited() -> None:
    s = zh_en(partial_interval_s=0.5)
    s.on_partial("我们", 0.0)
    [r1] = drain(s, 0.0)
    assert not r1.final and r1.priority == "partial" and r1.text == "我们"
    answer(s, [r1], 0.05)
    s.on_partial("我们今天", 0.1)
    assert s.next_request(0.1) is None  # too soon after the previous partial
    assert s.next_deadline(0.1) == pytest.approx(0.5)
    assert s.next_request(0.49) is None
    [r2] = drain(s, 0.5)
    assert r2.text == "我们今天"


def test_one_partial_in_flight_and_only_on_change() -> None:
    s = zh_en(partial_interval_s=0.0)
    s.on_partial("你好", 0.0)
    [r1] = drain(s, 0.0)
    s.on_partial("你好世界", 1.0)
    assert s.next_request(1.0) is None  # r1 still in flight
    assert s.next_deadline(1.0) is None
    answer(s, [r1], 1.1)
    [r2] = drain(s, 1.2)
    assert r2.text == "你好世界"
    answer(s, [r2], 1.3)
    s.on_partial("你好世界", 2.0)  # unchanged source
    assert s.next_request(5.0) is None


def test_previous_partial_reused_as_prefix_minus_backoff() -> None:
    s = zh_en(partial_interval_s=0.0, prefix_backoff=2)
    s.on_partial("我们今天讨论", 0.0)
    [r1] = drain(s, 0.0)
    assert r1.target_prefix is None
    ev = answer(s, [r1], 0.1)
    words = ev[0].text.split()
    assert len(words) == 6
    s.on_partial("我们今天讨论人工智能", 0.2)  # extends the previous source
    [r2] = drain(s, 0.2)
    assert r2.target_prefix == " ".join(words[:4])
    answer(s, [r2], 0.3)
    s.on_partial("我们明天", 0.4)  # recognizer revised the tail: not an extension
    [r3] = drain(s, 0.4)
    assert r3.target_prefix is None


def test_a_partial_says_which_prefix_the_next_one_keeps() -> None:
    s = zh_en(partial_interval_s=0.0, prefix_backoff=2)
    s.on_partial("我们今天讨论", 0.0)
    [p1] = answer(s, drain(s, 0.0), 0.1)
    assert p1.stable == " ".join(p1.text.split()[:4])
    s.on_partial("我们今天讨论人工智能", 0.2)
    [r2] = drain(s, 0.2)
    assert r2.target_prefix == p1.stable
    [p2] = answer(s, [r2], 0.3)
    assert p2.text.startswith(p1.stable) and p2.stable.startswith(p1.stable)
    s.on_final(0, "我们今天讨论人工智能。", True, 0.4)
    [final] = answer(s, drain(s, 0.4), 0.5)
    assert final.final and final.stable == final.text
    # shorter than the backoff: nothing is promised
    s = zh_en(partial_interval_s=0.0, prefix_backoff=5)
    s.on_partial("我们今", 0.0)
    [p] = answer(s, drain(s, 0.0), 0.1)
    assert len(p.text.split()) == 3 and p.stable == ""
    s = zh_en(partial_interval_s=0.0, reuse_prefix=False)
    s.on_partial("我们今", 0.0)
    assert answer(s, drain(s, 0.0), 0.1)[0].stable == ""


def test_prefix_reuse_can_be_disabled_and_backoff_zero_keeps_all() -> None:
    s = zh_en(partial_interval_s=0.0, reuse_prefix=False)
    s.on_partial("我们", 0.0)
    answer(s, drain(s, 0.0), 0.0)
    s.on_partial("我们今天", 0.1)
    [r] = drain(s, 0.1)
    assert r.target_prefix is None

    s = zh_en(partial_interval_s=0.0, prefix_backoff=0)
    s.on_partial("我们", 0.0)
    [ev] = answer(s, drain(s, 0.0), 0.0)
    s.on_partial("我们今天", 0.1)
    [r] = drain(s, 0.1)
    assert r.target_prefix == ev.text


def test_prefix_backoff_counts_characters_for_targets_without_spaces() -> None:
    s = IncrementalTranslator("en", "zh", IncrementalOptions(partial_interval_s=0.0))
    s.on_partial("we talk", 0.0)
    [r1] = drain(s, 0.0)
    s.on_result(r1, TranslationResult("我们谈论", 4), 0.1)
    s.on_partial("we talk about", 0.2)
    [r2] = drain(s, 0.2)
    assert r2.target_prefix == "我们"


def test_finals_join_fragments_per_language_and_end_at_sentence_end() -> None:
    en = IncrementalTranslator("en", "zh", IncrementalOptions(partials=False))
    en.on_final(0, " Hello", False, 0.0)
    assert en.next_request(0.0) is None  # a fragment: the sentence is still open
    en.on_final(1, " world.", True, 0.1)
    [r] = drain(en, 0.1)
    assert r.final and r.priority == "final"
    assert (r.text, r.sentence, r.source_segments, r.target_prefix) == (
        "Hello world.",
        0,
        (0, 1),
        None,
    )

    zh = zh_en(partials=False)
    zh.on_final(3, "你好，", False, 0.0)
    zh.on_final(4, "世界。", True, 0.0)
    [r] = drain(zh, 0.0)
    assert r.text == "你好，世界。" and r.source_segments == (3, 4)


def test_partial_covers_open_sentence_finals_plus_tail() -> None:
    s = IncrementalTranslator("en", "de", IncrementalOptions(partial_interval_s=0.0))
    s.on_final(0, "one two.", True, 0.0)
    s.on_final(1, "three", False, 0.0)
    s.on_partial("four fi", 0.0)
    final, partial = drain(s, 0.0)
    assert final.final and final.text == "one two."
    assert not partial.final and partial.text == "three four fi"
    assert partial.sentence == 1 and partial.source_segments == (1,)


def test_final_clears_tail() -> None:
    s = IncrementalTranslator("en", "de", IncrementalOptions(partial_interval_s=0.0))
    s.on_partial("three four", 0.0)
    answer(s, drain(s, 0.0), 0.0)
    s.on_final(0, "three", False, 0.1)  # committed part of the old tail
    [r] = drain(s, 0.1)
    assert r.text == "three"  # not "three three four"


def test_stale_partial_is_discarded() -> None:
    s = zh_en(partial_interval_s=0.0)
    s.on_final(0, "你好", False, 0.0)
    [p] = drain(s, 0.0)
    s.on_final(1, "世界。", True, 0.1)  # the sentence ends while p is in flight
    [f] = drain(s, 0.1)
    assert f.final
    assert s.on_result(p, fake_translate(p), 0.2) == []
    [ev] = s.on_result(f, fake_translate(f), 0.3)
    assert ev.final and ev.sentence == 0 and ev.source_segments == (0, 1)
    s.on_partial("再见", 0.4)
    [p2] = drain(s, 0.4)
    assert p2.sentence == 1
    [ev2] = answer(s, [p2], 0.5)
    assert not ev2.final and ev2.sentence == 1


def test_identical_partial_translation_not_emitted_twice() -> None:
    s = zh_en(partial_interval_s=0.0)
    s.on_partial("你好", 0.0)
    [p1] = drain(s, 0.0)
    assert len(s.on_result(p1, TranslationResult("hello", 1), 0.0)) == 1
    s.on_partial("你好啊", 0.1)
    [p2] = drain(s, 0.1)
    assert s.on_result(p2, TranslationResult("hello", 1), 0.2) == []


def test_flush_and_close_finalize_pending_sentence() -> None:
    s = zh_en(partial_interval_s=0.0)
    s.on_final(0, "你好", False, 0.0)
    s.on_partial("世", 0.0)
    s.flush(0.1)
    [f] = drain(s, 0.1)
    assert f.final and f.text == "你好" and f.sentence == 0  # tail dropped
    s.on_final(1, "再见", False, 0.2)
    s.close(0.3)
    assert s.closed
    with pytest.raises(RuntimeError):
        s.on_partial("x", 0.3)
    [f2] = drain(s, 0.3)
    assert f2.final and f2.text == "再见" and f2.sentence == 1
    assert drain(s, 9.0) == []  # no partials after close
    assert not s.done
    events = answer(s, [f2, f], 0.4)  # out of order
    assert [(e.sentence, e.final) for e in events] == [(0, True), (1, True)]
    assert s.done


def test_blank_sentence_is_not_translated_and_keeps_its_number() -> None:
    s = zh_en(partials=False)
    s.on_final(0, "  ", True, 0.0)
    s.flush(0.0)
    assert drain(s, 0.0) == []
    assert s.sentence == 0
    s.on_final(1, "好。", True, 0.1)
    [r] = drain(s, 0.1)
    assert r.sentence == 0 and r.source_segments == (1,)


def test_overlong_sentence_is_cut() -> None:
    s = zh_en(partials=False, max_sentence_chars=10)
    s.on_final(0, "一二三四五六", False, 0.0)
    assert drain(s, 0.0) == []
    s.on_final(1, "七八九十十一", False, 0.1)
    [r] = drain(s, 0.1)
    assert r.final and r.text == "一二三四五六七八九十十一"


def test_failed_final_is_skipped_and_later_finals_released() -> None:
    s = zh_en(partials=False)
    for i in range(3):
        s.on_final(i, f"第{i}句。", True, 0.0)
    f0, f1, f2 = drain(s, 0.0)
    assert answer(s, [f2, f1], 0.1) == []  # held back behind sentence 0
    events = s.on_failed(f0, 0.2)
    assert [e.sentence for e in events] == [1, 2]
    assert s.idle


def test_failed_partial_can_be_reissued() -> None:
    s = zh_en(partial_interval_s=0.5)
    s.on_partial("你好", 0.0)
    [p] = drain(s, 0.0)
    assert s.on_failed(p, 0.1) == []
    assert s.next_request(0.2) is None  # still rate limited
    [p2] = drain(s, 0.5)
    assert p2.text == "你好"


def test_result_for_unknown_request_is_ignored() -> None:
    s = zh_en(partial_interval_s=0.0)
    s.on_final(0, "好。", True, 0.0)
    [f] = drain(s, 0.0)
    other = StreamRequest(text="好。", source="zh", target="en", final=True, sentence=0)
    assert s.on_result(other, TranslationResult("x", 1), 0.1) == []
    assert len(s.on_result(f, TranslationResult("good.", 1), 0.1)) == 1
    assert s.on_result(f, TranslationResult("good.", 1), 0.2) == []  # answered twice


@settings(max_examples=60, deadline=None)
@given(
    script=st.lists(
        st.tuples(st.sampled_from(["final", "final_eos", "partial", "tick"]), st.integers(1, 4)),
        min_size=1,
        max_size=40,
    ),
    seed=st.integers(0, 2**16),
)
def test_every_final_translated_once_and_in_order(script: list[tuple[str, int]], seed: int) -> None:
    """Any interleaving of inputs and result order: each sentence's final exactly once, in
    order, with exactly the finals' text; partial events never follow their sentence's final.
    (Whole-sentence partials end with 。 here, so finals also take partials' results.)"""
    rng = random.Random(seed)
    s = zh_en(partial_interval_s=0.3)
    now = 0.0
    seg = 0
    in_flight: list[StreamRequest] = []
    events: list[TranslationEvent] = []
    sentences: list[str] = []
    current: list[str] = []

    def pump() -> None:
        in_flight.extend(drain(s, now))
        rng.shuffle(in_flight)
        for _ in range(rng.randint(0, len(in_flight))):
            req = in_flight.pop()
            events.extend(s.on_result(req, fake_translate(req), now))

    for kind, n in script:
        now += 0.1 * n
        if kind.startswith("final"):
            text = "字" * n
            current.append(text)
            events.extend(s.on_final(seg, text, kind == "final_eos", now))
            seg += 1
            if kind == "final_eos":
                sentences.append("".join(current))
                current = []
        elif kind == "partial":
            s.on_partial("尾" * n + ("。" if n % 2 else ""), now)
        pump()
    events.extend(s.close(now))
    if current:
        sentences.append("".join(current))
    for _ in range(1000):  # bounded: a stuck stream fails instead of hanging
        if s.done:
            break
        now += 1.0
        pump()
    assert s.done and not in_flight
    finals = [e for e in events if e.final]
    assert [e.sentence for e in finals] == list(range(len(sentences)))
    assert [e.source_text for e in finals] == sentences
    finished: set[int] = set()
    for e in events:
        assert e.sentence not in finished
        if e.final:
            finished.add(e.sentence)


def test_a_complete_sentence_is_translated_afresh_and_its_final_takes_it() -> None:
    s = zh_en(partial_interval_s=0.0)
    s.on_partial("我们今天", 0.0)
    answer(s, drain(s, 0.0), 0.1)
    s.on_partial("我们今天讨论。", 0.2)  # ends a sentence: no target prefix
    [p] = drain(s, 0.2)
    assert p.target_prefix is None and not p.final
    [pe] = answer(s, [p], 0.3)
    # The final with the same text is that translation, at once: no request.
    [fe] = s.on_final(0, "我们今天讨论。", True, 0.4)
    assert fe.final and fe.text == pe.text and fe.sentence == 0 and fe.source_segments == (0,)
    assert drain(s, 0.4) == [] and s.idle


def test_a_final_rides_on_the_complete_partial_in_flight() -> None:
    s = zh_en(partial_interval_s=0.0)
    s.on_partial("你好。", 0.0)
    [p] = drain(s, 0.0)
    assert s.on_final(0, "你好。", True, 0.1) == []
    assert drain(s, 0.1) == []  # no request of its own
    assert not s.idle
    [fe] = answer(s, [p], 0.2)
    assert fe.final and fe.text == fake_translate(p).text and s.idle
    # ... unless that partial is dropped: then the final is sent after all
    s = zh_en(partial_interval_s=0.0)
    s.on_partial("你好。", 0.0)
    [p] = drain(s, 0.0)
    s.on_final(0, "你好。", True, 0.1)
    assert s.on_failed(p, 0.2) == []
    [f] = drain(s, 0.2)
    assert f.final and f.text == "你好。" and f.target_prefix is None
    [fe] = answer(s, [f], 0.3)
    assert fe.final and s.idle


def test_a_final_that_differs_or_reuse_off_is_translated_itself() -> None:
    for options, final_text in (({}, "你好吗。"), ({"reuse_complete": False}, "你好。")):
        s = zh_en(partial_interval_s=0.0, **options)
        s.on_partial("你好。", 0.0)
        answer(s, drain(s, 0.0), 0.1)
        assert s.on_final(0, final_text, True, 0.2) == []
        [f] = drain(s, 0.2)
        assert f.final and f.text == final_text
