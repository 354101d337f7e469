"""`transcribe_audio`'s second pass with a scripted engine on real speech (Silero VAD)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from server.asr.whisper import Decode, Task
from server.cli import main
from server.errors import AudioError, UnsupportedError
from server.models.languages import check_source_language
from server.models.types import AsrModelInfo, MtModelInfo
from server.mt.routes import Direct, Pivot, WhisperTranslate
from server.streaming.events import AsrRequest, AsrResult
from server.streaming.words import Word
from server.transcribe import (
    load_audio,
    transcribe_audio,
    translation_route,
)
from tests.unit.audio.helpers import SPEECH_WAV, read_wav


class EarlyEndOfText:
    """Hears only the first second of the whole file; a shorter request is heard whole."""

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self.calls: list[tuple[float, float, Task]] = []

    def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Decode:
        self.calls.append((request.start_s, request.end_s, task))
        length = request.audio.size / 16000
        if length >= self.total_s:
            words = [Word(" first", 0.2, 1.0)]
        else:
            words = [Word(" again", 0.3, length - 0.2)]
        return Decode(AsrResult(words, "nl"), asr_s=0.5)


def speech_after_silence() -> np.ndarray:
    speech = read_wav(SPEECH_WAV)  # 7.1 s of read speech
    return np.concatenate([speech[:16000], np.zeros(32000, np.float32), speech])


def test_the_translate_task_hears_the_unheard_speech_again_with_the_same_task() -> None:
    audio = speech_after_silence()
    engine = EarlyEndOfText(audio.size / 16000)
    result = transcribe_audio(engine, audio, "nl", task="translate")
    assert engine.calls[0] == (0.0, audio.size / 16000, "translate")
    again = engine.calls[1:]
    assert again and all(task == "translate" for _, _, task in again)
    # The silence after the first word is not heard again; the speech after it is.
    assert all(start > 2.0 for start, _, _ in again), again
    assert [w.text for w in result.words][:2] == [" first", " again"]
    assert result.words[1].start > 3.0
    assert result.asr_s == 0.5 * len(engine.calls)


def test_without_rehear_one_decode_is_all() -> None:
    audio = speech_after_silence()
    engine = EarlyEndOfText(audio.size / 16000)
    result = transcribe_audio(engine, audio, "en", rehear=False)
    assert engine.calls == [(0.0, audio.size / 16000, "transcribe")]
    assert result.text == "first"


def test_load_audio_decodes_a_wav_to_16_khz_mono() -> None:
    audio = load_audio(SPEECH_WAV)
    assert audio.dtype == np.float32
    assert np.allclose(audio, read_wav(SPEECH_WAV), atol=1e-3)


@pytest.mark.parametrize(("name", "content", "says"), [
    ("talk.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n", "holds no audio stream"),
    ("notes.mp3", "not audio", "not audio or video FFmpeg reads"),
])
def test_load_audio_says_why_a_file_is_not_audio(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(AudioError, match=says) as exc:
        load_audio(path)
    assert str(path) in exc.value.message


def test_a_missing_file_is_refused_before_any_model_is_looked_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.mp3"
    # An unknown model would be its own error: the file's comes first.
    assert main(["transcribe", str(missing), "--model", "no-such-model"]) == 2
    assert capsys.readouterr().err.strip() == f"parley: error: no such file: {missing}"


TINY_EN = AsrModelInfo("tiny.en", Path("/m/tiny.en"), False, ("en",))
BASE = AsrModelInfo("base", Path("/m/base"), True, ("en", "nl", "zh", "de", "fr", "es"))
ZH_EN = MtModelInfo("zh-en", "argos", Path("/m/zh-en"), Path("sp"), Path("sp"), (("zh", "en"),))
NL_DE = MtModelInfo("nl-de", "marian", Path("/m/nl-de"), Path("sp"), Path("sp"), (("nl", "de"),))
EN_DE = MtModelInfo("en-de", "marian", Path("/m/en-de"), Path("sp"), Path("sp"), (("en", "de"),))


def test_a_language_the_model_does_not_know_is_refused() -> None:
    check_source_language(TINY_EN, "en")
    check_source_language(TINY_EN, None)  # detect
    with pytest.raises(UnsupportedError, match=r"'nl' is not recognized by model 'tiny.en' \(it knows en\)") as exc:
        check_source_language(TINY_EN, "nl")
    assert exc.value.code == "unsupported_language"
    with pytest.raises(UnsupportedError, match=r"it knows 6 languages \(parley models list\)"):
        check_source_language(BASE, "xx")


def test_a_pair_goes_to_the_model_that_covers_it_else_to_whisper_or_a_pivot() -> None:
    assert translation_route(BASE, [ZH_EN, NL_DE], "nl", "de") == Direct("nl-de", "nl", "de")
    assert translation_route(BASE, [ZH_EN, NL_DE], "zh", "en") == Direct("zh-en", "zh", "en")
    assert translation_route(BASE, [ZH_EN], "nl", "en") == WhisperTranslate("base")
    # source to be detected
    assert translation_route(BASE, [NL_DE], None, "de") == Direct("nl-de", "nl", "de")
    # no zh->de model: Chinese -> English by the zh-en model, then English -> German
    assert translation_route(BASE, [ZH_EN, EN_DE], "zh", "de") == Pivot(
        Direct("zh-en", "zh", "en"), Direct("en-de", "en", "de"))


def test_a_target_that_is_no_language_is_an_unsupported_language() -> None:
    with pytest.raises(UnsupportedError, match="'xx' is not a language code") as exc:
        translation_route(BASE, [ZH_EN], "en", "xx")
    assert exc.value.code == "unsupported_language"


@pytest.mark.parametrize(("info", "source", "target", "says"), [
    (TINY_EN, "nl", "en", "no model translates nl -> en; available: zh->en"),
    (BASE, "en", "zh", "available: zh->en, any->en (Whisper translate with base)"),
    (TINY_EN, None, "de", "no model translates any language -> de"),
])
def test_a_pair_nothing_serves_says_what_is_available(
    info: AsrModelInfo, source: str | None, target: str, says: str
) -> None:
    with pytest.raises(UnsupportedError, match=re.escape(says)) as exc:
        translation_route(info, [ZH_EN], source, target)
    assert exc.value.code == "unsupported_pair"


@pytest.mark.parametrize(("flags", "says"), [
    (["--language", "nl"], "language 'nl' is not recognized by model 'tiny.en'"),
    (["--language", "NL-be"], "language 'nl' is not recognized"),  # read as a start's codes
    (["--language", "e n"], "--language must be a language code such as 'en'"),
    (["--translate-to", "ZH"], "no model translates any language -> zh"),
    (["--language", "en", "--translate-to", "zh"], "no model translates en -> zh"),
])
def test_transcribe_refuses_a_language_or_pair_before_the_model_loads(
    flags: list[str], says: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from server import transcribe

    def no_loading(*_: object) -> None:
        raise AssertionError("the model loaded for a request it cannot serve")

    monkeypatch.setattr(transcribe, "resolve_asr", lambda spec: TINY_EN)
    monkeypatch.setattr(transcribe, "translation_models", lambda specs: [ZH_EN])
    monkeypatch.setattr(transcribe, "WhisperEngine", no_loading)
    assert main(["transcribe", str(SPEECH_WAV), *flags]) == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "beam"), [([], 3), (["--beam", "1"], 1), (["--beam", "5"], 5)])
def test_transcribe_decodes_with_the_beam_it_is_given(
    flags: list[str], beam: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server import transcribe

    seen: list[int] = []

    class Loaded(Exception):
        pass

    def loading(info: AsrModelInfo, options: transcribe.AsrOptions) -> None:
        seen.append(options.beam_size)
        raise Loaded

    monkeypatch.setattr(transcribe, "resolve_asr", lambda spec: TINY_EN)
    monkeypatch.setattr(transcribe, "WhisperEngine", loading)
    with pytest.raises(Loaded):
        main(["transcribe", str(SPEECH_WAV), *flags])
    assert seen == [beam]


def test_a_beam_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["transcribe", str(SPEECH_WAV), "--beam", "0"])
    assert exc.value.code == 2
    assert "--beam" in capsys.readouterr().err
