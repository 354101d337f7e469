"""The offline ceiling: `parley transcribe` on the same audio with the same model."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.data import Stream
from benchmarks.data.devset import TimedWord, score_clips
from benchmarks.scoring import TimedText, transcript_wer, translation_scores
from server.asr.whisper import OFFLINE_BEAM_SIZE, AsrOptions, WhisperEngine
from server.models.resolve import resolve_asr
from server.streaming.events import AsrRequest
from server.transcribe import SAMPLE_RATE, load_audio, transcribe_audio


def load_engine(model: str, threads: int = 0) -> WhisperEngine:
    options = AsrOptions(cpu_threads=threads, workers=1, beam_size=OFFLINE_BEAM_SIZE)
    engine = WhisperEngine(resolve_asr(model), options)
    engine.warm_up()
    return engine


def cli_audio(stream: Stream) -> npt.NDArray[np.float32]:
    """The samples `parley transcribe STREAM.wav` decodes, which are also the ones the server
    hears from the stream's 16-bit frames (both scale by 1/32768).

    Not `stream.audio`, which scales by 1/32767: faster-whisper's long-form decode is chaotic
    enough that this inaudible gain moved tiny.en's WER on the whole English set from 24.4 %
    to 27.2 % (docs/benchmarks-log.md, 2026-12-06).
    """
    return load_audio(stream.wav_path)


def offline_transcript(engine: WhisperEngine, stream: Stream, language: str) -> dict[str, Any]:
    audio = cli_audio(stream)
    t0 = time.perf_counter()
    result = transcribe_audio(engine, audio, language)
    wall = time.perf_counter() - t0
    scores = score_clips([TimedWord(w.text, w.start, w.end) for w in result.words],
                         stream.offsets) if language == "en" else []
    return {
        "wer": transcript_wer(stream.reference, result.text, language),
        # English: errors and reference words per clip, for bootstrap CIs (benchmarks.stats).
        "clip_errors": [s.errors for s in scores] or None,
        "clip_words": [s.words for s in scores] or None,
        "asr_s": round(result.asr_s, 2),
        "rtf": round(wall / stream.duration_s, 3),
        "words": len(result.words),
        "text": result.text,
    }


def offline_translation(engine: WhisperEngine, stream: Stream, language: str) -> dict[str, Any]:
    """Whisper's translate task on the whole stream, scored against the English originals."""
    audio = cli_audio(stream)
    req = AsrRequest(0, audio, 0.0, audio.size / SAMPLE_RATE, "", language, True)
    t0 = time.perf_counter()
    decode = engine.transcribe(req, task="translate")
    wall = time.perf_counter() - t0
    items = [TimedText(w.start, w.end, w.text.strip()) for w in decode.result.words]
    return {
        **translation_scores(items, stream.offsets),
        "rtf": round(wall / stream.duration_s, 3),
        "text": " ".join(i.text for i in items),
    }
