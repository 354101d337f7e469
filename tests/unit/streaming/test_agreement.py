from server.streaming.agreement import LocalAgreement
from server.streaming.words import Word


def w(text: str, start: float) -> Word:
    return Word(" " + text, start, start + 0.25)


def test_commits_what_two_hypotheses_agree_on() -> None:
    la = LocalAgreement(2)
    committed, tail = la.insert([w("hello", 0.0), w("word", 0.3)])
    assert committed == [] and [x.key for x in tail] == ["hello", "word"]
    committed, tail = la.insert([w("hello", 0.0), w("world", 0.3), w("again", 0.6)])
    assert [x.key for x in committed] == ["hello"]
    assert [x.key for x in tail] == ["world", "again"]


def test_case_and_punctuation_do_not_block_agreement() -> None:
    la = LocalAgreement(2)
    la.insert([w("Hello,", 0.0)])
    committed, _ = la.insert([w("hello", 0.0), w("there", 0.3)])
    assert [x.key for x in committed] == ["hello"]


def test_recognized_again_committed_words_are_skipped() -> None:
    la = LocalAgreement(2)
    la.commit([w("one", 0.0), w("two", 0.3)])
    fresh = la.new_part([w("one", 0.0), w("two", 0.3), w("three", 0.6)])
    assert [x.key for x in fresh] == ["three"]


def test_n1_commits_everything() -> None:
    la = LocalAgreement(1)
    committed, tail = la.insert([w("a", 0.0), w("b", 0.3)])
    assert len(committed) == 2 and tail == []


def test_abbreviations_do_not_end_sentences() -> None:
    assert not Word(" Mr.", 0, 1).ends_sentence
    assert not Word(" J.", 0, 1).ends_sentence
    assert Word(" them.", 0, 1).ends_sentence
    assert Word(" 好。", 0, 1).ends_sentence
    assert Word(" why?", 0, 1).ends_sentence


def p(text: str, start: float, probability: float) -> Word:
    return Word(" " + text, start, start + 0.25, probability)


def test_an_improbable_word_is_not_committed_though_decodes_agree() -> None:
    # Whisper's "Thank you." over a cut-off word: stable, but its first word improbable.
    la = LocalAgreement(2, min_probability=0.1)
    hyp = [p("slightly.", 0.0, 0.99), p("Thank", 0.3, 0.05), p("you.", 0.6, 0.98)]
    la.insert(hyp)
    committed, tail = la.insert(hyp)
    assert [x.key for x in committed] == ["slightly"]
    assert [x.key for x in tail] == ["thank", "you"]


def test_an_improbable_word_is_committed_once_a_decode_is_sure_of_it() -> None:
    la = LocalAgreement(2, min_probability=0.1)
    la.insert([p("Alright,", 0.0, 0.05), p("thanks.", 0.3, 0.9)])
    committed, _ = la.insert([p("alright", 0.0, 0.6), p("thanks", 0.3, 0.95)])
    assert [x.key for x in committed] == ["alright", "thanks"]
