"""What the compatible-API translators share: Parley's messages on both sides, typed.

A translator (`server.compat.realtime`, `server.compat.deepgram`) turns one API's client
frames into Parley client messages (`ParleyOut`: a typed `start`/`flush`/`stop` or a
binary audio frame) and Parley's server events (wire JSON, read here into the typed
events of `server.protocol.events`) into that API's events. `encode_parley` writes a `ParleyOut` as the frame
`server.transport.speaker.SpeakerConnection` reads.

G.711 (mu-law / A-law) is expanded to 16-bit PCM here: both APIs name it and Parley's
decoders take PCM; the expansion is ITU-T G.711's, 256 values each, a table lookup
(Python 3.11's `audioop` is deprecated and gone in 3.13, so it is not used).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from server.protocol.events import End, Error, Ready, Transcript, Translation, from_wire
from server.protocol.messages import FlushMessage, StartMessage, StopMessage

ParleyOut: TypeAlias = StartMessage | FlushMessage | StopMessage | bytes


def encode_parley(msg: ParleyOut) -> str | bytes:
    """The frame Parley's speaker endpoint reads for `msg` (JSON text, or audio bytes)."""
    if isinstance(msg, bytes):
        return msg
    if isinstance(msg, StartMessage):
        obj: dict[str, Any] = {
            "type": "start",
            "audio": {
                "encoding": msg.audio.encoding,
                "sample_rate": msg.audio.sample_rate,
                "channels": msg.audio.channels,
            },
            "source_language": msg.source_language,
            "target_languages": list(msg.target_languages),
            "partials": msg.partials,
        }
        if msg.token is not None:
            obj["token"] = msg.token
        if msg.latency is not None:
            obj["latency"] = msg.latency
        return json.dumps(obj)
    return json.dumps({"type": msg.type})


@dataclass
class Step:
    """What one input made of: frames for Parley, events for the client, and whether the
    connection is done (closed by the API's own rules, with no Parley session to end)."""

    parley: list[ParleyOut] = field(default_factory=list)
    client: list[dict[str, Any]] = field(default_factory=list)
    close: bool = False


# --- Parley's server events, typed (server.protocol.events) -------------------------

#: The events a compatible API maps; `metrics` has no counterpart in either.
ParleyEvent: TypeAlias = Ready | Transcript | Translation | Error | End


def read_event(text: str) -> ParleyEvent | None:
    """One Parley server event (wire JSON), typed; None for those no API maps (metrics)."""
    event = from_wire(json.loads(text))
    return event if isinstance(event, Ready | Transcript | Translation | Error | End) else None


def join_text(left: str, right: str) -> str:
    """Two pieces of transcript, one space between them."""
    left, right = left.strip(), right.strip()
    return f"{left} {right}" if left and right else left or right


# --- tokens -----------------------------------------------------------------------

_AUTH = re.compile(r"^\s*(Bearer|Token)\s+(\S+)\s*$", re.IGNORECASE)
#: The OpenAI SDK's browser form: `Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.KEY`
OPENAI_KEY_PROTOCOL = "openai-insecure-api-key."


def presented_token(headers: Iterable[tuple[str, str]], path: str) -> str | None:
    """The API token a compatible client presents, or None.

    `Authorization: Bearer X` (OpenAI, Deepgram's temporary tokens) or `Token X`
    (Deepgram's API keys); the WebSocket subprotocol forms for browsers
    (`openai-insecure-api-key.X`, Deepgram's `token, X`); Parley's `?token=`.
    """
    offered: list[str] = []
    for name, value in headers:
        lname = name.lower()
        if lname == "authorization":
            match = _AUTH.match(value)
            if match:
                return match.group(2)
        elif lname == "sec-websocket-protocol":
            offered += [p.strip() for p in value.split(",") if p.strip()]
    for i, proto in enumerate(offered):
        if proto.startswith(OPENAI_KEY_PROTOCOL) and len(proto) > len(OPENAI_KEY_PROTOCOL):
            return proto[len(OPENAI_KEY_PROTOCOL):]
        if proto.lower() == "token" and i + 1 < len(offered):
            return offered[i + 1]
    return query(path).get("token") or None


def query(path: str) -> dict[str, str]:
    """The query parameters of a request target (the last of a repeated name wins)."""
    return dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))


def header_pairs(headers: Mapping[str, str] | Any) -> list[tuple[str, str]]:
    """websockets' `Headers` (raw_items) or a mapping, as (name, value) pairs."""
    raw = getattr(headers, "raw_items", None)
    items = raw() if callable(raw) else headers.items()
    return [(str(k), str(v)) for k, v in items]


# --- G.711 --------------------------------------------------------------------------


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype("<i2")


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(a & 0x80, magnitude, -magnitude).astype("<i2")


_G711 = {"mulaw": _ulaw_table(), "alaw": _alaw_table()}


def g711_to_pcm16(data: bytes, law: str) -> bytes:
    """G.711 bytes (`law`: "mulaw" or "alaw") as 16-bit little-endian PCM, same rate."""
    table = _G711[law]
    return bytes(table[np.frombuffer(data, dtype=np.uint8)].tobytes())
