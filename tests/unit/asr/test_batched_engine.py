"""BatchedWhisperEngine's control flow on a scripted fake model (no CTranslate2 weights).

The fake stands in for `faster_whisper.WhisperModel`: its tokenizer maps words to ids, its
encoder returns zeros of the right shape, and its decoder answers from a script keyed by the
request's prompt text and the encoder window, so each test can make a short window loop,
a window sound silent, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

import faster_whisper
import numpy as np
import pytest

from server.asr.batched import BatchedWhisperEngine, BatchOptions
from server.asr.whisper import AsrOptions, Decode, WhisperEngine
from server.errors import UnsupportedError
from server.models.types import AsrModelInfo
from server.streaming.events import AsrRequest, AsrResult
from server.streaming.words import Word

SPECIALS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|de|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
]
TS_BEGIN = 5000 + len(SPECIALS)  # notimestamps + 1


class FakeHF:
    """The slice of `tokenizers.Tokenizer` faster-whisper's Tokenizer uses."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {s: 5000 + i for i, s in enumerate(SPECIALS)}
        self.pieces: dict[int, str] = {v: k for k, v in self.ids.items()}

    def token_to_id(self, piece: str) -> int | None:
        return self.ids.get(piece)

    def _id(self, piece: str) -> int:
        if piece not in self.ids:
            new = len([i for i in self.ids.values() if i < 5000]) + 1
            self.ids[piece] = new
            self.pieces[new] = piece
        return self.ids[piece]

    def encode(self, text: str, add_special_tokens: bool = False) -> Any:
        pieces = [" " + w for w in text.split(" ") if w] if text.startswith(" ") else [text]
        return SimpleNamespace(ids=[self._id(p) for p in pieces])

    def decode(self, ids: list[int]) -> str:
        return "".join(self.pieces[i] for i in ids if i < 5000)


@dataclass
class Answer:
    text: str  # what the decoder "hears", " word word"
    no_speech_prob: float = 0.01
    score: float = -0.2
    loop_below_s: float = 0.0  # windows shorter than this repeat the text 10 times
    end_s: float | None = None  # closing timestamp


@dataclass
class Calls:
    encode: list[tuple[int, int]] = field(default_factory=list)  # (rows, frames)
    generate: list[tuple[int, list[list[int]]]] = field(default_factory=list)  # (frames, prompts)
    align: list[int] = field(default_factory=list)  # rows
    beams: list[int] = field(default_factory=list)  # beam_size of each generate
    detect: int = 0


