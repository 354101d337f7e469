"""Speech recognition with faster-whisper (CTranslate2): one loaded model per process."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
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
    #: Threads per model call (0: auto, see `parallelism`).
    cpu_threads: int = 0
    #: Model calls that can run at once, from as many threads (CTranslate2 replicas that
    #: share the weights); the scheduler keeps this many in flight (0: auto).
    workers: int = 0
    #: Beam width of this engine's decodes (the batched engine's own windows take
    #: `BatchOptions.beam_size`; this one its long-form path).
    beam_size: int = 1
    #: Segments Whisper itself marks as probably not speech are dropped.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    #: Repetitive output (a hallucination loop) is dropped.
    compression_ratio_threshold: float = 2.4

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0: auto), not {self.workers}")
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, not {self.beam_size}")
        if self.cpu_threads < 0:
            raise ValueError(f"cpu_threads must be >= 0 (0: auto), not {self.cpu_threads}")

    def resolved(self, cores: int | None = None) -> AsrOptions:
        """These options with `workers` and `cpu_threads` chosen where they are 0 (auto)."""
        workers, threads = parallelism(cores or available_cores(), self.workers, self.cpu_threads)
        return replace(self, workers=workers, cpu_threads=threads)


#: `parley transcribe`'s beam: that of a batched streaming decode alone, so that the
#: replay's offline ceiling decodes as the streams it is compared with do (tiny.en,
#: fifteen replay layouts: 700 errors against 738 greedy, t = -1.4).
OFFLINE_BEAM_SIZE = 3


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parallelism(cores: int, workers: int = 0, threads: int = 0) -> tuple[int, int]:
    """(workers, threads per call) on `cores`, filling in whichever is 0.

    Auto: one worker per core up to 4, and threads such that all workers busy at once
    run at most 2 threads per core, at most 4 per call (CTranslate2's own default). On
    2 cores that is 2 workers x 2 threads: against one call at a time with CTranslate2's
    4 threads, 1.33x (whisper engine) and 1.59x (batched) the throughput, single calls
    as fast (`python -m benchmarks.asr_engine --sections workers`, docs/benchmarks-log.md).
    """
    workers = workers or max(1, min(cores, 4))
    threads = threads or max(1, min(4, cores, 2 * cores // workers))
    return workers, threads


@dataclass(frozen=True)
class Decode:
    result: AsrResult
    asr_s: float  # wall time of the model call


class WhisperEngine:
    """Wraps `faster_whisper.WhisperModel`. `transcribe` may run from `opts.workers`
    threads at once (faster-whisper's contract with `num_workers`), no more."""

    def __init__(self, info: AsrModelInfo, options: AsrOptions | None = None) -> None:
        from faster_whisper import WhisperModel

        self.info = info
        self.opts = (options or AsrOptions()).resolved()
        try:
            self._model = WhisperModel(
                str(info.path),
                device="cpu",
                compute_type=self.opts.compute_type,
                cpu_threads=self.opts.cpu_threads,
                num_workers=self.opts.workers,
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError variants
            raise ModelError(f"cannot load ASR model {info.name!r} from {info.path}: {exc}") from exc
        log.info("loaded ASR model %s (%s, workers %d, threads %d per call)", info.name,
                 self.opts.compute_type, self.opts.workers, self.opts.cpu_threads)

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
