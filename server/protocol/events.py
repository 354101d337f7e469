"""Server events of protocol v1, typed: what a session and a room send, and what each one is.

Every event is a frozen dataclass with a `Literal` `type` tag. It knows what it is
(`traits`: final, droppable for a slow consumer, kept for a resumed client, forwarded
to a room) and how it goes on the wire (`to_wire()`: the JSON object of
docs/protocol.md, field order and rounding included; the JSON Schemas in `schema/`
pin it in tests). `from_wire` reads a wire object back for consumers that receive
JSON (MQTT, clients).

The delivery path (outboxes, the replay buffer, rooms, MQTT) moves wire objects,
because it adds envelope fields (a listener's own `seq`, `session_id`, `replica`,
`room`); it asks `traits(wire)` what an event is, and the answer comes from the
classes here, the one place that decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias

from server.errors import ParleyError, ProtocolError

PROTOCOL = 1

Wire: TypeAlias = dict[str, Any]


@dataclass(frozen=True)
class Traits:
    #: nothing later supersedes it (a final, an error, `end`, ...)
    final: bool
    #: a slow consumer's queue may drop it (partials, metrics)
    droppable: bool
    #: a resumed client gets it again if it missed it
    kept_for_resume: bool
    #: a speaker's event that goes to its room's listeners
    for_room: bool


_PARTIAL = Traits(final=False, droppable=True, kept_for_resume=False, for_room=True)
_FINAL = Traits(final=True, droppable=False, kept_for_resume=True, for_room=True)
_ONCE = Traits(final=True, droppable=False, kept_for_resume=False, for_room=False)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _s(value: float) -> float:
    return round(value, 3)


def _seq(wire: Wire, seq: int | None) -> Wire:
    if seq is not None:
        wire["seq"] = seq
    return wire


@dataclass(frozen=True)
class AudioInfo:
    encoding: str
    sample_rate: int
    channels: int

    def to_wire(self) -> Wire:
        return {"encoding": self.encoding, "sample_rate": self.sample_rate,
                "channels": self.channels}


@dataclass(frozen=True)
class Ready:
    """The first event of a speaker connection; never replayed (each connection has its own)."""

    session_id: str
    models: Mapping[str, Any]
    audio: AudioInfo
    source_language: str | None
    target_languages: tuple[str, ...]
    #: target -> "mt" / "whisper" / "pivot"
    translation: Mapping[str, str]
    #: target -> its route (`server.mt.routes.route_json`)
    routes: Mapping[str, Any]
    room: str | None
    latency: str
    limits: Mapping[str, Any]
    seq: int | None = None
    #: a new session with resume enabled: the secret that resumes it
    resume_token: str | None = None
    resumed: bool | None = None
    resume_grace_s: float | None = None
    audio_bytes: int | None = None
    audio_s: float | None = None
    replayed: int | None = None
    type: Literal["ready"] = field(default="ready", init=False)

    TRAITS: ClassVar[Traits] = _ONCE

    @property
    def traits(self) -> Traits:
        return self.TRAITS

    def to_wire(self) -> Wire:
        wire = _seq({
            "type": self.type,
            "protocol": PROTOCOL,
            "session_id": self.session_id,
            "models": dict(self.models),
            "audio": self.audio.to_wire(),
            "source_language": self.source_language,
            "target_languages": list(self.target_languages),
            "translation": dict(self.translation),
            "routes": dict(self.routes),
            "room": self.room,
            "latency": self.latency,
            "limits": dict(self.limits),
        }, self.seq)
        extras: list[tuple[str, Any]] = [
            ("resume_token", self.resume_token), ("resumed", self.resumed),
            ("resume_grace_s", self.resume_grace_s), ("audio_bytes", self.audio_bytes),
            ("audio_s", None if self.audio_s is None else _s(self.audio_s)),
            ("replayed", self.replayed),
        ]
        wire.update((k, v) for k, v in extras if v is not None)
        return wire


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float

    def to_wire(self) -> Wire:
        return {"word": self.word, "start": _s(self.start), "end": _s(self.end),
                "probability": _s(self.probability)}


@dataclass(frozen=True)
class Transcript:
    """What was said: a partial (`final` False, may change) or a final segment (never changes)."""

    final: bool
    segment: int
    text: str
    stable: str
    unstable: str
    start: float
    end: float
    language: str | None
    latency_ms: float | None
    queue_ms: float
    asr_ms: float
    #: why the segment ended (finals only)
    reason: str | None = None
    #: word timings (finals only)
    words: tuple[Word, ...] = ()
    seq: int | None = None
    type: Literal["transcript"] = field(default="transcript", init=False)

    @property
    def traits(self) -> Traits:
        return _FINAL if self.final else _PARTIAL

    def to_wire(self) -> Wire:
        wire: Wire = {
            "type": self.type,
            "final": self.final,
            "segment": self.segment,
            "text": self.text,
            "stable": self.stable,
            "unstable": self.unstable,
            "start": _s(self.start),
            "end": _s(self.end),
            "language": self.language,
        }
        if self.final:
            wire["reason"] = self.reason
            wire["words"] = [w.to_wire() for w in self.words]
        wire.update(latency_ms=_ms(self.latency_ms), queue_ms=_ms(self.queue_ms),
                    asr_ms=_ms(self.asr_ms))
        return _seq(wire, self.seq)


@dataclass(frozen=True)
class Translation:
    """A transcript in another language: partial or final, as transcripts."""

    final: bool
    lang: str
    segment: int
    text: str
    stable: str
    source_segments: tuple[int, ...]
    source_text: str
    start: float
    end: float
    via: Literal["mt", "whisper", "pivot"]
    latency_ms: float | None
    mt_ms: float
    queue_ms: float
    asr_ms: float
    #: along a pivot: the English this translation was made from
    pivot_text: str | None = None
    seq: int | None = None
    type: Literal["translation"] = field(default="translation", init=False)

    @property
    def traits(self) -> Traits:
        return _FINAL if self.final else _PARTIAL

    def to_wire(self) -> Wire:
        wire: Wire = {
            "type": self.type,
            "final": self.final,
            "lang": self.lang,
            "segment": self.segment,
            "text": self.text,
            "stable": self.stable,
            "source_segments": list(self.source_segments),
            "source_text": self.source_text,
            "start": _s(self.start),
            "end": _s(self.end),
            "via": self.via,
        }
        if self.pivot_text is not None:
            wire["pivot_text"] = self.pivot_text
        wire.update(latency_ms=_ms(self.latency_ms), mt_ms=_ms(self.mt_ms),
                    queue_ms=_ms(self.queue_ms), asr_ms=_ms(self.asr_ms))
        return _seq(wire, self.seq)


@dataclass(frozen=True)
class Metrics:
    """One recognition pass: how much audio, how long it waited and ran."""

    request: int
    #: the pass decoded a segment's end (not: this event is final)
    final: bool
    audio_s: float
    window_s: float
    backlog_s: float
    queue_ms: float
    asr_ms: float
    rtf: float | None
    seq: int | None = None
    type: Literal["metrics"] = field(default="metrics", init=False)

    TRAITS: ClassVar[Traits] = Traits(final=False, droppable=True, kept_for_resume=False,
                                      for_room=False)

    @property
    def traits(self) -> Traits:
        return self.TRAITS

    def to_wire(self) -> Wire:
        return _seq({
            "type": self.type,
            "request": self.request,
            "final": self.final,
            "audio_s": _s(self.audio_s),
            "window_s": _s(self.window_s),
            "backlog_s": _s(self.backlog_s),
            "queue_ms": _ms(self.queue_ms),
            "asr_ms": _ms(self.asr_ms),
            "rtf": None if self.rtf is None else _s(self.rtf),
        }, self.seq)


@dataclass(frozen=True)
class Error:
    code: str
    message: str
    fatal: bool
    retry_after_ms: int | None = None
    seq: int | None = None
    type: Literal["error"] = field(default="error", init=False)

    TRAITS: ClassVar[Traits] = Traits(final=True, droppable=False, kept_for_resume=True,
                                      for_room=False)

    @property
    def traits(self) -> Traits:
        return self.TRAITS

    def to_wire(self) -> Wire:
        wire: Wire = {"type": self.type, "code": self.code, "message": self.message,
                      "fatal": self.fatal}
        if self.retry_after_ms is not None:
            wire["retry_after_ms"] = self.retry_after_ms
        return _seq(wire, self.seq)


@dataclass(frozen=True)
class End:
    """The session is over; a listener's `end` for a dropped speaker has only a reason."""

    reason: str
    segments: int | None = None
    words: int | None = None
    audio_s: float | None = None
    duration_s: float | None = None
    seq: int | None = None
    type: Literal["end"] = field(default="end", init=False)

    TRAITS: ClassVar[Traits] = Traits(final=True, droppable=False, kept_for_resume=True,
                                      for_room=True)

    @property
    def traits(self) -> Traits:
        return self.TRAITS

    def to_wire(self) -> Wire:
        wire: Wire = {"type": self.type, "reason": self.reason}
        if self.segments is not None:
            wire["segments"] = self.segments
        if self.words is not None:
            wire["words"] = self.words
        if self.audio_s is not None:
            wire["audio_s"] = _s(self.audio_s)
        if self.duration_s is not None:
            wire["duration_s"] = _s(self.duration_s)
        return _seq(wire, self.seq)