class FakeCT2:
    def __init__(self, hf: FakeHF, script: dict[str, Answer], calls: Calls, multilingual: bool):
        self.hf = hf
        self.script = script
        self.calls = calls
        self.is_multilingual = multilingual

    def encode(self, features: Any, to_cpu: bool = False) -> Any:
        import ctranslate2

        arr = np.asarray(features)
        self.calls.encode.append((arr.shape[0], arr.shape[2]))
        out = np.zeros((arr.shape[0], arr.shape[2] // 2, 4), np.float32)
        return ctranslate2.StorageView.from_array(out)

    def detect_language(self, encoded: Any) -> list[list[tuple[str, float]]]:
        self.calls.detect += 1
        return [[("<|de|>", 0.9), ("<|en|>", 0.1)] for _ in range(int(encoded.shape[0]))]

    def _answer(self, prompt: list[int]) -> Answer:
        sot = self.hf.ids["<|startoftranscript|>"]
        prev = prompt[1 : prompt.index(sot)] if prompt[0] != sot else []
        return self.script[self.hf.decode(prev).strip().split(" ")[-1] if prev else ""]

    def generate(self, encoded: Any, prompts: list[list[int]], **kw: Any) -> list[Any]:
        frames = int(encoded.shape[1]) * 2
        window_s = frames / 100
        sot = self.hf.ids["<|startoftranscript|>"]
        assert len({p.index(sot) for p in prompts}) == 1, "sot must be at one index"
        assert int(encoded.shape[0]) == len(prompts)
        self.calls.generate.append((frames, prompts))
        self.calls.beams.append(kw["beam_size"])
        out = []
        for prompt in prompts:
            ans = self._answer(prompt)
            text_ids = self.hf.encode(ans.text).ids if ans.text else []
            if window_s < ans.loop_below_s:
                text_ids = text_ids * 10
            end = ans.end_s if ans.end_s is not None else 1.0
            ids = [TS_BEGIN, *text_ids, TS_BEGIN + round(end / 0.02)] if text_ids else []
            budget = kw["max_length"] // 2
            out.append(
                SimpleNamespace(
                    sequences_ids=[ids[:budget]],
                    scores=[ans.score],
                    no_speech_prob=ans.no_speech_prob,
                )
            )
        return out


class FakeWhisperModel:
    """Replaces faster_whisper.WhisperModel for the engine under test."""

    script: ClassVar[dict[str, Answer]] = {}
    calls: ClassVar[Calls] = Calls()
    multilingual: ClassVar[bool] = False
    word_probability: ClassVar[float] = 0.9

    def __init__(self, path: str, **kw: Any) -> None:
        from faster_whisper.feature_extractor import FeatureExtractor

        self.hf_tokenizer = FakeHF()
        self.feature_extractor = FeatureExtractor()
        self.frames_per_second = 100
        self.model = FakeCT2(self.hf_tokenizer, self.script, self.calls, self.multilingual)

    def find_alignment(
        self, tokenizer: Any, text_tokens: list[list[int]], encoded: Any, num_frames: list[int]
    ) -> list[list[dict[str, Any]]]:
        assert int(encoded.shape[0]) == len(text_tokens) == len(num_frames)
        self.calls.align.append(len(text_tokens))
        return [
            [
                {
                    "word": tokenizer.decode([t]),
                    "tokens": [t],
                    "start": 0.3 * k,
                    "end": 0.3 * k + 0.25,
                    "probability": self.word_probability,
                }
                for k, t in enumerate(tokens)
            ]
            for tokens in text_tokens
        ]

    def transcribe(self, audio: Any, **kw: Any) -> Any:
        raise AssertionError("the long-form path is not expected here")


@pytest.fixture
def make_engine(monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(
        script: dict[str, Answer],
        *,
        multilingual: bool = False,
        word_probability: float = 0.9,
        **batch: Any,
    ) -> tuple[BatchedWhisperEngine, Calls]:
        calls = Calls()
        fake = type(
            "Fake",
            (FakeWhisperModel,),
            {
                "script": script,
                "calls": calls,
                "multilingual": multilingual,
                "word_probability": word_probability,
            },
        )
        monkeypatch.setattr(faster_whisper, "WhisperModel", fake)
        info = AsrModelInfo(
            name="fake",
            path=__import__("pathlib").Path("/nonexistent"),
            multilingual=multilingual,
            languages=("en", "de") if multilingual else ("en",),
        )
        # Four windows (the crowded default) unless a test says otherwise: short audio
        # then shows which bucket it took.
        batch.setdefault("window_buckets_s", (10.0, 15.0, 20.0, 30.0))
        return BatchedWhisperEngine(info, AsrOptions(), BatchOptions(**batch)), calls

    return make


def req(
    i: int, seconds: float, prompt: str, language: str | None = "en", *, final: bool = False
) -> AsrRequest:
    audio = (np.random.default_rng(i).standard_normal(int(seconds * 16000)) * 0.1).astype(
        np.float32
    )
    return AsrRequest(i, audio, 0.0, seconds, prompt, language, final)


def text(decode: Any) -> str:
    return "".join(w.text for w in decode.result.words)


def test_results_come_back_in_request_order_with_one_batch_time(make_engine: Any) -> None:
    script = {"a": Answer(" one two"), "b": Answer(" three"), "": Answer(" four five six")}
    eng, calls = make_engine(script)
    out = eng.transcribe_batch([req(0, 2, "x a"), req(1, 3, "y b"), req(2, 2.5, "")])
    assert [text(d) for d in out] == [" one two", " three", " four five six"]
    assert len({d.asr_s for d in out}) == 1
    assert calls.encode == [(3, 1000)]  # one encoder call, 10 s window (3 s + 3 s margin)
    # Prompt lengths 2, 2 and 0 ("x a", "y b", none): two generate calls.
    assert len(calls.generate) == 2
    assert calls.align == [3]  # one alignment call for the whole batch
    assert out[0].result.language == "en"


def test_each_request_gets_its_own_window_bucket(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" hi")})
    eng.transcribe_batch([req(0, 2, ""), req(1, 9, ""), req(2, 3, "")])
    assert sorted(calls.encode) == [(1, 1500), (2, 1000)]


def test_audio_with_no_room_for_the_margin_takes_the_long_form_path(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng, calls = make_engine({"": Answer(" hi")})
    long_form: list[float] = []

    def whole(self: Any, request: AsrRequest, task: str = "transcribe") -> Decode:
        long_form.append(request.end_s)
        return Decode(AsrResult(words=[Word(" long", 0.0, 1.0)], language="en"), 0.1)

    monkeypatch.setattr(WhisperEngine, "transcribe", whole)
    out = eng.transcribe_batch([req(0, 26.5, ""), req(1, 28.0, ""), req(2, 31.0, "")])
    assert long_form == [28.0, 31.0]  # 26.5 s + 3 s margin still fits 30 s
    assert [text(d) for d in out] == [" hi", " long", " long"]
    assert calls.encode == [(1, 3000)]


def test_a_crowded_call_takes_the_crowded_windows(make_engine: Any) -> None:
    eng, calls = make_engine(
        {"": Answer(" hi")}, window_buckets_s=(20.0,), crowded_window_buckets_s=(10.0, 15.0)
    )
    eng.transcribe_batch([req(0, 2, ""), req(1, 9, "")])
    assert sorted(calls.encode) == [(2, 2000)]  # alone: 20 s for both
    calls.encode.clear()
    eng.transcribe_batch([req(0, 2, ""), req(1, 9, "")], crowded=True)
    assert sorted(calls.encode) == [(1, 1000), (1, 1500)]


def test_a_call_alone_searches_a_wider_beam_than_a_crowded_one(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" hi")}, beam_size=4, crowded_beam_size=2)
    eng.transcribe_batch([req(0, 2, "")])
    eng.transcribe_batch([req(0, 2, "")], crowded=True)
    eng.alone_windows = False  # warm_up found this machine too slow for the long windows
    eng.transcribe_batch([req(0, 2, "")])
    assert calls.beams == [4, 2, 2]


