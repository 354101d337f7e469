"""`parley transcribe`'s decode on real speech: what the long-form decode leaves unheard."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import sacrebleu

from benchmarks.data import build_stream, dutch_clips, english_clips, wer
from benchmarks.policy_replay import SEQUENTIAL, clean_english, numbered_orders
from server.asr.unheard import speech_spans, unheard_spans
from server.asr.whisper import WhisperEngine
from server.models.resolve import resolve_asr
from server.transcribe import load_audio, speech_probabilities, transcribe_audio


def test_speech_left_unheard_by_an_early_end_of_text_is_decoded_again() -> None:
    # The English set in the replay's order 3, 0.6 s pauses: tiny.en's first 30 s window
    # ends after its first sentence, and the long-form decode skips the next 27 s.
    clips = dict(numbered_orders(clean_english(), 1, first=3))[3]
    stream = build_stream(clips, pause_s=0.6, name="it-order3")
    engine = WhisperEngine(resolve_asr("tiny.en"), SEQUENTIAL)
    plain = transcribe_audio(engine, stream.audio, "en", rehear=False)
    gaps = unheard_spans(plain.words, speech_spans(speech_probabilities(stream.audio)))
    assert any(end - start > 10 for start, end in gaps), gaps  # what this test is about

    full = transcribe_audio(engine, stream.audio, "en")
    print(f"WER long-form alone {wer(stream.reference, plain.text):.3f}, "
          f"with the unheard decoded again {wer(stream.reference, full.text):.3f}")
    assert wer(stream.reference, full.text) <= 0.2 < wer(stream.reference, plain.text)
    starts = [w.start for w in full.words]
    assert starts == sorted(starts)
    assert len(full.words) > len(plain.words) + 60
    assert full.asr_s > plain.asr_s


def test_parley_transcribe_prints_the_text_and_timed_words_as_json() -> None:
    clip = next(c for c in english_clips() if c.id.startswith("librivox/"))
    out = subprocess.run(
        [sys.executable, "-m", "server", "transcribe", str(clip.path), "--model", "tiny.en",
         "--language", "en", "--json"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    doc = json.loads(out.stdout)
    assert wer(clip.text, doc["text"]) <= 0.1, doc["text"]
    assert doc["language"] == "en" and doc["translation"] is None
    assert doc["audio_s"] == pytest.approx(len(load_audio(clip.path)) / 16000, abs=0.01)
    starts = [w["start"] for w in doc["words"]]
    assert len(starts) >= 15 and starts == sorted(starts)
    assert all(w["end"] >= w["start"] for w in doc["words"])


def test_parley_transcribe_refuses_a_file_that_is_not_audio(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    out = subprocess.run(
        [sys.executable, "-m", "server", "transcribe", str(bad), "--model", "tiny.en"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 2
    assert f"cannot decode {bad}" in out.stderr and "Traceback" not in out.stderr


def test_parley_transcribe_translates_dutch_speech_to_english(tmp_path: Path) -> None:
    # No MT model covers nl -> en, so Whisper's translate task gives the English.
    stream = build_stream(dutch_clips(fetch=False)[:8], pause_s=1.0, name="it-dutch-cli")
    path = tmp_path / "dutch.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(stream.audio, -1, 1) * 32767).astype("<i2").tobytes())
    out = subprocess.run(
        [sys.executable, "-m", "server", "transcribe", str(path), "--model", "base",
         "--language", "nl", "--translate-to", "en", "--json"],
        capture_output=True, text=True, timeout=600, check=True,
    )
    doc = json.loads(out.stdout)
    assert doc["language"] == "nl"
    assert wer(stream.reference, doc["text"]) < 0.5, doc["text"]
    english = doc["translation"]
    assert english and english.lower() != doc["text"].lower()
    chrf = sacrebleu.corpus_chrf([english], [[stream.reference_en or ""]]).score
    print(f"chrF {chrf:.1f}: {english}")
    assert chrf > 25, (chrf, english)  # the streaming test's floor (tests/integration/test_translate.py)