@dataclass(frozen=True)
class Joined:
    """A listener's first event: the room, its speakers, and how its language is produced."""

    room: str
    lang: str | None
    speakers: tuple[Mapping[str, Any], ...]
    #: how a local speaker produces `lang` (`server.mt.routes.route_json`), or None
    route: Mapping[str, Any] | None
    seq: int | None = None
    type: Literal["joined"] = field(default="joined", init=False)

    TRAITS: ClassVar[Traits] = _ONCE

    @property
    def traits(self) -> Traits:
        return self.TRAITS

    def to_wire(self) -> Wire:
        return _seq({
            "type": self.type,
            "protocol": PROTOCOL,
            "room": self.room,
            "lang": self.lang,
            "speaker": bool(self.speakers),
            "speakers": [dict(s) for s in self.speakers],
            "translation": None if self.route is None else self.route["via"],
            "route": None if self.route is None else dict(self.route),
        }, self.seq)


@dataclass(frozen=True)
class SpeakerStarted:
    """To a room's listeners: a speaker started (here or on another replica)."""

    room: str
    session_id: str
    replica: str | None
    source_language: str | None
    target_languages: tuple[str, ...]
    #: target -> route, for a speaker on this replica
    routes: Mapping[str, Any] | None = None
    seq: int | None = None
    type: Literal["speaker"] = field(default="speaker", init=False)

    TRAITS: ClassVar[Traits] = _ONCE

    @property
    def traits(self) -> Traits:
        return self.TRAITS

    def to_wire(self) -> Wire:
        wire: Wire = {
            "type": self.type,
            "room": self.room,
            "session_id": self.session_id,
            "replica": self.replica,
            "source_language": self.source_language,
            "target_languages": list(self.target_languages),
        }
        if self.routes is not None:
            wire["routes"] = dict(self.routes)
        return _seq(wire, self.seq)


