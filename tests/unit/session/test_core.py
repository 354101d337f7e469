"""The session core with a fake clock, a scripted recognizer and a scripted translator
(no models, no sockets, no event loop), as tests/unit/streaming/test_policy.py drives the
policy: transcripts, translation plans, targets added and removed, resume, errors and
backpressure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from server.audio.decode import AudioSpec
from server.config import Backlog
from server.errors import ModelError, UnsupportedError
from server.models.types import AsrModelInfo
from server.mt.requests import TranslationResult
from server.mt.routes import Direct, Pivot, Route, Transcript, WhisperTranslate
from server.protocol.events import (
    End,
    Error,
    Metrics,
    SpeakerEvent,
    Translation,
)
from server.protocol.events import (
    Transcript as TranscriptEvent,
)
from server.protocol.messages import Sequencer, StartMessage
from server.protocol.schema import schema_for
from server.session.core import Recognize, Request, SessionCore, Stage, TranslateSpeech
from server.session.resume import ReplayBuffer
from server.session.translations import Routing, TranslateText, TranslationPlan
from server.streaming.events import AsrRequest, AsrResult
from server.streaming.policy import SAMPLE_RATE, LatencyMode, PolicyOptions, latency_options
from server.streaming.words import Word
from tests.unit.streaming.test_policy import EnergyVad, ScriptedAsr, script, silence, speech

CHUNK = 1600  # 100 ms frames
PAIRS = {("en", "de"): "opus-en-de", ("en", "fr"): "opus-en-fr", ("nl", "en"): "opus-nl-en"}


def pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def upper(text: str) -> str:
    """The scripted translator: every language is the source in capitals (prefix-stable)."""
    return text.upper()


@dataclass
class Harness:
    """Runs a core as the driver does, answering every request at once (or holding them)."""

    core: SessionCore
    asr: ScriptedAsr
    now: float = 0.0
    events: list[SpeakerEvent] = field(default_factory=list)
    held: list[Request] = field(default_factory=list)
    hold_recognition: bool = False
    fail_recognition: bool = False
    fail_translation: ModelError | None = None
    english: Callable[[AsrRequest], AsrResult] | None = None
    translated: list[TranslateText] = field(default_factory=list)

    def feed(self, audio: np.ndarray, step: float = 0.1) -> None:
        n = int(step * SAMPLE_RATE)
        for i in range(0, audio.size, n):
            self.now += step
            self.core.audio(pcm(audio[i : i + n]), self.now)
            self.settle()

    def settle(self) -> None:
        """Answer requests until none is left (a deadline due by now is a request now)."""
        for _ in range(10_000):
            reqs = self.core.requests(self.now)
            if not reqs:
                due = self.core.next_deadline(self.now)
                assert due is None or due > self.now, "a deadline is due but nothing to send"
                break
            for req in reqs:
                self.answer(req)
        else:
            raise AssertionError("the core keeps asking")
        self.events.extend(self.core.events())

    def answer(self, req: Request) -> None:
        match req:
            case Recognize(request=r):
                if self.hold_recognition:
                    self.held.append(req)
                elif self.fail_recognition:
                    self.core.recognition_failed(r, ModelError("the model broke"), self.now)
                else:
                    self.core.recognized(r, self.asr(r), Stage(0.01, 0.05), self.now + 0.05)
            case TranslateText(request=r):
                self.translated.append(req)
                if self.fail_translation is not None:
                    self.core.translation_failed(req, self.fail_translation, self.now)
                else:
                    self.core.translated(req, TranslationResult(upper(r.text), 1, mt_ms=20.0),
                                         self.now + 0.02)
            case TranslateSpeech(final=f):
                assert self.english is not None, "no Whisper translation scripted"
                assert f.end > f.start and req.request.audio.size > 0
                self.core.spoken(req, self.english(req.request), 0.04, self.now)

    def release(self) -> None:
        held, self.held = self.held, []
        for req in held:
            assert isinstance(req, Recognize)
            self.core.recognized(req.request, self.asr(req.request), Stage(), self.now)
        self.settle()

    def stop(self) -> End:
        self.core.close_audio(self.now)
        self.settle()
        assert self.core.recognition_done
        for pivots in (False, True):
            self.core.close_translations(self.now, pivots=pivots)
            self.settle()
        return self.core.end("stop", self.now)

    def transcripts(self, final: bool = True) -> list[TranscriptEvent]:
        return [e for e in self.events if isinstance(e, TranscriptEvent) and e.final == final]

    def translations(self, lang: str, final: bool = True) -> list[Translation]:
        return [e for e in self.events
                if isinstance(e, Translation) and e.lang == lang and e.final == final]


def harness(
    words: list[Word], *, source: str | None = "en", targets: tuple[str, ...] = (),
    multilingual: bool = False, room: str | None = None, partials: bool = True,
    pairs: dict[tuple[str, str], str] | None = None, backlog: Backlog | None = None,
    language: str = "en", latency: LatencyMode = "fast",
) -> Harness:
    start = StartMessage(type="start", audio=AudioSpec("pcm_s16le"), source_language=source,
                         target_languages=targets, room=room, partials=partials)
    langs = ("en", "nl", "de", "fr") if multilingual else ("en",)
    routing = Routing(AsrModelInfo("tiny", Path("."), multilingual, langs),
                      PAIRS if pairs is None else pairs)
    routes: dict[str, Route] = {}
    for t in targets:
        route = routing.route(source, t)
        if not isinstance(route, Transcript):
            routes[t] = route
    core = SessionCore(start, 0.0, vad=EnergyVad(), policy=PolicyOptions(), latency=latency,
                       plan=TranslationPlan(source, routes), routing=routing, backlog=backlog)
    asr = ScriptedAsr(words)
    asr_language = language

    def recognize(req: object) -> AsrResult:
        result = ScriptedAsr.__call__(asr, req)  # type: ignore[arg-type]
        return replace(result, language=asr_language)

    h = Harness(core, asr)
    h.asr = recognize  # type: ignore[assignment]
    return h


SENTENCE = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]


def utterances(n: int, words: list[str] = SENTENCE, gap: float = 1.0) -> tuple[np.ndarray, list[Word]]:
    """`n` utterances of `words`, each followed by `gap` s of silence (an endpoint)."""
    audio, script_words, t = [silence(0.5)], [], 0.5
    for _ in range(n):
        script_words += script(t, words)
        audio += [speech(len(words) * 0.3), silence(gap)]
        t += len(words) * 0.3 + gap
    return np.concatenate(audio), script_words


def stamped(events: list[SpeakerEvent]) -> list[SpeakerEvent]:
    seq = Sequencer()
    return [replace(e, seq=seq.next()) for e in events]


# -- transcripts ---------------------------------------------------------------------------


def test_partials_then_one_final_with_words_and_latency_from_the_fake_clock() -> None:
    audio, words = utterances(1)
    h = harness(words)
    h.feed(audio)
    end = h.stop()
    finals, partials = h.transcripts(), h.transcripts(final=False)
    assert [f.text.split() for f in finals] == [SENTENCE]
    assert partials and h.events.index(partials[0]) < h.events.index(finals[0])
    assert all(finals[0].text.startswith(p.stable) for p in partials)
    final = finals[0]
    assert [w.word for w in final.words] == SENTENCE and final.reason == "endpoint"
    # The fake clock: audio arrives in real time, each decode is answered 50 ms later.
    assert final.latency_ms is not None and 0 < final.latency_ms < 2000
    assert (final.queue_ms, final.asr_ms) == pytest.approx((10.0, 50.0))
    assert any(isinstance(e, Metrics) for e in h.events)
    assert (end.segments, end.words) == (1, len(SENTENCE))
    assert end.audio_s == pytest.approx(audio.size / SAMPLE_RATE, abs=0.1)
    assert end.duration_s == pytest.approx(h.now)
    for event in stamped([*h.events, end]):
        jsonschema.validate(event.to_wire(), schema_for(event.type))


def test_the_session_latency_mode_is_the_policy_s() -> None:
    audio, words = utterances(2)
    h = harness(words, latency="accurate")
    assert h.core.policy.opts == latency_options("accurate", PolicyOptions())
    h.feed(audio)
    h.stop()
    partials, finals = h.transcripts(final=False), h.transcripts()
    assert partials and all(p.stable == "" for p in partials)  # nothing stable until the end
    assert [f.text.split() for f in finals] == [SENTENCE, SENTENCE]


def test_no_partial_transcripts_when_the_client_asked_for_none() -> None:
    audio, words = utterances(1)
    h = harness(words, partials=False, targets=("de",))
    h.feed(audio)
    h.stop()
    assert not h.transcripts(final=False) and len(h.transcripts()) == 1
    assert h.translations("de")  # translations are still made from the partials' finals


def test_flush_ends_the_utterance_now() -> None:
    audio, words = utterances(1, gap=0.0)
    h = harness(words)
    h.feed(audio)
    assert not h.transcripts()
    h.core.flush(h.now)
    h.settle()
    assert [f.reason for f in h.transcripts()] == ["flush"]


def test_an_endpoint_the_last_decode_already_heard_is_finalized_without_another() -> None:
    audio, words = utterances(1, gap=0.0)
    h = harness(words)
    last = int(0.4 * SAMPLE_RATE)
    h.feed(audio[: audio.size - last])
    h.hold_recognition = True
    h.feed(audio[audio.size - last :], step=0.4)
    assert len(h.held) == 1  # a decode of everything up to the end is in flight
    h.core.close_audio(h.now)
    h.settle()
    assert not h.core.recognition_done
    h.hold_recognition = False
    h.release()
    assert h.core.recognition_done
    assert [f.text.split() for f in h.transcripts()] == [SENTENCE]


# -- translation plans ------------------------------------------------------------------------


def test_a_direct_target_gets_each_final_translated_once() -> None:
    audio, words = utterances(2)
    h = harness(words, targets=("de",))
    ready = h.core.ready("s1", {"asr": "tiny", "mt": {}}, {"max_frame_bytes": 1, "sample_rate": 1})
    assert ready.translation == {"de": "mt"} and ready.routes["de"]["model"] == "opus-en-de"
    h.feed(audio)
    h.stop()
    finals = h.translations("de")
    assert [t.text for t in finals] == [f.text.upper() for f in h.transcripts()]
    assert [t.source_segments for t in finals] == [(0,), (1,)]
    assert all(t.via == "mt" and t.pivot_text is None and t.mt_ms == 20.0 for t in finals)
    first = h.transcripts()[0]
    assert (finals[0].start, finals[0].end) == (first.start, first.end)
    assert finals[0].latency_ms is not None and finals[0].latency_ms >= first.latency_ms  # type: ignore[operator]
    assert h.translations("de", final=False), "no partial translation"


def test_a_pivot_target_goes_through_an_unpublished_english_leg() -> None:
    audio, words = utterances(2)
    h = harness(words, source="nl", targets=("fr",), multilingual=True, language="nl")
    assert h.core.translations.describe() == {"fr": "pivot"}
    h.feed(audio)
    h.stop()
    finals = h.translations("fr")
    assert len(finals) == 2 and not h.translations("en")
    assert all(t.via == "pivot" for t in finals)
    assert [t.pivot_text for t in finals] == [f.text.upper() for f in h.transcripts()]
    assert [t.source_segments for t in finals] == [(0,), (1,)]
    assert [t.source_text for t in finals] == [f.text for f in h.transcripts()]
    for event in stamped(finals):
        jsonschema.validate(event.to_wire(), schema_for("translation"))


def test_english_by_whisper_re_reads_each_final_segments_audio() -> None:
    audio, words = utterances(2)
    h = harness(words, source="de", targets=("en",), multilingual=True, pairs={},
                language="de")
    assert h.core.translations.describe() == {"en": "whisper"}
    h.english = ScriptedAsr(script(0.5, ["hello"] * 4))
    h.feed(audio)
    h.stop()
    finals = h.translations("en")
    assert [t.via for t in finals] == ["whisper", "whisper"]
    assert [t.source_segments for t in finals] == [(0,), (1,)]
    assert finals[0].text == "hello hello hello hello" and finals[1].text == ""


def test_a_pivot_after_whispers_english_keeps_each_finals_times() -> None:
    audio, words = utterances(3)
    h = harness(words, source="de", targets=("fr",), multilingual=True,
                pairs={("en", "fr"): "opus-en-fr"}, language="de")
    route = h.core.translations.plan.routes["fr"]
    assert isinstance(route, Pivot) and isinstance(route.first, WhisperTranslate)
    h.english = lambda req: AsrResult([Word(" hello", 0.0, 0.3)], "en")
    h.feed(audio)
    h.stop()
    finals, transcripts = h.translations("fr"), h.transcripts()
    assert [t.source_segments for t in finals] == [(0,), (1,), (2,)]
    assert [(t.start, t.end) for t in finals] == [(f.start, f.end) for f in transcripts]
    assert [t.source_text for t in finals] == [f.text for f in transcripts]
    assert not h.translations("en")


def test_a_detected_language_routes_the_targets_again() -> None:
    audio, words = utterances(1)
    h = harness(words, source=None, targets=("fr",), multilingual=True, language="nl")
    route = h.core.translations.plan.routes["fr"]
    assert isinstance(route, Pivot) and isinstance(route.first, WhisperTranslate)
    h.feed(audio)
    h.stop()
    route = h.core.translations.plan.routes["fr"]
    assert isinstance(route, Pivot) and isinstance(route.first, Direct)  # nl -> en by MT now
    assert [t.via for t in h.translations("fr")] == ["pivot"]


def test_a_detected_language_nothing_serves_is_an_error_and_its_target_goes() -> None:
    audio, words = utterances(1)
    h2 = harness(words, source=None, targets=("de",), multilingual=False, language="nl",
                 pairs={("en", "de"): "opus-en-de"})
    h2.feed(audio)
    errors = [e for e in h2.events if isinstance(e, Error)]
    assert [e.code for e in errors] == ["unsupported_pair"] and "nl" in errors[0].message
    assert h2.core.translations.describe() == {}


# -- targets added and removed (room listeners) ------------------------------------------------


def test_a_target_added_mid_stream_is_served_from_then_and_removed_again() -> None:
    audio, words = utterances(3)
    third = audio.size // 3
    h = harness(words, room="r")
    h.feed(audio[:third])
    assert h.core.add_target("de") == "mt"
    assert h.core.add_target("de") == "mt"  # already served: a no-op
    h.feed(audio[third : 2 * third])
    h.core.remove_target("de", h.now)
    h.settle()
    h.feed(audio[2 * third :])
    h.stop()
    segments = [t.source_segments for t in h.translations("de")]
    assert segments == [(1,)], segments
    assert h.core.translations.describe() == {}


def test_a_target_removed_with_a_final_in_flight_still_publishes_it() -> None:
    audio, words = utterances(1)
    h = harness(words, targets=("de",))
    held: list[TranslateText] = []
    h.feed(audio[: audio.size - SAMPLE_RATE // 2])
    original = h.answer

    def hold_finals(req: Request) -> None:
        if isinstance(req, TranslateText) and req.request.final:
            held.append(req)
        else:
            original(req)

    h.answer = hold_finals  # type: ignore[method-assign]
    h.feed(audio[audio.size - SAMPLE_RATE // 2 :])
    assert held and not h.translations("de")
    h.core.remove_target("de", h.now)
    for req in held:
        h.core.translated(req, TranslationResult(upper(req.request.text), 1), h.now)
    h.settle()
    assert len(h.translations("de")) == 1


def test_adding_what_nothing_serves_or_the_source_language_is_refused() -> None:
    h = harness([], room="r")
    with pytest.raises(UnsupportedError) as err:
        h.core.add_target("ja")
    assert err.value.code == "unsupported_pair"
    with pytest.raises(UnsupportedError):
        h.core.add_target("en")


def test_the_plan_is_never_changed_in_place() -> None:
    h = harness([], targets=("de",))
    plan = h.core.translations.plan
    h.core.add_target("fr")
    assert set(plan.routes) == {"de"} and set(h.core.translations.plan.routes) == {"de", "fr"}
    with pytest.raises(TypeError):
        plan.routes["it"] = plan.routes["de"]  # type: ignore[index]


# -- resume --------------------------------------------------------------------------------------


def test_a_resumed_client_gets_the_kept_events_it_missed_and_the_stream_continues() -> None:
    audio, words = utterances(2)
    half = audio.size // 2
    h = harness(words, targets=("de",))
    seq, replay, delivered = Sequencer(), ReplayBuffer(), []
    h.feed(audio[:half])
    for event in h.events:
        wire = replace(event, seq=seq.next()).to_wire()
        replay.add(wire)
        delivered.append(wire)
    last_seen = delivered[len(delivered) // 3]["seq"]  # the connection dropped there
    h.events.clear()
    h.core.continue_audio(AudioSpec("pcm_s16le"), h.now)  # the same PCM stream goes on
    h.feed(audio[half:])
    h.stop()
    missed = replay.since(last_seen)
    assert missed and all(w["seq"] > last_seen for w in missed)
    assert all(w.get("final") is True or w["type"] in ("error", "end") for w in missed)
    expected = [w for w in delivered if w["seq"] > last_seen and w["type"] in
                ("transcript", "translation") and w["final"]]
    assert missed == expected
    assert [f.segment for f in h.transcripts()] == [1]


def test_a_resumed_connection_in_another_format_starts_a_new_decoder() -> None:
    audio, words = utterances(1)
    h = harness(words)
    h.feed(audio[: audio.size // 2])
    h.core.continue_audio(AudioSpec("pcm_f32le"), h.now)
    rest = audio[audio.size // 2 :]
    for i in range(0, rest.size, CHUNK):
        h.now += 0.1
        h.core.audio(rest[i : i + CHUNK].astype("<f4").tobytes(), h.now)
        h.settle()
    h.stop()
    assert [f.text.split() for f in h.transcripts()] == [SENTENCE]
    assert h.core.audio_s == pytest.approx(audio.size / SAMPLE_RATE, abs=0.01)


# -- errors ----------------------------------------------------------------------------------------


def test_a_failed_recognition_is_an_error_event_and_the_session_goes_on() -> None:
    audio, words = utterances(1)
    h = harness(words)
    h.fail_recognition = True
    h.feed(audio[: SAMPLE_RATE * 2])
    errors = [e for e in h.events if isinstance(e, Error)]
    assert errors and errors[0].code == "model_error"
    h.fail_recognition = False
    h.feed(audio[SAMPLE_RATE * 2 :])
    end = h.stop()
    assert end.segments == len(h.transcripts())


def test_a_failed_translation_is_an_error_a_dropped_one_is_not() -> None:
    audio, words = utterances(1)
    h = harness(words, targets=("de",))
    h.fail_translation = ModelError("mt broke")
    h.feed(audio)
    h.stop()
    assert [e.code for e in h.events if isinstance(e, Error)].count("model_error") >= 1
    assert h.translated and not h.translations("de", final=True)

    h = harness(words, targets=("de",))
    original = h.answer

    def drop_partials(req: Request) -> None:
        if isinstance(req, TranslateText) and not req.request.final:
            h.core.translation_failed(req, None, h.now)
        else:
            original(req)

    h.answer = drop_partials  # type: ignore[method-assign]
    h.feed(audio)
    h.stop()
    assert not [e for e in h.events if isinstance(e, Error)]
    assert len(h.translations("de")) == 1 and not h.translations("de", final=False)


def test_a_result_for_a_request_not_pending_is_a_bug_not_silence() -> None:
    audio, words = utterances(1)
    h = harness(words)
    h.hold_recognition = True
    h.feed(audio[: SAMPLE_RATE * 2])
    req = h.held[0]
    assert isinstance(req, Recognize)
    h.release()
    with pytest.raises(RuntimeError):
        h.core.recognized(req.request, AsrResult([], "en"), Stage(), h.now)


# -- backpressure -------------------------------------------------------------------------------


def test_backpressure_holds_audio_over_the_high_mark_and_lets_it_in_below_the_low() -> None:
    audio, words = utterances(4, gap=0.3)
    h = harness(words, backlog=Backlog(high_s=3.0, low_s=1.0))
    h.hold_recognition = True
    accepting = []
    n = SAMPLE_RATE // 10
    for i in range(0, audio.size, n):
        h.now += 0.1
        h.core.audio(pcm(audio[i : i + n]), h.now)
        h.settle()
        accepting.append(h.core.accepting_audio)
        if not h.core.accepting_audio:
            break
    assert accepting[0] and not accepting[-1]
    assert h.core.policy.backlog_s >= 3.0 and len(h.held) == 1
    h.hold_recognition = False
    h.release()
    assert h.core.accepting_audio


def test_an_idle_pipeline_never_holds_the_reader() -> None:
    h = harness([], backlog=Backlog(high_s=0.5, low_s=0.2))
    h.hold_recognition = True
    h.feed(silence(3.0))  # silence: nothing to decode, nothing in flight
    assert not h.held and h.core.accepting_audio


# -- bounded memory -----------------------------------------------------------------------------


def test_a_long_sessions_translation_bookkeeping_stays_bounded() -> None:
    audio, words = utterances(40, words=SENTENCE[:3], gap=0.8)
    h = harness(words, source="nl", targets=("fr", "de"), multilingual=True, language="nl",
                pairs={**PAIRS, ("nl", "de"): "opus-nl-de"})
    peak = 0
    n = SAMPLE_RATE // 10
    for i in range(0, audio.size, n):
        h.now += 0.1
        h.core.audio(pcm(audio[i : i + n]), h.now)
        h.settle()
        peak = max(peak, h.core.translations.tracked_segments)
    h.stop()
    finals = len(h.transcripts())
    assert finals >= 30 and len(h.translations("fr")) == len(h.translations("de")) == finals
    assert peak <= 6, peak
    assert h.core.translations.tracked_segments <= 2
