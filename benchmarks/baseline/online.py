"""The common peer design, rewritten: whisper_streaming's OnlineASRProcessor.

This is the algorithm of ufal/whisper_streaming (`whisper_online.py`, the
`HypothesisBuffer` + `OnlineASRProcessor` pair, "segment" buffer trimming),
re-implemented here so the benchmark can run it on the same model files,
audio and machine as Parley. Behaviour kept on purpose, as its authors run it:

- The whole audio buffer (since the last trim point) is re-transcribed on every
  iteration; the server calls `process_iter` once at least `min_chunk_s`
  (1.0 s) of new audio has arrived, or with everything that arrived meanwhile
  when the previous iteration took longer.
- LocalAgreement-2: a word is committed when two consecutive hypotheses agree
  on it (longest common prefix of word texts, spaces included).
- New words are kept only if they start after the last committed word
  (minus 0.1 s); up to 5 leading words that repeat the committed tail are
  dropped when the new hypothesis starts within 1 s of it.
- The prompt is the last ~200 characters of committed text that lies in the
  audio already trimmed away.
- Buffer trimming "segment", 15 s: when the buffer is longer than 15 s, it is
  cut at the end of the second-to-last Whisper segment that ends inside the
  committed text.
- `finish()` returns the uncommitted tail at the end of the stream.

Sans-I/O: the recognizer is injected (`Recognizer`), no threads, no sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
PROMPT_CHARS = 200


@dataclass(frozen=True)
class TimedWord:
    start: float
    end: float
    text: str  # as Whisper wrote it, leading space included ("" separator)


@dataclass(frozen=True)
class Hypothesis:
    """One recognizer call: its words and where its segments end (buffer-relative s)."""

    words: list[TimedWord]
    segment_ends: list[float]


class Recognizer(Protocol):
    def __call__(self, audio: npt.NDArray[np.float32], prompt: str) -> Hypothesis: ...


@dataclass
class HypothesisBuffer:
    """LocalAgreement-2 over consecutive hypotheses (stream-absolute times)."""

    committed_in_buffer: list[TimedWord] = field(default_factory=list)
    buffer: list[TimedWord] = field(default_factory=list)
    new: list[TimedWord] = field(default_factory=list)
    last_committed_time: float = 0.0

    def insert(self, words: Sequence[TimedWord], offset: float) -> None:
        shifted = [TimedWord(w.start + offset, w.end + offset, w.text) for w in words]
        self.new = [w for w in shifted if w.start > self.last_committed_time - 0.1]
        if not self.new or abs(self.new[0].start - self.last_committed_time) >= 1.0:
            return
        if not self.committed_in_buffer:
            return
        # Drop 1..5 leading new words that repeat the committed tail word for word.
        limit = min(len(self.committed_in_buffer), len(self.new), 5)
        for n in range(1, limit + 1):
            tail = " ".join(w.text for w in self.committed_in_buffer[-n:])
            head = " ".join(w.text for w in self.new[:n])
            if tail == head:
                del self.new[:n]
                break

    def flush(self) -> list[TimedWord]:
        """Commit the longest common prefix of the last two hypotheses."""
        commit: list[TimedWord] = []
        while self.new and self.buffer and self.new[0].text == self.buffer[0].text:
            word = self.new.pop(0)
            self.buffer.pop(0)
            commit.append(word)
            self.last_committed_time = word.end
        self.buffer = self.new
        self.new = []
        self.committed_in_buffer.extend(commit)
        return commit

    def pop_committed(self, time: float) -> None:
        while self.committed_in_buffer and self.committed_in_buffer[0].end <= time:
            self.committed_in_buffer.pop(0)

    def complete(self) -> list[TimedWord]:
        return list(self.buffer)


@dataclass(frozen=True)
class IterResult:
    committed: list[TimedWord]  # newly committed by this iteration (final text)
    tail: list[TimedWord]  # the uncommitted rest of the latest hypothesis
    audio_s: float  # length of the buffer that was transcribed


class OnlineProcessor:
    def __init__(self, recognizer: Recognizer, trim_s: float = 15.0) -> None:
        self.recognizer = recognizer
        self.trim_s = trim_s
        self.audio: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self.offset = 0.0  # stream time of audio[0]
        self.hyp = HypothesisBuffer()
        self.committed: list[TimedWord] = []

    def insert_audio(self, samples: npt.NDArray[np.float32]) -> None:
        self.audio = np.concatenate([self.audio, samples.astype(np.float32, copy=False)])

    @property
    def buffer_s(self) -> float:
        return self.audio.size / SAMPLE_RATE

    def prompt(self) -> str:
        """Up to ~200 characters of committed text from audio already trimmed away."""
        k = max(0, len(self.committed) - 1)
        while k > 0 and self.committed[k - 1].end > self.offset:
            k -= 1
        picked: list[str] = []
        length = 0
        for word in reversed(self.committed[:k]):
            if length >= PROMPT_CHARS:
                break
            picked.append(word.text)
            length += len(word.text) + 1
        return "".join(reversed(picked))

    def process_iter(self) -> IterResult:
        audio_s = self.buffer_s
        hypothesis = self.recognizer(self.audio, self.prompt())
        self.hyp.insert(hypothesis.words, self.offset)
        commit = self.hyp.flush()
        self.committed.extend(commit)
        if self.buffer_s > self.trim_s:
            self._chunk_completed_segment(hypothesis.segment_ends)
        return IterResult(committed=commit, tail=self.hyp.complete(), audio_s=audio_s)

    def finish(self) -> list[TimedWord]:
        """End of stream: the uncommitted tail, as whisper_streaming flushes it."""
        tail = self.hyp.complete()
        self.committed.extend(tail)
        self.hyp.buffer = []
        return tail

    def _chunk_completed_segment(self, segment_ends: list[float]) -> None:
        if not self.committed or len(segment_ends) < 2:
            return
        ends = list(segment_ends)
        last_committed = self.committed[-1].end
        cut = ends[-2] + self.offset
        while len(ends) > 2 and cut > last_committed:
            ends.pop()
            cut = ends[-2] + self.offset
        if cut <= last_committed:
            self._chunk_at(cut)

    def _chunk_at(self, time: float) -> None:
        self.hyp.pop_committed(time)
        cut = int((time - self.offset) * SAMPLE_RATE)
        self.audio = self.audio[max(cut, 0):]
        self.offset = time
