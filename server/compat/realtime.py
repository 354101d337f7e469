"""OpenAI Realtime API transcription sessions (`/v1/realtime`), as a sans-I/O translator.

Client events in -> Parley client messages out; Parley server events in -> Realtime
server events out. Both forms of the API are spoken:

- GA: `session.update` with `session.type = "transcription"`, events `session.created`
  and `session.updated`, audio format `{"type": "audio/pcm", "rate": 24000}`,
  `audio/pcmu`, `audio/pcma`;
- beta (`?intent=transcription` with the `OpenAI-Beta: realtime=v1` header, or a
  `transcription_session.update`): `transcription_session.created/updated`,
  `input_audio_format` `pcm16` (24 kHz), `g711_ulaw`, `g711_alaw`.

The first update becomes Parley's `start`; later updates may change turn detection
only. Each Parley transcript segment is one conversation item under server VAD
(`speech_started` at its first partial, `speech_stopped`, `committed`, the item,
`completed` at its final); with turn detection off an item spans the finals up to the
client's `input_audio_buffer.commit` (a Parley `flush`) and completes with the final
that ends the utterance. Deltas carry only newly *stable* text,
so they never have to be taken back; the rest of the text comes with the final.

There is no library for the server side of this API, so the mapping is written here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from server.audio.decode import AudioSpec
from server.compat.common import (
    ParleyEvent,
    Step,
    g711_to_pcm16,
    join_text,
    query,
)
from server.errors import ParleyError
from server.protocol.events import End, Error, Ready, Transcript, Translation
from server.protocol.messages import FlushMessage, StartMessage, normalize_language

log = logging.getLogger(__name__)

PATH = "/v1/realtime"
Encoding = Literal["pcm16", "g711_ulaw", "g711_alaw"]
#: GA format type -> the beta name used inside
_GA_FORMATS: dict[str, Encoding] = {
    "audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw",
}
_GA_NAMES = {v: k for k, v in _GA_FORMATS.items()}
PCM16_RATE = 24000
G711_RATE = 8000
#: Parley error codes that are the client's fault (OpenAI's `invalid_request_error`)
_CLIENT_CODES = frozenset({
    "bad_json", "bad_message", "unknown_type", "not_started", "already_started",
    "bad_audio_format", "bad_audio", "frame_too_large", "unsupported_language",
    "unsupported_pair", "rate_limited", "session_too_long", "idle_timeout",
    "unauthorized", "forbidden", "session_not_found",
})


#: Final reasons that end an utterance (a sentence or max_length final is within one)
_UTTERANCE_END = frozenset({"endpoint", "flush", "stop"})


class RealtimeError(Exception):
    """A client event refused with OpenAI's error shape; the session continues."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


@dataclass(frozen=True)
class SessionConfig:
    encoding: Encoding = "pcm16"
    rate: int = PCM16_RATE
    language: str | None = None
    vad: bool = True
    vad_type: str = "server_vad"
    model: str = "whisper-1"
    prompt: str = ""



@dataclass
class _Item:
    item_id: str
    text: str = ""  # finals of this item so far
    sent: str = ""  # text already sent as deltas
    start: float | None = None
    end: float = 0.0
    segments: list[int] = field(default_factory=list)
    latency_ms: float | None = None
    open_partial: bool = False  # a segment has partials but no final yet


