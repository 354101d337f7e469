"""Speech recognition with faster-whisper (CTranslate2): one loaded model per process."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from server.errors import ModelError
from server.models.types import AsrModelInfo
from server.streaming.events import AsrRequest, AsrResult
from server.streaming.words import Word

log = logging.getLogger(__name__)

Task = Literal["transcribe", "translate"]


@dataclass(frozen=True)
class AsrOptions:
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: CTranslate2 picks (all cores)
    beam_size: int = 1
    #: Segments Whisper itself marks as probably not speech are dropped.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    #: Repetitive output (a hallucination loop) is dropped.
    compression_ratio_threshold: float = 2.4


@dataclass(frozen=True)
class Decode:
    result: AsrResult
    asr_s: float  # wall time of the model call


class WhisperEngine:
    """Wraps `faster_whisper.WhisperModel`. Not thread-safe by contract: the
    scheduler calls it from its single worker thread only."""

    def __init__(self, info: AsrModelInfo, options: AsrOptions | None = None) -> None:
        from faster_whisper import WhisperModel

        self.info = info
        self.opts = options or AsrOptions()
        try:
            self._model = WhisperModel(
                str(info.path),
                device="cpu",
                compute_type=self.opts.compute_type,
                cpu_threads=self.opts.cpu_threads,
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError variants
            raise ModelError(f"cannot load ASR model {info.name!r} from {info.path}: {exc}") from exc
        log.info("loaded ASR model %s (%s)", info.name, self.opts.compute_type)

    def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Decode:
        language = request.language
        if not self.info.multilingual:
            language = "en"
        t0 = time.perf_counter()
        segments, info = self._model.transcribe(
            request.audio,
            language=language,
            task=task,
            beam_size=self.opts.beam_size,
            temperature=0.0,
            word_timestamps=task == "transcribe",
            condition_on_previous_text=False,
            initial_prompt=request.prompt or None,
            prefix=request.prefix or None,
            vad_filter=False,
            no_speech_threshold=self.opts.no_speech_threshold,
            log_prob_threshold=self.opts.log_prob_threshold,
            compression_ratio_threshold=self.opts.compression_ratio_threshold,
        )
        words: list[Word] = []
        for seg in segments:
            if seg.compression_ratio > self.opts.compression_ratio_threshold:
                continue
            if seg.no_speech_prob > self.opts.no_speech_threshold and (
                seg.avg_logprob < self.opts.log_prob_threshold
            ):
                continue
            if seg.words:
                words.extend(Word(w.word, w.start, w.end, w.probability) for w in seg.words)
            elif seg.text.strip():
                words.append(Word(" " + seg.text.strip(), seg.start, seg.end))
        elapsed = time.perf_counter() - t0
        result = AsrResult(
            words=words,
            language=info.language,
            language_probability=float(info.language_probability),
        )
        return Decode(result=result, asr_s=elapsed)

    def warm_up(self) -> None:
        """One tiny decode so the first real request does not pay start-up costs."""
        silence = np.zeros(16000, dtype=np.float32)
        req = AsrRequest(0, silence, 0.0, 1.0, "", "en", True)
        self.transcribe(req)
