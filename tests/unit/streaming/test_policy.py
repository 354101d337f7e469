"""The streaming core with a scripted recognizer, a fake VAD and a fake clock."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from server.streaming.events import AsrRequest, AsrResult, Final, Partial
from server.streaming.policy import (
    LATENCY_MODES,
    SAMPLE_RATE,
    VAD_WINDOW,
    LatencyMode,
    PolicyOptions,
    StreamingTranscriber,
    latency_options,
)
from server.streaming.words import Word

CHUNK = 1600  # 100 ms frames


class EnergyVad:
    """Speech wherever the signal is loud: enough to script utterances."""

    def __init__(self) -> None:
        self._rest = np.zeros(0, dtype=np.float32)

    def reset_state(self) -> None:
        self.resets = getattr(self, "resets", 0) + 1

    def feed(self, samples: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._rest, samples])
        n = buf.size // VAD_WINDOW
        self._rest = buf[n * VAD_WINDOW :]
        wins = buf[: n * VAD_WINDOW].reshape(n, VAD_WINDOW)
        return (np.abs(wins).mean(axis=1) > 0.01).astype(np.float32)


def speech(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.2 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


class ScriptedAsr:
    """Returns the script's words heard completely inside the request window.

    The last word still being spoken comes out garbled, like a real model
    guessing at a cut-off word; `flaky` garbles every other decode's tail more.
    """

    def __init__(self, words: list[Word], flaky: bool = False) -> None:
        self.words = words
        self.flaky = flaky
        self.calls: list[AsrRequest] = []

    def __call__(self, req: AsrRequest) -> AsrResult:
        self.calls.append(req)
        heard = [w for w in self.words if w.start >= req.start_s - 0.05 and w.end <= req.end_s]
        out = [w.shifted(-req.start_s) for w in heard]
        cut = [w for w in self.words if w.start < req.end_s < w.end]
        if cut and not req.final:
            w = cut[0]
            out.append(Word(w.text + "-", w.start - req.start_s, req.end_s - req.start_s))
        if self.flaky and len(self.calls) % 2 and len(out) > 2 and not req.final:
            out[-1] = Word(" uh", out[-1].start, out[-1].end)
        return AsrResult(words=out, language="en")


def script(start: float, texts: list[str], dur: float = 0.3) -> list[Word]:
    return [Word(" " + t, start + i * dur, start + (i + 1) * dur - 0.02) for i, t in enumerate(texts)]


def run(
    audio: list[np.ndarray],
    asr: ScriptedAsr,
    opts: PolicyOptions | None = None,
    flush_at: float | None = None,
) -> tuple[StreamingTranscriber, list[object]]:
    policy = StreamingTranscriber(EnergyVad(), opts or PolicyOptions(), language="en")
    signal = np.concatenate(audio)
    events: list[object] = []
    now = 0.0

    def drain() -> None:
        while (req := policy.next_request(now)) is not None:
            policy.on_result(req, asr(req), now)
            events.extend(policy.events())
        events.extend(policy.events())  # an endpoint may finalize without a decode

    for i in range(0, signal.size, CHUNK):
        now = (i + CHUNK) / SAMPLE_RATE
        policy.feed(signal[i : i + CHUNK], now)
        if flush_at is not None and abs(now - flush_at) < 1e-6:
            policy.flush(now)
        drain()
    policy.close(now)
    drain()
    assert policy.done
    return policy, events


def finals(events: list[object]) -> list[Final]:
    return [e for e in events if isinstance(e, Final)]


def final_text(events: list[object]) -> list[str]:
    return [w.text.strip() for f in finals(events) for w in f.words]


WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and", "runs", "far", "away"]


def test_every_word_finalized_once_in_order() -> None:
    words = script(0.5, WORDS)
    asr = ScriptedAsr(words)
    _, events = run([silence(0.5), speech(len(WORDS) * 0.3), silence(1.5)], asr)
    assert final_text(events) == WORDS
    fs = finals(events)
    assert [f.segment for f in fs] == list(range(len(fs)))
    assert fs[-1].reason == "endpoint"


def test_partials_come_first_and_stable_part_survives() -> None:
    words = script(0.5, WORDS)
    _, events = run([silence(0.5), speech(len(WORDS) * 0.3), silence(1.5)], ScriptedAsr(words))
    partials = [e for e in events if isinstance(e, Partial)]
    assert partials, "no partial before the final"
    first_final = next(i for i, e in enumerate(events) if isinstance(e, Final))
    assert any(isinstance(e, Partial) for e in events[:first_final])
    final_by_seg = {f.segment: f.text for f in finals(events)}
    for p in partials:
        assert final_by_seg[p.segment].startswith(p.stable)


def test_words_commit_before_the_pause() -> None:
    """LocalAgreement commits while the speaker is still talking."""
    words = script(0.5, WORDS)
    _, events = run([silence(0.5), speech(len(WORDS) * 0.3), silence(1.5)], ScriptedAsr(words))
    speech_end = words[-1].end
    early = [p for p in events if isinstance(p, Partial) and p.stable and p.end < speech_end - 0.5]
    assert early, "nothing was committed until the endpoint"


def test_unstable_tail_is_not_committed() -> None:
    words = script(0.5, WORDS)
    _, events = run([silence(0.5), speech(len(WORDS) * 0.3), silence(1.5)], ScriptedAsr(words, flaky=True))
    assert final_text(events) == WORDS
    assert not any("uh" in t or t.endswith("-") for t in final_text(events))


def test_sentence_end_finalizes_early() -> None:
    texts = ["hello", "world.", "this", "is", "a", "second", "sentence", "here", "now", "ok"]
    words = script(0.5, texts)
    _, events = run([silence(0.5), speech(len(texts) * 0.3), silence(1.5)], ScriptedAsr(words))
    fs = finals(events)
    assert fs[0].text == "hello world." and fs[0].reason == "sentence"
    assert final_text(events) == [t for t in texts]


def test_two_utterances_two_endpoints() -> None:
    a, b = WORDS[:5], WORDS[5:]
    words = script(0.5, a) + script(0.5 + 1.5 + 1.5, b)
    audio = [silence(0.5), speech(1.5), silence(1.5), speech(len(b) * 0.3), silence(1.5)]
    _, events = run(audio, ScriptedAsr(words))
    assert final_text(events) == a + b
    assert [f.reason for f in finals(events)].count("endpoint") == 2


def test_silence_produces_no_decode_and_no_captions() -> None:
    asr = ScriptedAsr([])
    _, events = run([silence(5.0)], asr)
    assert asr.calls == []
    assert events == []


def test_words_in_silence_are_dropped() -> None:
    """A hallucinated word where the VAD heard nothing never reaches a caption."""
    real = script(0.5, ["hello", "there"])
    ghost = Word(" thanks", 3.0, 3.4)  # inside the trailing silence
    _, events = run([silence(0.5), speech(0.6), silence(3.0)], ScriptedAsr(real + [ghost]))
    assert final_text(events) == ["hello", "there"]


def test_flush_ends_the_utterance_now() -> None:
    words = script(0.5, WORDS[:6])
    _, events = run([silence(0.5), speech(1.8), speech(1.0)], ScriptedAsr(words), flush_at=2.3)
    fs = finals(events)
    assert fs and fs[0].reason == "flush"
    assert final_text(events)[:6] == WORDS[:6]


def test_stop_mid_speech_finalizes_everything() -> None:
    words = script(0.5, WORDS[:6])
    _, events = run([silence(0.5), speech(1.8)], ScriptedAsr(words))
    assert final_text(events) == WORDS[:6]
    assert finals(events)[-1].reason == "stop"


def test_long_utterance_is_cut_and_buffer_bounded() -> None:
    many = (WORDS * 6)[:70]  # 21 s of continuous speech
    words = script(0.5, many)
    opts = replace(PolicyOptions(), max_segment_s=5.0, max_buffer_s=6.0, sentence_finals=False)
    asr = ScriptedAsr(words)
    _, events = run([silence(0.5), speech(len(many) * 0.3), silence(1.5)], asr, opts)
    assert final_text(events) == many
    assert any(f.reason == "max_length" for f in finals(events))
    longest = max(r.end_s - r.start_s for r in asr.calls)
    assert longest <= opts.max_buffer_s + 1.0


def test_request_discipline() -> None:
    policy = StreamingTranscriber(EnergyVad(), PolicyOptions(), language="en")
    policy.feed(speech(1.0), 1.0)
    req = policy.next_request(1.0)
    assert req is not None
    assert policy.next_request(1.0) is None  # one in flight at a time
    with pytest.raises(RuntimeError):
        policy.on_result(replace(req, id=req.id + 1), AsrResult([], "en"), 1.1)
    policy.on_result(req, AsrResult([], "en"), 1.1)


def test_the_streams_first_window_opens_on_lent_silence() -> None:
    policy = StreamingTranscriber(EnergyVad(), PolicyOptions(), language="en")
    lead = int(policy.opts.pre_roll_s * SAMPLE_RATE)
    policy.feed(speech(1.0), 1.0)
    req = policy.next_request(1.0)
    assert req is not None
    assert req.start_s == pytest.approx(-policy.opts.pre_roll_s) and req.end_s == 1.0
    assert req.audio.size == lead + SAMPLE_RATE and not req.audio[:lead].any()
    # A word timed into the lent silence starts at the stream's start.
    policy.on_result(req, AsrResult([Word(" so", 0.2, 0.5), Word(" far", 0.5, 0.8)], "en"), 1.1)
    policy.close(1.1)
    while (req := policy.next_request(1.1)) is not None:
        assert req.final
        policy.on_result(req, AsrResult([Word(" so", 0.2, 0.5), Word(" far", 0.5, 0.8)], "en"), 1.2)
    words = [w for f in finals(policy.events()) for w in f.words]
    assert [(w.text, w.start) for w in words] == [(" so", 0.0), (" far", pytest.approx(0.2))]


def test_later_windows_open_on_the_streams_own_audio() -> None:
    asr = ScriptedAsr(script(0.0, ["one", "two"]) + script(6.0, ["three", "four"]))
    run([speech(0.6), silence(5.4), speech(0.6), silence(1.0)], asr)
    later = [r for r in asr.calls if r.end_s > 6.0]  # the first utterance's audio trimmed
    assert later and all(r.start_s >= 0 for r in later)
    assert asr.calls[0].start_s < 0


def test_backlog_reports_undecoded_audio() -> None:
    policy = StreamingTranscriber(EnergyVad(), PolicyOptions(), language="en")
    policy.feed(speech(3.0), 3.0)
    assert policy.backlog_s > 2.5


def test_backlog_leaves_out_the_context_kept_from_earlier_speech() -> None:
    """The buffer keeps decoded audio as context; a new utterance's backlog is its own
    audio. (Counting the context once held a session's reader back with no decode
    to wait for: a deadlock.)"""
    policy = StreamingTranscriber(EnergyVad(), PolicyOptions(), language="en")
    asr = ScriptedAsr(script(0.0, ["one", "two", "three", "four", "five", "six"]))
    t, held = 0.0, None
    for n, chunk in enumerate((speech(2.0), silence(1.0), speech(0.2))):
        for i in range(0, chunk.size, CHUNK):
            policy.feed(chunk[i:i + CHUNK], t)
            t += CHUNK / SAMPLE_RATE
            if held is None and (req := policy.next_request(t)) is not None:
                if n == 0:
                    policy.on_result(req, asr(req), t)
                else:
                    held = req  # a decode still running when speech resumes
    assert held is not None
    policy.on_result(held, asr(held), t)
    while (req := policy.next_request(t)) is not None:
        policy.on_result(req, asr(req), t)
    assert 0.0 < policy.backlog_s <= 0.2 + policy.opts.pre_roll_s + 0.05


class DeafAfterContext(ScriptedAsr):
    """A decode whose window holds the previous utterance hears nothing (as Whisper
    sometimes does after context audio and a prompt: it transcribes the context only,
    or drops the window in its no-speech check)."""

    def __call__(self, req: AsrRequest) -> AsrResult:
        result = super().__call__(req)
        return AsrResult([], "en") if req.start_s < 2.5 < req.end_s else result


@pytest.mark.parametrize("interval", [0.3, 1.0])
def test_an_utterance_unheard_after_context_is_decoded_alone(interval: float) -> None:
    first, second = WORDS[:5], WORDS[5:10]
    asr = DeafAfterContext(script(0.5, first) + script(3.0, second))
    opts = replace(PolicyOptions(), decode_interval_s=interval)  # 1.0: a final decode
    _, events = run([silence(0.5), speech(1.5), silence(1.0), speech(1.5), silence(1.5)], asr, opts)
    assert final_text(events) == first + second
    alone = [r for r in asr.calls if r.start_s >= 2.5]
    assert alone and all(r.prompt == "" for r in alone)


class DeafFinals(ScriptedAsr):
    def __call__(self, req: AsrRequest) -> AsrResult:
        result = super().__call__(req)
        return AsrResult([], "en") if req.final else result


def test_words_the_partials_showed_survive_a_final_decode_that_hears_nothing() -> None:
    asr = DeafFinals(script(0.5, WORDS[:5]))
    opts = replace(PolicyOptions(), decode_interval_s=1.0)  # endpoints need a final decode
    _, events = run([silence(0.5), speech(1.5), silence(1.5)], asr, opts)
    assert any(r.final for r in asr.calls)
    shown = [e for e in events if isinstance(e, Partial)][-1]
    assert " ".join(final_text(events)) == shown.text.strip()


class EndsEarlyAfterSilence(ScriptedAsr):
    """Whisper ending its text early: a window that opens more than a second before
    the speech hears only its first `after_s`, as tiny.en on a window opening with
    4 s of digital silence (every decode of the utterance ended at 9.4 s of 11.1,
    seven words short); the utterance alone, from its pre-roll, is heard to its end."""

    def __init__(self, words: list[Word], after_s: float) -> None:
        super().__init__(words)
        self.cut = words[0].start + after_s

    def __call__(self, req: AsrRequest) -> AsrResult:
        result = super().__call__(req)
        if req.start_s > self.words[0].start - 1.0:
            return result
        return AsrResult([w for w in result.words if w.end + req.start_s <= self.cut], "en")


def run_lagging(audio: list[np.ndarray], asr: ScriptedAsr, lag: int) -> list[object]:
    """`run` with each decode's result arriving `lag` frames after its request (a
    sender faster than the recognizer), and `close` right after the last frame."""
    policy = StreamingTranscriber(EnergyVad(), PolicyOptions(), language="en")
    signal = np.concatenate(audio)
    events: list[object] = []
    pending: tuple[AsrRequest, int] | None = None
    now = 0.0
    for n, i in enumerate(range(0, signal.size, CHUNK)):
        now = (i + CHUNK) / SAMPLE_RATE
        policy.feed(signal[i : i + CHUNK], now)
        if pending is not None and n >= pending[1]:
            policy.on_result(pending[0], asr(pending[0]), now)
            pending = None
        if pending is None and (req := policy.next_request(now)) is not None:
            pending = (req, n + lag)
        events.extend(policy.events())
    policy.close(now)
    if pending is not None:
        policy.on_result(pending[0], asr(pending[0]), now)
    while (req := policy.next_request(now)) is not None:
        policy.on_result(req, asr(req), now)
    events.extend(policy.events())
    assert policy.done
    return events


@pytest.mark.parametrize("lag", [0, 2, 4, 6, 8, 12, 16, 20, 30, 39, 1000])
def test_speech_a_decode_with_context_left_unheard_at_the_end_is_decoded_alone(
    lag: int,
) -> None:
    """6 s of silence (4 s of it kept as context), then an utterance and `stop` at once.
    Every decode whose window holds the silence ends its text after 1.5 s of the 3.9 s
    of speech. However far the decodes lag (1000: none before `stop`), every word is
    finalized: what the partials committed decides only whether the final decode hears
    nothing new or a part of the rest."""
    words = script(6.0, WORDS)
    asr = EndsEarlyAfterSilence(words, after_s=1.5)
    events = run_lagging([silence(6.0), speech(len(WORDS) * 0.3), silence(0.8)], asr, lag)
    assert final_text(events) == WORDS
    alone = [r for r in asr.calls if r.start_s >= 5.0]
    assert any(r.final for r in alone) and all(r.prompt == "" for r in alone)


def test_a_partial_that_heard_the_endpoint_but_not_its_speech_does_not_stand_as_final() -> None:
    """The latest partial decoded past the endpoint, so its hypothesis would stand in
    for a final decode; but it left 2.4 s of speech unheard after its last word."""
    words = script(6.0, WORDS)
    asr = EndsEarlyAfterSilence(words, after_s=1.5)
    audio = [silence(6.0), speech(len(WORDS) * 0.3), silence(0.8)]
    events = run_lagging(audio, asr, lag=20)
    last_partial = [r for r in asr.calls if not r.final][-1]
    assert last_partial.start_s < 5.0 and last_partial.end_s > words[-1].end + 0.2
    assert final_text(events) == WORDS
    assert asr.calls[-1].final and asr.calls[-1].start_s >= 5.0


class GhostTail(ScriptedAsr):
    """Partial decodes add a word nobody said (Whisper's "Thank you." after the last
    word); the final decode, hearing the whole utterance, does not."""

    GHOST = Word(" thanks", 1.5, 1.8)

    def __call__(self, req: AsrRequest) -> AsrResult:
        result = super().__call__(req)
        if req.final or req.end_s < self.GHOST.end:
            return result
        return AsrResult([*result.words, self.GHOST.shifted(-req.start_s)], "en")


def test_a_tail_the_final_decode_does_not_confirm_is_dropped() -> None:
    asr = GhostTail(script(0.5, WORDS[:2]))
    # Decodes at 1.2 and 2.2 s; the endpoint (speech end + post-roll) lies past the
    # last, so it takes a final decode, and less than 1 s of speech is left unheard.
    opts = replace(PolicyOptions(), decode_interval_s=1.0, post_roll_s=0.35)
    _, events = run([silence(0.5), speech(1.5), silence(1.5)], asr, opts)
    assert [r.final for r in asr.calls] == [False, False, True]
    assert any(isinstance(e, Partial) and "thanks" in e.unstable for e in events)
    assert final_text(events) == WORDS[:2]


class ImprobableGhost(GhostTail):
    GHOST = Word(" Thank", 1.5, 1.8, probability=0.02)


def test_an_improbable_tail_is_decoded_again_not_taken_as_final() -> None:
    asr = ImprobableGhost(script(0.5, WORDS[:2]))
    _, events = run([silence(0.5), speech(1.5), silence(1.5)], asr)
    # Partials heard up to the endpoint, which would let their tail stand as final.
    assert any(isinstance(e, Partial) and "Thank" in e.unstable for e in events)
    assert asr.calls[-1].final
    assert final_text(events) == WORDS[:2]


class ClosingGhost(ScriptedAsr):
    """Final decodes close the utterance with a sentence nobody said, opening on
    a word of probability `p` (Whisper's "thanks. This is the first one.")."""

    def __init__(self, words: list[Word], p: float) -> None:
        super().__init__(words)
        self.ghost = [
            Word(" This", 1.3, 1.5, p),
            Word(" is", 1.5, 1.7, 0.5),
            Word(" it.", 1.7, 1.9, 0.4),
        ]

    def __call__(self, req: AsrRequest) -> AsrResult:
        result = super().__call__(req)
        if not req.final:
            return result
        return AsrResult([*result.words, *(w.shifted(-req.start_s) for w in self.ghost)], "en")


@pytest.mark.parametrize(
    ("p", "cut", "kept"),
    [(0.01, True, []), (0.01, False, ["This", "is", "it."]), (0.6, True, ["This", "is", "it."])],
)
def test_a_closing_sentence_opening_on_an_improbable_word_is_cut_from_the_final(
    p: float, cut: bool, kept: list[str]
) -> None:
    asr = ClosingGhost(script(0.5, ["the", "quick."]), p)
    opts = replace(PolicyOptions(), decode_interval_s=1.0, post_roll_s=0.35, final_cut_closing=cut)
    _, events = run([silence(0.5), speech(1.5), silence(1.5)], asr, opts)
    assert asr.calls[-1].final
    assert final_text(events) == ["the", "quick.", *kept]


def two_utterances_far_apart(opts: PolicyOptions) -> tuple[list[str], ScriptedAsr]:
    """Five words at 0.5 s, five more at 8 s (the second's windows open after the first);
    the first utterance's words and the recognizer with every request it was given."""
    first, second = WORDS[:5], WORDS[5:10]
    asr = ScriptedAsr(script(0.5, first) + script(8.0, second))
    _, events = run([silence(0.5), speech(1.5), silence(6.0), speech(1.5), silence(1.5)], asr, opts)
    assert final_text(events) == first + second
    return first, asr


@pytest.mark.parametrize("chars", [0, 10, 200])
def test_prompt_is_the_finalized_text_before_the_window(chars: int) -> None:
    first, asr = two_utterances_far_apart(replace(PolicyOptions(), prompt_chars=chars))
    later = [r for r in asr.calls if r.end_s > 8.0 and not r.final]
    assert later
    expected = " ".join(first)[-chars:] if chars else ""
    assert {r.prompt.strip() for r in later} == {expected.strip()}


@pytest.mark.parametrize("prompt_finals", [False, True])
def test_final_decodes_are_unprompted_unless_asked(prompt_finals: bool) -> None:
    # Decodes only at endpoints: every request is a final one.
    opts = replace(PolicyOptions(), decode_interval_s=100.0, prompt_finals=prompt_finals)
    first, asr = two_utterances_far_apart(opts)
    second_final = [r for r in asr.calls if r.end_s > 8.0]
    assert len(second_final) == 1 and second_final[0].final
    assert second_final[0].prompt.strip() == (" ".join(first) if prompt_finals else "")


# -- latency modes -------------------------------------------------------------------


def timed_run(
    audio: list[np.ndarray], asr: ScriptedAsr, opts: PolicyOptions
) -> list[tuple[float, object]]:
    """`run`, with the fake-clock time at which each event came out."""
    policy = StreamingTranscriber(EnergyVad(), opts, language="en")
    signal = np.concatenate(audio)
    out: list[tuple[float, object]] = []
    now = 0.0
    for i in range(0, signal.size, CHUNK):
        now = (i + CHUNK) / SAMPLE_RATE
        policy.feed(signal[i : i + CHUNK], now)
        while (req := policy.next_request(now)) is not None:
            policy.on_result(req, asr(req), now)
        out.extend((now, e) for e in policy.events())
    policy.close(now)
    while (req := policy.next_request(now)) is not None:
        policy.on_result(req, asr(req), now)
    out.extend((now, e) for e in policy.events())
    assert policy.done
    return out


def _words(n: int, start: float = 0.5) -> list[Word]:
    return script(start, [f"w{i}" for i in range(n)])


def test_fast_is_todays_policy() -> None:
    assert latency_options("fast") == PolicyOptions()
    custom = PolicyOptions(endpoint_silence_s=0.8)
    assert latency_options("fast", custom) == custom
    assert latency_options("accurate", custom).endpoint_silence_s == 0.8  # base kept


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="latency must be one of"):
        latency_options("slow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latency must be one of"):
        PolicyOptions(latency="slow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="30 s window"):
        PolicyOptions(max_utterance_s=25.0)


@pytest.mark.parametrize("mode", LATENCY_MODES)
def test_every_mode_finalizes_every_word_once_in_order(mode: LatencyMode) -> None:
    first, second = script(0.5, WORDS), script(6.0, WORDS[:5])
    audio = [silence(0.5), speech(len(WORDS) * 0.3), silence(1.6), speech(1.5), silence(1.5)]
    events = [e for _, e in timed_run(audio, ScriptedAsr(first + second), latency_options(mode))]
    assert final_text(events) == WORDS + WORDS[:5]


def test_accurate_partials_have_no_stable_part_and_finals_wait_for_the_end() -> None:
    words = script(0.5, WORDS)
    asr = ScriptedAsr(words, flaky=True)
    timed = timed_run([silence(0.5), speech(len(WORDS) * 0.3), silence(1.5)], asr,
                      latency_options("accurate"))
    partials = [e for _, e in timed if isinstance(e, Partial)]
    assert partials and all(p.stable == "" and p.unstable for p in partials)
    fs = [(t, e) for t, e in timed if isinstance(e, Final)]
    assert len(fs) == 1  # one final for the utterance: no sentence finals
    at, final = fs[0]
    assert at >= words[-1].end + latency_options("accurate").endpoint_silence_s
    assert final.reason == "endpoint" and final_text([final]) == WORDS
    # That final is a decode of the whole utterance, not the last partial's words.
    last = asr.calls[-1]
    assert last.final and last.start_s <= words[0].start and last.end_s >= words[-1].end


def test_fast_commits_during_the_utterance_where_accurate_does_not() -> None:
    words = script(0.5, WORDS)
    audio = [silence(0.5), speech(len(WORDS) * 0.3), silence(1.5)]
    fast = timed_run(audio, ScriptedAsr(words), latency_options("fast"))
    early = [t for t, e in fast if isinstance(e, Partial) and e.stable]
    assert early and early[0] < words[-1].end


def test_balanced_finals_come_sooner_than_accurate_in_unbroken_speech() -> None:
    words = _words(90)  # 27 s without a pause
    audio = [silence(0.5), speech(27.0), silence(1.5)]

    def finals_of(mode: LatencyMode) -> list[tuple[float, Final]]:
        timed = timed_run(audio, ScriptedAsr(words), latency_options(mode))
        assert all(e.stable == "" for _, e in timed if isinstance(e, Partial))
        return [(t, e) for t, e in timed if isinstance(e, Final)]

    balanced, accurate = finals_of("balanced"), finals_of("accurate")
    opts = latency_options("balanced")
    assert opts.max_utterance_s is not None
    for fs in (balanced, accurate):
        assert final_text([f for _, f in fs]) == [w.text.strip() for w in words]
    assert len(balanced) >= 3 and {f.reason for _, f in balanced[:-1]} == {"max_length"}
    # No word waits for its final longer than the cap, the grace and a decode.
    longest = opts.max_utterance_s + opts.max_utterance_grace_s + 0.5
    assert all(t - w.end <= longest for t, f in balanced for w in f.words)
    assert balanced[0][0] < accurate[0][0] - 10.0


def test_accurate_splits_unbroken_speech_at_max_utterance() -> None:
    words = _words(90)  # 27 s without a pause
    opts = latency_options("accurate")
    assert opts.max_utterance_s is not None
    timed = timed_run([silence(0.5), speech(27.0), silence(1.5)], ScriptedAsr(words), opts)
    fs = [e for _, e in timed if isinstance(e, Final)]
    assert final_text(fs) == [w.text.strip() for w in words]
    assert [f.reason for f in fs] == ["max_length", "endpoint"]
    assert fs[0].end - words[0].start <= opts.max_utterance_s + opts.max_utterance_grace_s