def test_a_retry_keeps_the_beam_of_its_call(make_engine: Any) -> None:
    eng, calls = make_engine(
        {"": Answer(" hi", loop_below_s=30.0)}, beam_size=4, crowded_beam_size=2,
        retry_partials=True,
    )
    eng.transcribe_batch([req(0, 2, "")])
    eng.transcribe_batch([req(0, 2, "")], crowded=True)
    assert [f for f, _ in calls.generate] == [1000, 3000] * 2  # a loop on 10 s, then 30 s
    assert calls.beams == [4, 4, 2, 2]


def test_without_crowded_windows_a_crowded_call_keeps_the_windows(make_engine: Any) -> None:
    eng, calls = make_engine(
        {"": Answer(" hi")}, window_buckets_s=(20.0,), crowded_window_buckets_s=None
    )
    eng.transcribe_batch([req(0, 2, "")], crowded=True)
    assert calls.encode == [(1, 2000)]


@pytest.mark.parametrize(
    ("budget", "alone"), [(None, True), (60.0, True), (0.0, False)]
)
def test_warm_up_times_the_encoder_to_decide_the_windows_of_a_lone_call(
    make_engine: Any, budget: float | None, alone: bool
) -> None:
    eng, calls = make_engine(
        {"": Answer(" hi")}, window_buckets_s=(20.0,), crowded_window_buckets_s=(10.0,),
        alone_encode_budget_s=budget,
    )
    eng.warm_up()
    timed = len(calls.encode) - 1  # after the warm-up decode
    assert timed == (0 if budget is None else 5)
    assert eng.alone_windows is alone
    assert eng.buckets(crowded=False) == ((20.0, 30.0) if alone else (10.0, 30.0))
    assert eng.buckets(crowded=True) == (10.0, 30.0)
    calls.encode.clear()
    eng.transcribe_batch([req(0, 2, "")])
    assert calls.encode == [(1, 2000 if alone else 1000)]


