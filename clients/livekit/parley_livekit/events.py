"""The pure core of the plugin: Parley's events in, LiveKit Agents' `SpeechEvent`s out.

Sans-I/O: no sockets, no clock. The stream feeds `EventMapper` the server's events (parsed
from JSON here, at the edge, into typed dataclasses) and the amount of audio it has sent;
the mapper returns the framework's events.

How Parley's events map onto `stt.SpeechEventType`:

- the first non-empty `transcript` event while not in speech -> START_OF_SPEECH (with
  `speech_start_time`, the wall-clock time of the segment's first word), then
- a partial `transcript` -> INTERIM_TRANSCRIPT (the whole segment so far, `stable` +
  `unstable`);
- a final `transcript` -> FINAL_TRANSCRIPT (words with their times and probabilities;
  `confidence` is the mean word probability), then RECOGNITION_USAGE for the audio sent
  since the last one;
- END_OF_SPEECH right after a final whose `reason` says the speaker stopped (`endpoint`,
  `flush`, `stop`). A final cut at a sentence end or at the maximum length leaves the
  speaker talking; if no newer transcript comes within `END_OF_SPEECH_HANGOVER_S` of audio
  after its last word, END_OF_SPEECH follows then (Parley sends no final at a pause that
  comes right after a sentence-final, so this is the only sign of it).
- `translation` events are not speech events: they come as `Translation`s (see `stt.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from livekit.agents import stt
from livekit.agents.language import LanguageCode
from livekit.agents.types import TimedString

#: Audio (seconds) after a sentence-final's last word with no newer transcript that ends
#: the speech. Parley ends an utterance after 0.5 s of silence and decodes about every
#: 0.5-1 s, so a speaker who goes on has a partial out well within this.
END_OF_SPEECH_HANGOVER_S = 1.5

#: Final reasons after which the speaker has stopped (docs/protocol.md `transcript.reason`).
_SPEECH_ENDED = frozenset({"endpoint", "flush", "stop"})


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float | None


@dataclass(frozen=True)
class Transcript:
    """A Parley `transcript` event."""

    final: bool
    segment: int
    text: str
    stable: str
    start: float
    end: float
    language: str | None
    reason: str | None
    words: tuple[Word, ...]
    latency_ms: float | None


@dataclass(frozen=True)
class Translation:
    """A Parley `translation` event: what the plugin hands to `"translation"` listeners.

    `start`/`end` are seconds on the stream's timeline (the transcript's, offset like
    `SpeechData.start_time`); `source_segments` are Parley's transcript segment numbers of
    this connection.
    """

    final: bool
    language: str
    text: str
    stable: str
    segment: int
    source_segments: tuple[int, ...]
    source_text: str
    start: float
    end: float
    via: str | None
    latency_ms: float | None
    request_id: str


def _float(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _opt_float(value: Any) -> float | None:
    return None if value is None else _float(value)


def parse_transcript(event: Mapping[str, Any]) -> Transcript:
    words = tuple(
        Word(
            word=str(w.get("word", "")),
            start=_float(w.get("start")),
            end=_float(w.get("end")),
            probability=_opt_float(w.get("probability")),
        )
        for w in event.get("words") or ()
        if isinstance(w, Mapping)
    )
    language = event.get("language")
    reason = event.get("reason")
    return Transcript(
        final=bool(event.get("final")),
        segment=int(event.get("segment", 0)),
        text=str(event.get("text", "")),
        stable=str(event.get("stable", "")),
        start=_float(event.get("start")),
        end=_float(event.get("end")),
        language=str(language) if language else None,
        reason=str(reason) if reason else None,
        words=words,
        latency_ms=_opt_float(event.get("latency_ms")),
    )


def parse_translation(
    event: Mapping[str, Any], *, time_offset: float = 0.0, request_id: str = ""
) -> Translation:
    via = event.get("via")
    return Translation(
        final=bool(event.get("final")),
        language=str(event.get("lang", "")),
        text=str(event.get("text", "")),
        stable=str(event.get("stable", "")),
        segment=int(event.get("segment", 0)),
        source_segments=tuple(int(s) for s in event.get("source_segments") or ()),
        source_text=str(event.get("source_text", "")),
        start=_float(event.get("start")) + time_offset,
        end=_float(event.get("end")) + time_offset,
        via=str(via) if via else None,
        latency_ms=_opt_float(event.get("latency_ms")),
        request_id=request_id,
    )


def confidence(words: tuple[Word, ...]) -> float:
    """The mean word probability (0 when Parley gave none: partials carry no words)."""
    probs = [w.probability for w in words if w.probability is not None]
    return sum(probs) / len(probs) if probs else 0.0


def speech_data(t: Transcript, *, language: str, time_offset: float) -> stt.SpeechData:
    """One transcript as the framework's `SpeechData`; times are shifted by `time_offset`."""
    return stt.SpeechData(
        language=LanguageCode(t.language or language or "und"),
        text=t.text,
        start_time=t.start + time_offset,
        end_time=t.end + time_offset,
        confidence=confidence(t.words),
        words=[
            TimedString(
                w.word.strip(),
                start_time=w.start + time_offset,
                end_time=w.end + time_offset,
                confidence=w.probability if w.probability is not None else 0.0,
                start_time_offset=time_offset,
            )
            for w in t.words
        ]
        or None,
    )


