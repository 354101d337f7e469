"""Deepgram's live transcription (`/deepgram/v1/listen`), as a sans-I/O translator.

The query string is the session's configuration (`parse_query`, checked at the
handshake so that a bad one is refused there with HTTP 400, as Deepgram does); binary
frames are audio; text frames are `KeepAlive`, `Finalize` (Parley `flush`) and
`CloseStream` (Parley `stop`). Parley's transcript events become `Results`: a partial
is an interim result (`is_final: false`, only with `interim_results=true`), a final is
`is_final: true` with `speech_final` true when the segment ended at a pause (Parley's
endpoint), a flush or the end of the stream; `SpeechStarted` (with `vad_events=true`)
comes with a segment's first partial, `UtteranceEnd` (with `utterance_end_ms`) after a
final that ended at a pause, `Metadata` with Parley's `end`.

There is no library for the server side of this API, so the mapping is written here.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from server.audio.decode import AudioSpec
from server.compat.common import (
    ParleyEvent,
    Step,
    g711_to_pcm16,
    query,
)
from server.errors import ParleyError
from server.protocol.events import End, Error, Ready, Transcript
from server.protocol.messages import FlushMessage, StartMessage, StopMessage, normalize_language
from server.streaming.policy import LatencyMode

log = logging.getLogger(__name__)

PATH = "/deepgram/v1/listen"
RawEncoding = Literal["linear16", "linear32", "mulaw", "alaw"]
_RAW: dict[str, str] = {"linear16": "pcm_s16le", "linear32": "pcm_f32le",
                        "mulaw": "pcm_s16le", "alaw": "pcm_s16le"}
#: Container encodings Parley decodes ("opus"/"ogg-opus": Ogg Opus; "webm": WebM Opus)
_CONTAINERS: dict[str, str] = {"opus": "ogg", "ogg-opus": "ogg", "webm": "webm"}
_BOOL = {"true": True, "false": False}
#: Parameters that change nothing here (Parley's own model and VAD decide), accepted.
_ACCEPTED = frozenset({"model", "version", "tag", "mip_opt_out", "extra", "endpointing",
                       "filler_words", "numerals", "dictation", "profanity_filter", "token"})
#: Features Parley does not have: refused when turned on.
_UNSUPPORTED = frozenset({"diarize", "diarize_model", "multichannel", "redact", "search",
                          "keywords", "keyterm", "replace", "detect_entities", "callback",
                          "callback_method", "language_hint", "no_delay", "topics",
                          "intents", "sentiment", "summarize", "detect_language"})
_LANG_MULTI = ("multi", "auto")
_WORD_EDGE = re.compile(r"^\W+|\W+$")


class DeepgramError(Exception):
    """A refused request: HTTP 400 at the handshake, or an `Error` message after it."""

    def __init__(self, message: str, code: str = "Bad Request") -> None:
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class ListenOptions:
    encoding: str | None  # None: a container, told by its first bytes
    sample_rate: int | None
    channels: int = 1
    language: str | None = "en"
    interim_results: bool = False
    punctuate: bool = False
    smart_format: bool = False
    utterance_end_ms: int | None = None
    vad_events: bool = False
    model: str = "nova-3"
    latency: str | None = None

    @property
    def formatted(self) -> bool:
        return self.punctuate or self.smart_format


def parse_query(path: str) -> ListenOptions:
    """The options of a `/deepgram/v1/listen?...` request. Raises DeepgramError."""
    params = query(path)
    for name, value in params.items():
        if name in _UNSUPPORTED and value.lower() not in ("", "false", "0"):
            raise DeepgramError(f"{name} is not supported by this server (Parley)")
        if name not in _UNSUPPORTED and name not in _ACCEPTED and name not in _KNOWN:
            raise DeepgramError(f"unknown parameter {name[:40]!r}")
    encoding = params.get("encoding") or None
    if encoding is not None and encoding not in _RAW and encoding not in _CONTAINERS:
        raise DeepgramError(
            f"encoding {encoding[:40]!r} is not supported; use linear16, linear32, mulaw, alaw, "
            "opus (Ogg), webm, or leave it out for containerized audio")
    rate = _int(params, "sample_rate", 8000, 192000)
    if encoding in _RAW and rate is None:
        raise DeepgramError(f"sample_rate is required with encoding={encoding}")
    channels = _int(params, "channels", 1, 8) or 1
    language: str | None = params.get("language", "en")
    if language in _LANG_MULTI:
        language = None
    else:
        try:
            language = normalize_language(language, "language")
        except ParleyError as exc:
            raise DeepgramError(exc.message) from None
    utterance_end = _int(params, "utterance_end_ms", 1000, 5000)
    latency = params.get("parley_latency") or None
    if latency is not None and latency not in ("fast", "balanced", "accurate"):
        raise DeepgramError("parley_latency must be fast, balanced or accurate")
    return ListenOptions(
        encoding=encoding, sample_rate=rate, channels=channels, language=language,
        interim_results=_bool(params, "interim_results"), punctuate=_bool(params, "punctuate"),
        smart_format=_bool(params, "smart_format"), utterance_end_ms=utterance_end,
        vad_events=_bool(params, "vad_events"), model=params.get("model", "nova-3")[:64],
        latency=latency,
    )


_KNOWN = frozenset({"encoding", "sample_rate", "channels", "language", "interim_results",
                    "punctuate", "smart_format", "utterance_end_ms", "vad_events",
                    "parley_latency"})


def _bool(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in _BOOL:
        raise DeepgramError(f"{name} must be true or false, got {value[:20]!r}")
    return _BOOL[value]


def _int(params: dict[str, str], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise DeepgramError(f"{name} must be an integer between {low} and {high}, "
                            f"got {value[:20]!r}")
    return int(value)


def handshake_error(exc: DeepgramError, request_id: str) -> dict[str, str]:
    """The JSON body of a refused handshake, in Deepgram's shape."""
    return {"err_code": exc.code, "err_msg": exc.message, "request_id": request_id}



