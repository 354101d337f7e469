"""Parley's exception tree and the stable error codes of the wire protocol.

Every error a client can see has a `code` from `ErrorCode`: machine-readable,
stable across releases, documented in docs/protocol.md. Internal code raises a
subclass of `ParleyError`; the gateway turns it into an `error` event.

    ParleyError
    ├── ProtocolError        malformed or out-of-order client messages
    ├── AudioError           audio that cannot be decoded as announced
    ├── UnsupportedError     language / model / pair the server cannot serve
    ├── LimitError           a configured limit was exceeded
    ├── OverloadedError      the server cannot take more work in real time
    └── ModelError           a model is missing, corrupt or failed to load
"""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "bad_json",  # text frame is not valid JSON / not an object
    "bad_message",  # valid JSON, but fields missing or of the wrong type
    "unknown_type",  # `type` is not a known client message
    "not_started",  # audio or control before `start`
    "already_started",  # a second `start`
    "bad_audio_format",  # unsupported encoding / rate / channels in `start`
    "bad_audio",  # audio bytes that cannot be decoded
    "frame_too_large",  # a frame over the configured maximum
    "unsupported_language",  # unknown source or target language
    "unsupported_pair",  # no model can translate source -> target
    "model_error",  # a model failed at run time
    "overloaded",  # admission control refused the session
    "rate_limited",  # too many messages per second
    "session_too_long",  # maximum session duration reached
    "idle_timeout",  # no audio for too long
    "unauthorized",  # missing or invalid token
    "forbidden",  # token lacks the role or room scope
    "session_not_found",  # resume: no such session (ended, grace expired, or wrong resume token)
    "slow_consumer",  # a listener fell too far behind (close reason)
    "internal",  # a bug: logged with a traceback on the server
]


class ParleyError(Exception):
    """Base of every error Parley raises on purpose."""

    code: ErrorCode = "internal"
    #: Whether the session must be closed after reporting this error.
    fatal: bool = True

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class ProtocolError(ParleyError):
    code: ErrorCode = "bad_message"
    fatal = False


class AudioError(ParleyError):
    code: ErrorCode = "bad_audio"


class UnsupportedError(ParleyError):
    code: ErrorCode = "unsupported_language"


class LimitError(ParleyError):
    code: ErrorCode = "frame_too_large"


class OverloadedError(ParleyError):
    code: ErrorCode = "overloaded"

    def __init__(self, message: str, *, retry_after_ms: int = 5000) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class ModelError(ParleyError):
    code: ErrorCode = "model_error"