class RealtimeTranslator:
    """One Realtime transcription connection.

    `path`: the request target (`?intent=transcription`, `target_languages=de,fr` for
    Parley's translations); `beta`: the client sent `OpenAI-Beta: realtime=v1`;
    `token`: the API key it presented (becomes `start.token`); `ids`: a unique prefix
    for the ids of this connection's session, items and events.
    """

    def __init__(self, path: str, *, beta: bool, token: str | None, ids: str) -> None:
        params = query(path)
        self.beta = beta and params.get("intent") == "transcription"
        self.token = token
        self.ids = ids
        self.targets = check_query(path)
        self.config: SessionConfig | None = None
        self.started = False
        self._counter = 0
        self._item: _Item | None = None
        self._previous: str | None = None
        self._segment_item: dict[int, str] = {}
        self._bytes_since_commit = 0
        self._awaiting_commit = False
        self._discard: bool = False
        self._last_event_id: str | None = None
        self._last_reason: str | None = None

    # -- ids ------------------------------------------------------------------------

    def _next_id(self, kind: str) -> str:
        self._counter += 1
        return f"{kind}_{self.ids}{self._counter:05d}"

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": self._next_id("event"), **fields}

    # -- client -> Parley ---------------------------------------------------------------

    def open(self) -> Step:
        """The events a new connection gets before the client says anything."""
        kind = "transcription_session.created" if self.beta else "session.created"
        return Step(client=[self._event(kind, session=self._describe(SessionConfig()))])

    def on_client(self, frame: str | bytes) -> Step:
        """One client frame; a refused one is answered with OpenAI's `error`."""
        event_id: str | None = None
        try:
            if isinstance(frame, bytes):
                raise RealtimeError("binary frames are not part of the Realtime API; send "
                                    "input_audio_buffer.append with base64 audio",
                                    "invalid_event")
            try:
                obj = json.loads(frame)
            except ValueError as exc:
                raise RealtimeError(f"event is not valid JSON: {exc}", "invalid_json") from None
            if not isinstance(obj, dict):
                raise RealtimeError("an event must be a JSON object", "invalid_event")
            raw_id = obj.get("event_id")
            event_id = raw_id if isinstance(raw_id, str) else None
            self._last_event_id = event_id
            return self._dispatch(obj)
        except RealtimeError as exc:
            return Step(client=[self.error(exc.message, exc.code, param=exc.param,
                                           event_id=event_id)])

    def _dispatch(self, obj: dict[str, Any]) -> Step:
        kind = obj.get("type")
        if kind in ("session.update", "transcription_session.update"):
            session = obj.get("session")
            if not isinstance(session, dict):
                raise RealtimeError(f"{kind} needs a 'session' object", "missing_required_parameter",
                                    "session")
            if kind == "transcription_session.update":
                self.beta = True
                config = _parse_beta(session, self.config)
            else:
                config = _parse_ga(session, self.config)
            return self._update(config)
        if kind == "input_audio_buffer.append":
            return self._append(obj.get("audio"))
        if kind == "input_audio_buffer.commit":
            return self._commit()
        if kind == "input_audio_buffer.clear":
            return self._clear()
        if not isinstance(kind, str):
            raise RealtimeError("event has no string field 'type'", "invalid_event", "type")
        raise RealtimeError(
            f"unsupported event type {kind[:60]!r}: a Parley transcription session takes "
            "session.update, transcription_session.update and input_audio_buffer.append/"
            "commit/clear", "invalid_event", "type")

    def _update(self, config: SessionConfig) -> Step:
        step = Step()
        if self.config is None:
            spec = AudioSpec("pcm_s16le", config.rate, 1)
            step.parley.append(StartMessage(
                type="start", audio=spec, source_language=config.language,
                target_languages=self.targets, token=self.token, partials=True,
            ))
            self.config = config
            return step  # `updated` comes with Parley's `ready`
        old = self.config
        if (config.encoding, config.rate, config.language) != (old.encoding, old.rate,
                                                               old.language):
            raise RealtimeError(
                "the audio format and language are fixed once the session is configured; "
                "only turn_detection may change (open a new connection for another)",
                "invalid_value", "session")
        self.config = config
        step.client.append(self._updated())
        return step

    def _updated(self) -> dict[str, Any]:
        kind = "transcription_session.updated" if self.beta else "session.updated"
        return self._event(kind, session=self._describe(self.config or SessionConfig()))

    def _append(self, audio: object) -> Step:
        if self.config is None:
            raise RealtimeError(
                "audio before the session is configured: send session.update (with "
                "session.type \"transcription\") or transcription_session.update first",
                "session_not_configured")
        if not isinstance(audio, str):
            raise RealtimeError("input_audio_buffer.append needs 'audio' (base64)",
                                "missing_required_parameter", "audio")
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise RealtimeError("'audio' is not valid base64", "invalid_value", "audio") from None
        if self.config.encoding == "g711_ulaw":
            data = g711_to_pcm16(data, "mulaw")
        elif self.config.encoding == "g711_alaw":
            data = g711_to_pcm16(data, "alaw")
        self._bytes_since_commit += len(data)
        return Step(parley=[data] if data else [])

    def _commit(self) -> Step:
        if self.config is None:
            raise RealtimeError("commit before the session is configured",
                                "session_not_configured")
        if self.config.vad:
            # Server VAD commits by itself; a client commit ends the utterance now.
            return Step(parley=[FlushMessage(type="flush")])
        if self._bytes_since_commit == 0:
            raise RealtimeError("Error committing input audio buffer: the buffer is empty",
                                "input_audio_buffer_commit_empty")
        self._bytes_since_commit = 0
        item = self._open_item()
        step = Step(parley=[FlushMessage(type="flush")])
        step.client += self._committed(item)
        if item.open_partial or not item.segments or self._last_reason not in _UTTERANCE_END:
            self._awaiting_commit = True  # completed comes with the utterance's final
        else:
            step.client += self._complete(item)
        return step

    def _clear(self) -> Step:
        if self.config is None:
            raise RealtimeError("clear before the session is configured",
                                "session_not_configured")
        self._bytes_since_commit = 0
        # Parley cannot take back audio: end the utterance and drop what it says.
        self._discard = self._item is not None
        return Step(parley=[FlushMessage(type="flush")],
                    client=[self._event("input_audio_buffer.cleared")])

    # -- Parley -> client -------------------------------------------------------------

    def on_parley(self, event: ParleyEvent) -> list[dict[str, Any]]:
        if isinstance(event, Ready):
            self.started = True
            return [self._updated()]
        if isinstance(event, Transcript):
            return self._transcript(event)
        if isinstance(event, Translation):
            return self._translation(event)
        if isinstance(event, Error):
            kind = "invalid_request_error" if event.code in _CLIENT_CODES else "server_error"
            return [self.error(event.message, event.code, kind=kind,
                               event_id=self._last_event_id)]
        if isinstance(event, End):
            return []
        return []

    def _open_item(self) -> _Item:
        if self._item is None:
            self._item = _Item(self._next_id("item"))
        return self._item

    def _transcript(self, ev: Transcript) -> list[dict[str, Any]]:
        vad = self.config.vad if self.config is not None else True
        out: list[dict[str, Any]] = []
        fresh = self._item is None
        item = self._open_item()
        self._segment_item[ev.segment] = item.item_id
        if item.start is None:
            item.start = ev.start
        if fresh and vad and not self._discard:
            out.append(self._event("input_audio_buffer.speech_started",
                                   audio_start_ms=round(ev.start * 1000), item_id=item.item_id))
        if not ev.final:
            item.open_partial = True
            if not self._discard:
                out += self._delta(item, join_text(item.text, ev.stable))
            return out
        item.open_partial = False
        self._last_reason = ev.reason
        item.text = join_text(item.text, ev.text)
        item.end = ev.end
        item.segments.append(ev.segment)
        item.latency_ms = ev.latency_ms
        if self._discard:
            self._discard = False
            self._item = None
            return out
        out += self._delta(item, item.text)
        if vad:
            out.append(self._event("input_audio_buffer.speech_stopped",
                                   audio_end_ms=round(ev.end * 1000), item_id=item.item_id))
            out += self._committed(item)
            out += self._complete(item)
        elif self._awaiting_commit and ev.reason in _UTTERANCE_END:
            self._awaiting_commit = False
            out += self._complete(item)
        return out

    def _committed(self, item: _Item) -> list[dict[str, Any]]:
        """`committed`, then the user item it makes (`conversation.item.added` in GA,
        `conversation.item.created` in beta), its transcript still to come."""
        previous = self._previous
        conversation_item = {"id": item.item_id, "object": "realtime.item", "type": "message",
                             "status": "completed", "role": "user",
                             "content": [{"type": "input_audio", "transcript": None}]}
        kind = "conversation.item.created" if self.beta else "conversation.item.added"
        return [self._event("input_audio_buffer.committed", item_id=item.item_id,
                            previous_item_id=previous),
                self._event(kind, previous_item_id=previous, item=conversation_item)]

    def _delta(self, item: _Item, text: str) -> list[dict[str, Any]]:
        if not text.startswith(item.sent) or len(text) <= len(item.sent):
            if not text.startswith(item.sent):
                log.debug("stable text does not extend what was sent; delta held back")
            return []
        delta = text[len(item.sent):]
        item.sent = text
        return [self._event("conversation.item.input_audio_transcription.delta",
                            item_id=item.item_id, content_index=0, delta=delta)]

    def _complete(self, item: _Item) -> list[dict[str, Any]]:
        self._item = None
        self._previous = item.item_id
        seconds = max(0.0, item.end - (item.start or 0.0))
        return [self._event(
            "conversation.item.input_audio_transcription.completed",
            item_id=item.item_id, content_index=0, transcript=item.text,
            usage={"type": "duration", "seconds": round(seconds, 3)},
            parley={"segments": item.segments, "start": item.start, "end": item.end,
                    "latency_ms": item.latency_ms},
        )]

    def _translation(self, ev: Translation) -> list[dict[str, Any]]:
        if not ev.final:
            return []
        items = [self._segment_item[s] for s in ev.source_segments if s in self._segment_item]
        return [self._event("parley.translation", item_ids=items, lang=ev.lang, text=ev.text,
                            latency_ms=ev.latency_ms)]

    def error(self, message: str, code: str, *, kind: str = "invalid_request_error",
              param: str | None = None, event_id: str | None = None) -> dict[str, Any]:
        """OpenAI's error event."""
        return self._event("error", error={"type": kind, "code": code, "message": message,
                                           "param": param, "event_id": event_id})

    # -- session objects -----------------------------------------------------------------

    def _describe(self, c: SessionConfig) -> dict[str, Any]:
        turn = ({"type": c.vad_type, "threshold": 0.5, "prefix_padding_ms": 300,
                 "silence_duration_ms": 500} if c.vad else None)
        transcription = {"model": c.model, "language": c.language, "prompt": c.prompt}
        session_id = f"sess_{self.ids}"
        if self.beta:
            return {"id": session_id, "object": "realtime.transcription_session",
                    "input_audio_format": c.encoding,
                    "input_audio_transcription": transcription,
                    "turn_detection": turn, "input_audio_noise_reduction": None,
                    "include": None, "parley": {"target_languages": list(self.targets)}}
        fmt: dict[str, Any] = {"type": _GA_NAMES[c.encoding]}
        if c.encoding == "pcm16":
            fmt["rate"] = c.rate
        return {"type": "transcription", "id": session_id,
                "object": "realtime.transcription_session",
                "audio": {"input": {"format": fmt, "transcription": transcription,
                                    "turn_detection": turn, "noise_reduction": None}},
                "include": [], "parley": {"target_languages": list(self.targets)}}


