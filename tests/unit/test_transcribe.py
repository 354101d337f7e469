"""`transcribe_audio`'s second pass with a scripted engine on real speech (Silero VAD)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.asr.whisper import Decode, Task
from server.cli import main
from server.errors import AudioError
from server.streaming.events import AsrRequest, AsrResult
from server.streaming.words import Word
from server.transcribe import load_audio, transcribe_audio
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
