"""The baseline's whisper_streaming loop, with a scripted recognizer instead of Whisper."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from benchmarks.baseline.online import (
    SAMPLE_RATE,
    Hypothesis,
    HypothesisBuffer,
    OnlineProcessor,
    TimedWord,
)


def words(*spec: tuple[str, float, float]) -> list[TimedWord]:
    return [TimedWord(s, e, t) for t, s, e in spec]


def test_local_agreement_commits_the_common_prefix_of_two_hypotheses() -> None:
    buf = HypothesisBuffer()
    buf.insert(words((" the", 0.0, 0.2), (" cat", 0.2, 0.5)), offset=0.0)
    assert buf.flush() == []  # one hypothesis agrees with nothing yet
    buf.insert(words((" the", 0.0, 0.2), (" cap", 0.2, 0.5), (" sat", 0.5, 0.8)), offset=0.0)
    assert [w.text for w in buf.flush()] == [" the"]
    assert [w.text for w in buf.complete()] == [" cap", " sat"]
    assert buf.last_committed_time == 0.2


def test_words_repeating_the_committed_tail_are_dropped() -> None:
    buf = HypothesisBuffer()
    buf.insert(words((" a", 0.0, 0.3), (" b", 0.3, 0.6)), offset=0.0)
    buf.flush()
    buf.insert(words((" a", 0.0, 0.3), (" b", 0.3, 0.6)), offset=0.0)
    assert [w.text for w in buf.flush()] == [" a", " b"]
    # After a trim the buffer starts later; Whisper re-reads " b" with a shifted time.
    buf.insert(words((" b", 0.55, 0.6), (" c", 0.6, 0.9)), offset=0.0)
    assert [w.text for w in buf.new] == [" c"]


class Scripted:
    """Returns a growing transcript of a 1-word-per-second speaker."""

    def __init__(self, total_words: int) -> None:
        self.all = [TimedWord(i + 0.1, i + 0.9, f" w{i}") for i in range(total_words)]
        self.prompts: list[str] = []
        self.offsets: list[float] = []
        self.proc: OnlineProcessor | None = None

    def __call__(self, audio: npt.NDArray[np.float32], prompt: str) -> Hypothesis:
        assert self.proc is not None
        self.prompts.append(prompt)
        start = self.proc.offset
        end = start + audio.size / SAMPLE_RATE
        seen = [TimedWord(w.start - start, w.end - start, w.text) for w in self.all
                if w.start >= start - 1e-9 and w.end <= end]
        # One Whisper segment per 5 words.
        seg_ends = [seen[i].end for i in range(4, len(seen), 5)]
        if seen and (not seg_ends or seg_ends[-1] != seen[-1].end):
            seg_ends.append(seen[-1].end)
        return Hypothesis(words=seen, segment_ends=seg_ends)


def test_the_loop_commits_everything_and_trims_the_buffer_at_segment_ends() -> None:
    rec = Scripted(total_words=40)
    proc = OnlineProcessor(rec, trim_s=15.0)
    rec.proc = proc
    committed: list[str] = []
    longest = 0.0
    for _ in range(40):
        proc.insert_audio(np.zeros(SAMPLE_RATE, dtype=np.float32))
        longest = max(longest, proc.buffer_s)
        committed += [w.text for w in proc.process_iter().committed]
    committed += [w.text for w in proc.finish()]
    assert committed == [w.text for w in rec.all]  # every word once, in order
    assert proc.offset > 0  # the buffer was trimmed ...
    assert longest < 15.0 + 6.0  # ... so it never grew far past the threshold
    # After a trim, the prompt carries committed text from the audio trimmed away.
    assert any(p.strip().startswith("w") for p in rec.prompts)
    assert all(len(p) <= 200 + 5 for p in rec.prompts)


class _ScriptedModel:
    """faster-whisper's `transcribe` shape: the script's words heard wholly in the buffer.

    Call k follows k seconds of audio (the replay feeds 1 s per iteration), so the buffer
    ends at stream time k."""

    def __init__(self, script: list[tuple[str, float, float]]) -> None:
        self.script = script
        self.calls = 0

    def transcribe(self, audio: npt.NDArray[np.float32], **_: object) -> tuple[list[object], None]:
        from types import SimpleNamespace

        self.calls += 1
        end = float(self.calls)
        start = end - audio.size / SAMPLE_RATE
        heard = [SimpleNamespace(word=t, start=s - start, end=e - start)
                 for t, s, e in self.script if s >= start and e <= end]
        return [SimpleNamespace(words=heard, end=heard[-1].end if heard else 0.0)], None


def test_replay_commits_every_word_once_with_its_commit_time() -> None:
    from benchmarks.baseline.replay import replay_baseline
    from benchmarks.baseline.server import BaselineOptions

    script = [(f" w{i}", 0.5 + 0.4 * i, 0.8 + 0.4 * i) for i in range(20)]
    audio = np.zeros(9 * SAMPLE_RATE, dtype=np.float32)
    opts = BaselineOptions(model_path="-", model_name="scripted", multilingual=False)
    iterations, committed = replay_baseline(_ScriptedModel(script), audio, opts)
    assert iterations == 10  # 9 s + 1 s of silence, 1 s per iteration
    assert [w.text for _, w in committed] == [t for t, _, _ in script]
    assert all(at >= w.end for at, w in committed)  # nothing committed before it was heard