def test_shared_window_uses_the_longest_audio(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" hi")}, shared_window=True)
    eng.transcribe_batch([req(0, 2, ""), req(1, 9, ""), req(2, 3, "")])
    assert calls.encode == [(3, 1500)]


def test_encoder_runs_in_chunks_and_the_decoder_once(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" hi")}, encode_batch=2)
    out = eng.transcribe_batch([req(i, 2, "") for i in range(5)])
    assert [rows for rows, _ in calls.encode] == [2, 2, 1]
    assert len(calls.generate) == 1 and len(calls.generate[0][1]) == 5
    assert all(text(d) == " hi" for d in out)


def test_batches_larger_than_max_batch_are_split(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" hi")}, max_batch=2)
    out = eng.transcribe_batch([req(i, 2, "") for i in range(5)])
    assert len(out) == 5
    assert [len(p) for _, p in calls.generate] == [2, 2, 1]


def test_a_short_window_loop_is_decoded_again_on_30_s(make_engine: Any) -> None:
    script = {"": Answer(" fire fox", loop_below_s=30.0), "ok": Answer(" fine")}
    eng, calls = make_engine(script)
    out = eng.transcribe_batch([req(0, 2.4, "", final=True), req(1, 2.0, "so ok", final=True)])
    assert text(out[0]) == " fire fox"
    assert text(out[1]) == " fine"
    assert eng.stats["retries"] == 1
    assert [frames for frames, _ in calls.generate][-1] == 3000
    assert len(calls.generate[-1][1]) == 1  # only the looping request


def test_a_partial_loop_is_cut_and_only_a_final_is_decoded_again(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" six seven", loop_below_s=30.0)})
    partial, final = req(0, 2.0, ""), req(1, 2.0, "", final=True)
    out = eng.transcribe_batch([partial, final])
    assert [text(d) for d in out] == [" six seven", " six seven"]  # the partial's loop cut
    assert eng.stats["retries"] == 1
    assert [frames for frames, _ in calls.generate] == [1000, 3000]
    assert len(calls.generate[-1][1]) == 1  # only the final request


def test_a_partial_without_retry_drops_a_phrase_said_twice(make_engine: Any) -> None:
    doubled = Answer(" a harlan hour montreal forced aligner a harlan hour")
    eng, _ = make_engine({"": doubled})
    partial, final = req(0, 4.0, ""), req(1, 4.0, "", final=True)
    out = eng.transcribe_batch([partial, final])
    assert text(out[0]) == " a harlan hour montreal forced aligner"
    # The final is retried on 30 s, where the fake says the same: kept, it may be real.
    assert text(out[1]) == doubled.text
    assert eng.stats["retries"] == 1


def test_partials_can_be_retried_too(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" six seven", loop_below_s=30.0)}, retry_partials=True)
    eng.transcribe_batch([req(0, 2.0, "")])
    assert eng.stats["retries"] == 1
    assert [frames for frames, _ in calls.generate] == [1000, 3000]


def test_without_retry_a_loop_is_cut_to_its_first_copy(make_engine: Any) -> None:
    eng, _ = make_engine({"": Answer(" six seven", loop_below_s=30.0)}, retry_on_full_window=False)
    (out,) = eng.transcribe_batch([req(0, 2.0, "")])
    assert text(out) == " six seven"
    assert eng.stats["retries"] == 0


def test_a_repetitive_final_decode_is_dropped(make_engine: Any) -> None:
    # 10 x 1 token: too short to count as a loop, but it compresses like one.
    eng, _ = make_engine({"": Answer(" six", loop_below_s=30.0)}, retry_on_full_window=False)
    (out,) = eng.transcribe_batch([req(0, 2.0, "")])
    assert out.result.words == []


def test_silence_gives_no_words(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" thank you", no_speech_prob=0.9, score=-1.5)})
    (out,) = eng.transcribe_batch([req(0, 3.0, "")])
    assert out.result.words == []
    assert calls.align == []


