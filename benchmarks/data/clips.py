"""The shapes of benchmark speech: a clip, and a long stream made of clips."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Clip:
    """One recording of real human speech with its reference transcript."""

    id: str  # "librivox/<stem>", "mfa/<stem>", "fillets/<level>/<dialog id>"
    path: Path  # the audio file as shipped (wav, flac, mp3, ogg)
    text: str  # reference transcript in `language`
    language: str  # ISO 639-1
    translation_en: str | None  # English reference translation (Dutch clips), else None


@dataclass(frozen=True)
class StreamPart:
    """Where one clip lies inside a stream (seconds from the start of the stream)."""

    clip_id: str
    start_s: float
    end_s: float
    text: str
    translation_en: str | None


@dataclass(frozen=True, eq=False)
class Stream:
    """Clips joined with fixed silences into one long recording, with its references."""

    name: str
    audio: npt.NDArray[np.float32]  # mono, 16 kHz, exactly what `wav_path` holds
    reference: str  # the clip texts joined by single spaces, in order
    offsets: list[StreamPart] = field(default_factory=list)
    wav_path: Path = Path()

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def reference_en(self) -> str | None:
        """The English reference translations joined, if every part has one."""
        parts = [p.translation_en for p in self.offsets]
        if not parts or any(p is None for p in parts):
            return None
        return " ".join(p for p in parts if p)