SpeakerEvent: TypeAlias = Ready | Transcript | Translation | Metrics | Error | End
ListenerEvent: TypeAlias = Joined | SpeakerStarted
ServerEvent: TypeAlias = SpeakerEvent | ListenerEvent

#: Traits of an event type whose `final` flag does not change what it is.
_FIXED: dict[str, Traits] = {
    "ready": Ready.TRAITS,
    "metrics": Metrics.TRAITS,
    "error": Error.TRAITS,
    "end": End.TRAITS,
    "joined": Joined.TRAITS,
    "speaker": SpeakerStarted.TRAITS,
}
#: An event of a type this server does not know (a newer replica's): passed on, kept.
_UNKNOWN = Traits(final=True, droppable=False, kept_for_resume=False, for_room=False)


def traits(wire: Mapping[str, Any]) -> Traits:
    """What a wire event is, decided by its typed class (no full parse)."""
    kind = wire.get("type")
    if kind in ("transcript", "translation"):
        return _FINAL if wire.get("final") else _PARTIAL
    return _FIXED.get(kind, _UNKNOWN) if isinstance(kind, str) else _UNKNOWN


# -- from the wire ---------------------------------------------------------------------


def from_wire(wire: Mapping[str, Any]) -> ServerEvent:
    """The typed event of a wire object. Envelope fields (`session_id` on room events,
    `replica`, `room`) and unknown fields are ignored. Raises ProtocolError."""
    try:
        return _from_wire(wire)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed {str(wire.get('type'))[:20]!r} event: {exc!r}",
                            code="bad_message") from None


