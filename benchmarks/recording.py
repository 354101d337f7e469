"""What one replayed stream leaves behind: frame send times and received events.

Times are `time.monotonic()` of the benchmark client process, so send and
receive times of one recording are directly comparable (same clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]


@dataclass(frozen=True)
class Received:
    at: float  # client monotonic time the event was read off the socket
    event: Event


@dataclass
class Recording:
    system: str  # "parley" or "baseline"
    stream: str  # name of the replayed stream
    sample_rate: int
    frame_samples: int  # samples per frame (the last frame may be shorter)
    audio_samples: int  # samples in the whole stream
    connect_at: float = 0.0
    ready_at: float | None = None
    sent_at: list[float] = field(default_factory=list)  # send time of frame i
    events: list[Received] = field(default_factory=list)
    stop_at: float | None = None
    end_at: float | None = None
    error: str | None = None  # transport failure or an error event; None when clean

    @property
    def audio_s(self) -> float:
        return self.audio_samples / self.sample_rate

    @property
    def frame_s(self) -> float:
        return self.frame_samples / self.sample_rate

    def frame_of(self, stream_s: float) -> int | None:
        """Index of the frame holding the sample at `stream_s` (the last one it needs)."""
        if not self.sent_at:
            return None
        sample = max(0, int(stream_s * self.sample_rate + 0.5) - 1)
        return min(sample // self.frame_samples, len(self.sent_at) - 1)

    def sent_time_of(self, stream_s: float) -> float | None:
        i = self.frame_of(stream_s)
        return None if i is None else self.sent_at[i]

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.events if r.event.get("type") == kind]

    def errors(self) -> list[Event]:
        return [r.event for r in self.of_type("error")]