class EventMapper:
    """Parley events of one connection -> `SpeechEvent`s (one per stream connection).

    `time_offset` (seconds) is added to Parley's stream times: the framework's
    `start_time_offset` of the stream. `wall_start` is the wall-clock time of the first
    audio sample sent (for `speech_start_time`/`speech_end_time`).
    """

    def __init__(
        self, *, request_id: str, language: str, time_offset: float = 0.0,
        wall_start: float = 0.0,
    ) -> None:
        self.request_id = request_id
        self.language = language
        self.time_offset = time_offset
        self.wall_start = wall_start
        self.in_speech = False
        self._last_end: float | None = None  # end of the last final that left speech open
        self._audio_s = 0.0
        self._usage_from = 0.0

    def _event(self, kind: stt.SpeechEventType, **kw: Any) -> stt.SpeechEvent:
        return stt.SpeechEvent(type=kind, request_id=self.request_id, **kw)

    def _end_of_speech(self, at: float) -> stt.SpeechEvent:
        self.in_speech = False
        self._last_end = None
        return self._event(stt.SpeechEventType.END_OF_SPEECH, speech_end_time=self.wall_start + at)

    def transcript(self, t: Transcript) -> list[stt.SpeechEvent]:
        out: list[stt.SpeechEvent] = []
        if not t.text.strip():
            return out
        self._last_end = None
        if not self.in_speech:
            self.in_speech = True
            out.append(self._event(
                stt.SpeechEventType.START_OF_SPEECH, speech_start_time=self.wall_start + t.start
            ))
        data = speech_data(t, language=self.language, time_offset=self.time_offset)
        if not t.final:
            out.append(self._event(stt.SpeechEventType.INTERIM_TRANSCRIPT, alternatives=[data]))
            return out
        out.append(self._event(stt.SpeechEventType.FINAL_TRANSCRIPT, alternatives=[data]))
        out.extend(self._usage())
        if t.reason in _SPEECH_ENDED:
            out.append(self._end_of_speech(t.end))
        else:
            self._last_end = t.end
        return out

    def audio(self, audio_s: float) -> list[stt.SpeechEvent]:
        """The stream has sent `audio_s` seconds in all on this connection."""
        self._audio_s = max(self._audio_s, audio_s)
        if (
            self.in_speech and self._last_end is not None
            and self._audio_s - self._last_end >= END_OF_SPEECH_HANGOVER_S
        ):
            return [self._end_of_speech(self._last_end)]
        return []

    def end(self) -> list[stt.SpeechEvent]:
        """The session ended (Parley's `end`): close an open speech, report the last usage."""
        out = self._usage()
        if self.in_speech:
            out.append(self._end_of_speech(self._last_end if self._last_end is not None
                                           else self._audio_s))
        return out

    def _usage(self) -> list[stt.SpeechEvent]:
        used = self._audio_s - self._usage_from
        if used <= 0:
            return []
        self._usage_from = self._audio_s
        return [self._event(
            stt.SpeechEventType.RECOGNITION_USAGE,
            recognition_usage=stt.RecognitionUsage(audio_duration=used),
        )]


def pcm_s16le(data: memoryview | bytes, channels_in: int, channels_out: int) -> bytes:
    """Interleaved 16-bit samples of `channels_in` channels as `channels_out` channels.

    A frame keeps its layout when the counts agree (the common case: bytes as they are). A
    track that changes its channel count mid-stream is folded to mono (the mean) and spread
    to the count the session announced; Parley downmixes to mono in any case.
    """
    samples = np.frombuffer(data, dtype="<i2")
    if channels_in == channels_out:
        return samples.tobytes()
    mono = samples.reshape(-1, channels_in).astype(np.int32).mean(axis=1)
    out = np.repeat(np.round(mono).astype("<i2")[:, None], channels_out, axis=1)
    return out.tobytes()


class ReplayBuffer:
    """The audio a session has not made final yet, to send again to the next session.

    When a connection drops (or the server restarts), what Parley received after the
    session's last final was never made final: a new session is sent that audio again, from
    the last final's end, before the frames pushed since. Finals are never sent twice (their
    audio is dropped as they arrive), and the words after them are not lost. Holds at most
    `max_s` seconds (the oldest are dropped beyond that).
    """

    def __init__(self, *, sample_rate: int, channels: int, max_s: float = 60.0) -> None:
        self.bytes_per_s = sample_rate * channels * 2
        self._frame_bytes = channels * 2
        self._max = int(max_s * sample_rate) * self._frame_bytes
        self._data = bytearray()
        self._dropped = 0  # bytes before the first one held

    @property
    def start_s(self) -> float:
        """Stream seconds of the first byte held."""
        return self._dropped / self.bytes_per_s

    @property
    def end_s(self) -> float:
        """Stream seconds just after the last byte held: the stream's audio so far."""
        return (self._dropped + len(self._data)) / self.bytes_per_s

    def append(self, pcm: bytes) -> None:
        self._data += pcm
        if len(self._data) > self._max:
            self._drop(len(self._data) - self._max)

    def final_until(self, stream_s: float) -> None:
        """Everything before `stream_s` (stream seconds) is final: forget it."""
        self._drop(int(stream_s * self.bytes_per_s) - self._dropped)

    def _drop(self, count: int) -> None:
        count = max(0, min(len(self._data), count - count % self._frame_bytes))
        del self._data[:count]
        self._dropped += count

    def pending(self) -> bytes:
        """The audio not yet final, from `start_s` on."""
        return bytes(self._data)