def test_confident_text_is_kept_despite_a_high_no_speech_probability(make_engine: Any) -> None:
    eng, _ = make_engine({"": Answer(" hello", no_speech_prob=0.9, score=-0.2)})
    (out,) = eng.transcribe_batch([req(0, 3.0, "")])
    assert text(out) == " hello"


def test_improbable_words_in_a_window_rated_silent_are_dropped(make_engine: Any) -> None:
    # Whisper's " you" on digital silence: no_speech 0.94 but a confident logprob.
    eng, _ = make_engine(
        {"": Answer(" you", no_speech_prob=0.94, score=-0.8)}, word_probability=0.1
    )
    (out,) = eng.transcribe_batch([req(0, 9.0, "")])
    assert out.result.words == []
    # The same words in a window with speech are kept.
    eng, _ = make_engine({"": Answer(" you", no_speech_prob=0.2, score=-0.8)}, word_probability=0.1)
    (out,) = eng.transcribe_batch([req(0, 9.0, "")])
    assert text(out) == " you"


def test_a_decode_stopped_by_the_token_budget_is_retried(make_engine: Any) -> None:
    # 2 s of audio: budget 8 * 2 + 10 = 26 tokens; 30 distinct words never end.
    many = " " + " ".join(f"w{k}" for k in range(30))
    eng, calls = make_engine({"": Answer(many)})
    eng.transcribe_batch([req(0, 2.0, "", final=True)])
    assert eng.stats["retries"] == 1
    assert [frames for frames, _ in calls.generate] == [1000, 3000]


def test_text_placed_after_the_audio_end_is_dropped(make_engine: Any) -> None:
    eng, _ = make_engine({"": Answer(" a b c d e f g h")})
    (out,) = eng.transcribe_batch([req(0, 1.0, "")])
    # The fake aligner puts word k at 0.3 k s: words from 1.0 s on are after the audio.
    assert text(out) == " a b c d"
    assert out.result.words[-1].end <= 1.0


def test_prompts_are_capped_to_the_most_recent_tokens(make_engine: Any) -> None:
    eng, calls = make_engine({"z": Answer(" hi")}, max_prompt_tokens=3)
    eng.transcribe_batch([req(0, 2.0, "a b c d e f x y z")])
    prompt = calls.generate[0][1][0]
    sot_prev = 5000 + SPECIALS.index("<|startofprev|>")
    assert prompt[0] == sot_prev and len(prompt) == 1 + 3 + 1  # sot_prev, 3 tokens, sot


def test_translation_gives_one_word_per_segment_without_alignment(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" good morning", end_s=1.5)}, multilingual=True)
    (out,) = eng.transcribe_batch([req(0, 2.0, "", language="de")], task="translate")
    assert [(w.text, w.start, w.end) for w in out.result.words] == [(" good morning", 0.0, 1.5)]
    assert calls.align == []
    translate = 5000 + SPECIALS.index("<|translate|>")
    assert translate in calls.generate[0][1][0]


def test_multilingual_detects_a_missing_language(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" hallo")}, multilingual=True)
    out = eng.transcribe_batch([req(0, 2.0, "", language=None), req(1, 2.0, "", language="en")])
    assert calls.detect == 1
    assert out[0].result.language == "de" and out[0].result.language_probability == 0.9
    assert out[1].result.language == "en"
    de, en = 5000 + SPECIALS.index("<|de|>"), 5000 + SPECIALS.index("<|en|>")
    prompts = calls.generate[0][1]
    assert de in prompts[0] and en in prompts[1]
    assert calls.align == [1, 1]  # align takes one start sequence: one call per language


def test_english_only_models_have_no_language_token(make_engine: Any) -> None:
    eng, calls = make_engine({"": Answer(" hi")})
    (out,) = eng.transcribe_batch([req(0, 2.0, "", language="fr")])
    assert calls.generate[0][1][0] == [5000 + SPECIALS.index("<|startoftranscript|>")]
    assert out.result.language == "en"
    assert calls.detect == 0


def test_unknown_language_is_unsupported(make_engine: Any) -> None:
    eng, _ = make_engine({"": Answer(" hi")}, multilingual=True)
    with pytest.raises(UnsupportedError):
        eng.transcribe_batch([req(0, 2.0, "", language="xx")])