def check_query(path: str) -> tuple[str, ...]:
    """The Parley target languages a `/v1/realtime?target_languages=de,fr` asks for.

    Raises ParleyError (`unsupported_language`) for one that is no language code.
    """
    raw = query(path).get("target_languages", "")
    return tuple(normalize_language(t, "target_languages") for t in raw.split(",") if t.strip())


# --- session.update parsing -----------------------------------------------------------


def _parse_ga(session: dict[str, Any], old: SessionConfig | None) -> SessionConfig:
    kind = session.get("type", "transcription")
    if kind != "transcription":
        raise RealtimeError(
            f"session.type {str(kind)[:40]!r} is not supported: this server runs transcription "
            "sessions only (session.type \"transcription\")", "invalid_value", "session.type")
    config = old or SessionConfig()
    audio = session.get("audio") or {}
    inp = _obj(audio, "input", "session.audio") or {}
    if not isinstance(inp, dict):
        raise RealtimeError("session.audio.input must be an object", "invalid_type",
                            "session.audio.input")
    fmt = inp.get("format")
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") not in _GA_FORMATS:
            raise RealtimeError(
                f"session.audio.input.format must be {{\"type\": \"audio/pcm\", \"rate\": "
                f"24000}}, audio/pcmu or audio/pcma, got {json.dumps(fmt)[:60]}",
                "invalid_value", "session.audio.input.format")
        encoding = _GA_FORMATS[str(fmt["type"])]
        config = _with_format(config, encoding, fmt.get("rate"))
    if "transcription" in inp:
        config = _with_transcription(config, inp["transcription"],
                                     "session.audio.input.transcription")
    if "turn_detection" in inp:
        config = _with_turn(config, inp["turn_detection"], "session.audio.input.turn_detection")
    return config


