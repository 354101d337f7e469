"""LocalAgreement-n over successive hypotheses of a re-transcribed buffer.

A word is committed once `n` consecutive decodes of the growing buffer agree on
it (as the prefix after what is already committed). With n=2 this is the policy
of whisper_streaming (Machacek et al., 2023), which measured it as the best
latency/quality trade-off among the simple policies; n is a knob.
"""

from __future__ import annotations

from collections import deque

from server.streaming.words import Word

#: A re-recognized word may start this much before the last committed end.
_OVERLAP_TOLERANCE_S = 0.1
_MAX_NGRAM = 5


class LocalAgreement:
    def __init__(self, n: int = 2, min_probability: float = 0.0) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = n
        self.min_probability = min_probability
        self._history: deque[list[Word]] = deque(maxlen=max(1, n - 1))
        self._committed_tail: list[Word] = []
        self.last_committed_end = 0.0

    def reset_history(self) -> None:
        self._history.clear()

    def new_part(self, hypothesis: list[Word]) -> list[Word]:
        """The part of a full-buffer hypothesis after what is already committed."""
        fresh = [w for w in hypothesis if w.start > self.last_committed_end - _OVERLAP_TOLERANCE_S]
        tail = self._committed_tail
        # Drop a leading n-gram the model re-recognized from committed audio.
        if fresh and tail and abs(fresh[0].start - self.last_committed_end) < 1.0:
            for k in range(min(len(tail), len(fresh), _MAX_NGRAM), 0, -1):
                if [w.key for w in tail[-k:]] == [w.key for w in fresh[:k]]:
                    fresh = fresh[k:]
                    break
        return [w for w in fresh if w.key]

    def insert(
        self, hypothesis: list[Word], until: float = float("inf")
    ) -> tuple[list[Word], list[Word]]:
        """Feed one decode; return (newly committed words, uncommitted tail).

        Only words ending by `until` may be committed: a word cut off by the end
        of the window can be misheard the same way by two decodes in a row. Nor
        may a word every agreeing decode gave less than `min_probability`: the
        "Thank you." Whisper writes over a cut-off word or a breath at the window's
        end is stable across decodes, but its first word is always improbable.
        """
        fresh = self.new_part(hypothesis)
        committable = 0
        while committable < len(fresh) and fresh[committable].end <= until:
            committable += 1
        doubtful = (
            i for i in range(committable)
            if self.doubts(fresh[i]) and all(i >= len(h) or self.doubts(h[i]) for h in self._history)
        )
        committable = next(doubtful, committable)
        committed: list[Word] = []
        if self.n == 1:
            committed = fresh[:committable]
        elif len(self._history) == self._history.maxlen:
            k = 0
            while k < committable and all(
                k < len(h) and h[k].key == fresh[k].key for h in self._history
            ):
                k += 1
            committed = fresh[:k]
        tail = fresh[len(committed) :]
        self.commit(committed)
        self._history.append(tail)
        return committed, tail

    def doubts(self, word: Word) -> bool:
        """Too improbable to commit on this decode's word alone."""
        return word.probability < self.min_probability

    def commit(self, words: list[Word]) -> None:
        if not words:
            return
        self._committed_tail = (self._committed_tail + words)[-_MAX_NGRAM:]
        self.last_committed_end = max(self.last_committed_end, words[-1].end)
        # Earlier hypotheses still hold the words just committed: drop them.
        keys = [w.key for w in words]
        trimmed: deque[list[Word]] = deque(maxlen=self._history.maxlen)
        for h in self._history:
            trimmed.append(h[len(keys) :] if [w.key for w in h[: len(keys)]] == keys else [])
        self._history = trimmed