def _from_wire(w: Mapping[str, Any]) -> ServerEvent:
    seq = _opt_int(w.get("seq"))
    match w.get("type"):
        case "ready":
            audio = w["audio"]
            return Ready(
                session_id=str(w["session_id"]),
                models=dict(w["models"]),
                audio=AudioInfo(str(audio["encoding"]), int(audio.get("sample_rate", 16000)),
                                int(audio.get("channels", 1))),
                source_language=_opt_str(w.get("source_language")),
                target_languages=tuple(map(str, w["target_languages"])),
                translation=dict(w["translation"]),
                routes=dict(w.get("routes") or {}),
                room=_opt_str(w.get("room")),
                latency=str(w["latency"]),
                limits=dict(w["limits"]),
                seq=seq,
                resume_token=_opt_str(w.get("resume_token")),
                resumed=None if w.get("resumed") is None else bool(w["resumed"]),
                resume_grace_s=_opt_float(w.get("resume_grace_s")),
                audio_bytes=_opt_int(w.get("audio_bytes")),
                audio_s=_opt_float(w.get("audio_s")),
                replayed=_opt_int(w.get("replayed")),
            )
        case "transcript":
            return Transcript(
                final=bool(w["final"]),
                segment=int(w["segment"]),
                text=str(w["text"]),
                stable=str(w.get("stable", "")),
                unstable=str(w.get("unstable", "")),
                start=float(w.get("start", 0.0)),
                end=float(w.get("end", 0.0)),
                language=_opt_str(w.get("language")),
                latency_ms=_opt_float(w.get("latency_ms")),
                queue_ms=float(w.get("queue_ms", 0.0)),
                asr_ms=float(w.get("asr_ms", 0.0)),
                reason=_opt_str(w.get("reason")),
                words=tuple(
                    Word(str(x["word"]), float(x["start"]), float(x["end"]),
                         float(x.get("probability", 0.0)))
                    for x in w.get("words") or ()
                ),
                seq=seq,
            )
        case "translation":
            via = w["via"]
            if via not in ("mt", "whisper", "pivot"):
                raise ValueError(f"via {via!r}")
            return Translation(
                final=bool(w["final"]),
                lang=str(w["lang"]),
                segment=int(w["segment"]),
                text=str(w["text"]),
                stable=str(w.get("stable", "")),
                source_segments=tuple(int(s) for s in w["source_segments"]),
                source_text=str(w.get("source_text", "")),
                start=float(w.get("start", 0.0)),
                end=float(w.get("end", 0.0)),
                via=via,
                latency_ms=_opt_float(w.get("latency_ms")),
                mt_ms=float(w.get("mt_ms", 0.0)),
                queue_ms=float(w.get("queue_ms", 0.0)),
                asr_ms=float(w.get("asr_ms", 0.0)),
                pivot_text=_opt_str(w.get("pivot_text")),
                seq=seq,
            )
        case "metrics":
            return Metrics(
                request=int(w.get("request", 0)),
                final=bool(w.get("final", False)),
                audio_s=float(w["audio_s"]),
                window_s=float(w["window_s"]),
                backlog_s=float(w.get("backlog_s", 0.0)),
                queue_ms=float(w["queue_ms"]),
                asr_ms=float(w["asr_ms"]),
                rtf=_opt_float(w.get("rtf")),
                seq=seq,
            )
        case "error":
            return Error(str(w["code"]), str(w["message"]), bool(w["fatal"]),
                         _opt_int(w.get("retry_after_ms")), seq=seq)
        case "end":
            return End(str(w["reason"]), _opt_int(w.get("segments")), _opt_int(w.get("words")),
                       _opt_float(w.get("audio_s")), _opt_float(w.get("duration_s")), seq=seq)
        case "joined":
            route = w.get("route")
            return Joined(str(w["room"]), _opt_str(w.get("lang")),
                          tuple(dict(s) for s in w.get("speakers") or ()),
                          None if route is None else dict(route), seq=seq)
        case "speaker":
            routes = w.get("routes")
            return SpeakerStarted(
                str(w["room"]), str(w["session_id"]), _opt_str(w.get("replica")),
                _opt_str(w.get("source_language")),
                tuple(map(str, w.get("target_languages") or ())),
                None if routes is None else dict(routes), seq=seq,
            )
        case other:
            raise ValueError(f"unknown event type {str(other)[:40]!r}")


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def error_of(exc: ParleyError) -> Error:
    """The `error` event telling a client about `exc`."""
    retry = getattr(exc, "retry_after_ms", None)
    return Error(exc.code, exc.message, exc.fatal, retry)