def _parse_beta(session: dict[str, Any], old: SessionConfig | None) -> SessionConfig:
    config = old or SessionConfig()
    fmt = session.get("input_audio_format")
    if fmt is not None:
        if fmt not in ("pcm16", "g711_ulaw", "g711_alaw"):
            raise RealtimeError(
                f"input_audio_format must be pcm16, g711_ulaw or g711_alaw, got "
                f"{str(fmt)[:40]!r}", "invalid_value", "session.input_audio_format")
        config = _with_format(config, fmt, None)
    if "input_audio_transcription" in session:
        config = _with_transcription(config, session["input_audio_transcription"],
                                     "session.input_audio_transcription")
    if "turn_detection" in session:
        config = _with_turn(config, session["turn_detection"], "session.turn_detection")
    return config


def _obj(parent: object, key: str, where: str) -> Any:
    if not isinstance(parent, dict):
        raise RealtimeError(f"{where} must be an object", "invalid_type", where)
    return parent.get(key)


def _with_format(config: SessionConfig, encoding: Encoding, rate: object) -> SessionConfig:
    if encoding != "pcm16":
        return _replace(config, encoding=encoding, rate=G711_RATE)
    if rate is None:
        rate = PCM16_RATE
    if not isinstance(rate, int) or isinstance(rate, bool) or not 8000 <= rate <= 48000:
        raise RealtimeError(f"audio/pcm rate must be 24000 (8000..48000 accepted), got {rate!r}",
                            "invalid_value", "session.audio.input.format.rate")
    return _replace(config, encoding=encoding, rate=rate)


