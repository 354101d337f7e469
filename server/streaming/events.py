"""Events the streaming core emits. The session turns them into wire events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from server.streaming.words import Word

FinalReason = Literal["sentence", "endpoint", "max_length", "flush", "stop"]


@dataclass(frozen=True)
class AsrRequest:
    """One decode the policy wants: transcribe `audio` (16 kHz mono float32)."""

    id: int
    audio: np.ndarray
    start_s: float  # stream time of audio[0]
    end_s: float  # stream time just past the last sample
    prompt: str  # recent committed text, to condition the decoder
    language: str | None  # None: detect
    final: bool  # commit everything it returns (end of utterance)


@dataclass(frozen=True)
class AsrResult:
    words: list[Word]  # times relative to the request's audio[0]
    language: str | None
    language_probability: float = 1.0


@dataclass(frozen=True)
class Partial:
    segment: int
    text: str  # stable + unstable, joined as the model wrote them
    stable: str  # committed: will appear unchanged in this segment's final
    unstable: str  # may still change
    start: float
    end: float  # stream time the text covers up to


@dataclass(frozen=True)
class Final:
    segment: int
    words: tuple[Word, ...]
    text: str
    start: float
    end: float
    reason: FinalReason
    language: str | None


@dataclass(frozen=True)
class Decoded:
    """A decode finished: bookkeeping for metrics."""

    request_id: int
    audio_s: float  # length of the decoded window
    final: bool


PolicyEvent = Partial | Final | Decoded