class DeepgramTranslator:
    """One live transcription connection.

    `request_id`: this request's id (Deepgram's `metadata.request_id`); `created`: when it
    opened, ISO 8601 (the clock is read by the caller).
    """

    def __init__(self, options: ListenOptions, *, token: str | None, request_id: str,
                 created: str) -> None:
        self.options = options
        self.token = token
        self.request_id = request_id
        self.created = created
        self.model = options.model
        self.started = False
        self._finalize = False
        self._segment_open: int | None = None

    def open(self) -> Step:
        """Parley's `start` (for raw audio: at once; for a container: with its first bytes)."""
        if self.options.encoding is None:
            return Step()
        return Step(parley=[self._start(_RAW.get(self.options.encoding)
                                        or _CONTAINERS[self.options.encoding])])

    def _start(self, encoding: str) -> StartMessage:
        o = self.options
        self.started = True
        rate = o.sample_rate or 48000
        spec = AudioSpec.parse({"encoding": encoding, "sample_rate": rate,
                                "channels": o.channels})
        return StartMessage(type="start", audio=spec, source_language=o.language,
                            target_languages=(), token=self.token, partials=True,
                            latency=cast(LatencyMode | None, o.latency))

    def on_client(self, frame: str | bytes) -> Step:
        if isinstance(frame, bytes):
            return self._audio(frame)
        try:
            obj = json.loads(frame)
        except ValueError:
            return Step(client=[self.error("text frames must be JSON control messages "
                                           "(KeepAlive, Finalize, CloseStream)", "INVALID_JSON")])
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "KeepAlive":
            return Step()
        if kind == "Finalize":
            self._finalize = True
            return Step(parley=[FlushMessage(type="flush")] if self.started else [])
        if kind == "CloseStream":
            if not self.started:
                return Step(client=[self._metadata(0.0)], close=True)
            return Step(parley=[StopMessage(type="stop")])
        return Step(client=[self.error(
            f"unknown control message {str(kind)[:40]!r}; expected KeepAlive, Finalize or "
            "CloseStream", "UNKNOWN_MESSAGE")])

    def _audio(self, data: bytes) -> Step:
        if not data:
            return Step()
        encoding = self.options.encoding
        step = Step()
        if not self.started:
            sniffed = _sniff(data)
            if sniffed is None:
                return Step(client=[self.error(
                    "the audio is not a container this server reads (Ogg or WebM); for raw "
                    "audio set encoding and sample_rate", "UNSUPPORTED_ENCODING")])
            step.parley.append(self._start(sniffed))
        if encoding in ("mulaw", "alaw"):
            data = g711_to_pcm16(data, encoding)
        step.parley.append(data)
        return step

    # -- Parley -> client --------------------------------------------------------------

    def on_parley(self, event: ParleyEvent) -> list[dict[str, Any]]:
        if isinstance(event, Ready):
            return []
        if isinstance(event, Transcript):
            return self._transcript(event)
        if isinstance(event, Error):
            return [self.error(event.message, event.code.upper())]
        if isinstance(event, End):
            return [self._metadata(event.audio_s or 0.0)]
        return []

    def _transcript(self, ev: Transcript) -> list[dict[str, Any]]:
        o = self.options
        out: list[dict[str, Any]] = []
        if self._segment_open != ev.segment:
            self._segment_open = ev.segment
            if o.vad_events:
                out.append({"type": "SpeechStarted", "channel": [0], "timestamp": ev.start})
        if not ev.final:
            if o.interim_results:
                out.append(self._results(ev, is_final=False, speech_final=False))
            return out
        self._segment_open = None
        at_pause = ev.reason in ("endpoint", "flush", "stop")
        from_finalize = self._finalize and ev.reason == "flush"
        if from_finalize:
            self._finalize = False
        out.append(self._results(ev, is_final=True, speech_final=at_pause,
                                 from_finalize=from_finalize))
        if at_pause and o.utterance_end_ms is not None and ev.words:
            out.append({"type": "UtteranceEnd", "channel": [0, 1],
                        "last_word_end": ev.words[-1].end})
        return out

    def _results(self, ev: Transcript, *, is_final: bool, speech_final: bool,
                 from_finalize: bool = False) -> dict[str, Any]:
        formatted = self.options.formatted
        words: list[dict[str, Any]] = [
            {"word": _bare(w.word), "start": w.start, "end": w.end,
             "confidence": round(w.probability, 4),
             **({"punctuated_word": w.word} if formatted else {})}
            for w in ev.words
        ]
        if formatted or not ev.words:
            transcript = ev.text.strip() if formatted else _bare_text(ev.text)
        else:
            transcript = " ".join(_bare(w.word) for w in ev.words)
        confidence = (sum(w.probability for w in ev.words) / len(ev.words)) if ev.words else 0.0
        results: dict[str, Any] = {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(max(0.0, ev.end - ev.start), 3),
            "start": ev.start,
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{"transcript": transcript,
                                          "confidence": round(confidence, 4),
                                          "words": words}]},
            "metadata": {"request_id": self.request_id,
                         "model_info": {"name": self.model, "version": "parley", "arch": "whisper"},
                         "model_uuid": self.request_id},
            "parley": {"segment": ev.segment, "reason": ev.reason, "latency_ms": ev.latency_ms,
                       "language": ev.language},
        }
        if is_final:
            results["from_finalize"] = from_finalize
        return results

    def _metadata(self, duration: float) -> dict[str, Any]:
        return {"type": "Metadata", "transaction_key": "deprecated",
                "request_id": self.request_id, "sha256": "", "created": self.created,
                "duration": round(duration, 3), "channels": self.options.channels,
                "models": [self.request_id],
                "model_info": {self.request_id: {"name": self.model, "version": "parley",
                                                 "arch": "whisper"}}}

    def error(self, message: str, code: str) -> dict[str, Any]:
        """Deepgram's `Error` message."""
        return {"type": "Error", "variant": "parley", "code": code, "description": message,
                "message": message}


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"OggS"):
        return "ogg"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    return None


def _bare(word: str) -> str:
    """A word as Deepgram writes it unformatted: lower case, no edge punctuation."""
    return _WORD_EDGE.sub("", word).lower() or word.lower()


def _bare_text(text: str) -> str:
    bare = (_WORD_EDGE.sub("", w).lower() for w in text.split())
    return " ".join(w for w in bare if w)