def _with_transcription(config: SessionConfig, value: object, where: str) -> SessionConfig:
    if value is None:
        return config
    if not isinstance(value, dict):
        raise RealtimeError(f"{where} must be an object", "invalid_type", where)
    language = value.get("language", config.language)
    if language in (None, "", "auto"):
        lang: str | None = None
    else:
        try:
            lang = normalize_language(language, "language")
        except ParleyError as exc:
            raise RealtimeError(exc.message, "invalid_value", f"{where}.language") from None
    model = value.get("model") or config.model
    prompt = value.get("prompt") or ""
    return _replace(config, language=lang, model=str(model)[:64], prompt=str(prompt)[:200])


def _with_turn(config: SessionConfig, value: object, where: str) -> SessionConfig:
    if value is None:
        return _replace(config, vad=False)
    if not isinstance(value, dict):
        raise RealtimeError(f"{where} must be an object or null", "invalid_type", where)
    kind = value.get("type", "server_vad")
    if kind not in ("server_vad", "semantic_vad"):
        raise RealtimeError(f"{where}.type must be server_vad or semantic_vad (or "
                            f"turn_detection null), got {str(kind)[:40]!r}",
                            "invalid_value", f"{where}.type")
    return _replace(config, vad=True, vad_type=str(kind))


def _replace(config: SessionConfig, **changes: Any) -> SessionConfig:
    from dataclasses import replace

    return replace(config, **changes)
