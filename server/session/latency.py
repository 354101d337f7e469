"""Maps stream time to the arrival time of the audio frame that carried it.

`latency_ms` (docs/protocol.md) = emit time - arrival time of the frame holding the
last sample the event's text covers. Frames are recorded with the cumulative
number of 16 kHz samples decoded after them, so resampler and codec delay are
counted, not hidden.
"""

from __future__ import annotations

import bisect

SAMPLE_RATE = 16000


class ArrivalClock:
    def __init__(self, keep: int = 50_000) -> None:
        self._ends: list[int] = []  # cumulative decoded samples after each frame
        self._times: list[float] = []
        self._keep = keep

    def record(self, samples_total: int, arrival: float) -> None:
        if self._ends and samples_total <= self._ends[-1]:
            return  # the frame produced no new samples; an earlier frame covers them
        self._ends.append(samples_total)
        self._times.append(arrival)
        if len(self._ends) > 2 * self._keep:
            del self._ends[: self._keep]
            del self._times[: self._keep]

    def arrival_of(self, stream_s: float) -> float | None:
        """Arrival time of the frame holding the sample at `stream_s`."""
        if not self._ends:
            return None
        sample = int(stream_s * SAMPLE_RATE)
        i = bisect.bisect_left(self._ends, max(sample, 1))
        return self._times[min(i, len(self._times) - 1)]
