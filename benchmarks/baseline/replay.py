"""The baseline's accuracy without a server or a clock, as benchmarks.policy_replay does
for Parley: its loop fed `min_chunk_s` of audio per iteration, every call run at once.

With no decode time, every iteration takes exactly `min_chunk_s` of new audio (the
design's best case: on a busy machine its iterations take more audio at once). Returns the
committed words, each with the stream time of the iteration that committed it (its
algorithmic latency is that minus the word's end), plus the tail `finish()` flushes at
the end of the stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.baseline.online import SAMPLE_RATE, Hypothesis, OnlineProcessor, TimedWord
from benchmarks.baseline.server import BaselineOptions, recognize


def replay_baseline(
    model: Any, stream_audio: npt.NDArray[np.float32], opts: BaselineOptions,
    language: str = "en",
) -> tuple[int, list[tuple[float, TimedWord]]]:
    """(iterations, [(stream time committed, word)]) for `stream_audio`, then 1 s of silence."""

    def recognizer(audio: npt.NDArray[np.float32], prompt: str) -> Hypothesis:
        return recognize(model, audio, prompt, language, "transcribe", opts.beam_size)

    proc = OnlineProcessor(recognizer, trim_s=opts.trim_s)
    signal = np.concatenate([stream_audio, np.zeros(SAMPLE_RATE, np.float32)])
    step = int(opts.min_chunk_s * SAMPLE_RATE)
    out: list[tuple[float, TimedWord]] = []
    iterations = 0
    for i in range(0, signal.size, step):
        proc.insert_audio(signal[i : i + step])
        iterations += 1
        now = min(i + step, signal.size) / SAMPLE_RATE
        out.extend((now, w) for w in proc.process_iter().committed)
    end = signal.size / SAMPLE_RATE
    out.extend((end, w) for w in proc.finish())
    return iterations, out
