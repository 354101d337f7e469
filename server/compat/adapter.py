"""A compatible API's WebSocket, presented to Parley's speaker endpoint as its own.

`CompatConnection` wraps the client's real `ServerConnection` and has the members of
it that `server.transport.speaker.SpeakerConnection` uses (`recv`, `send`, `close`,
`close_code`, `request`, `remote_address`, `transport`). `recv()` reads the API's
frames and returns the Parley frames its translator makes of them (answering the
client directly where the API wants an answer of its own, e.g. an `error` for an
unknown event); `send()` takes Parley's events and sends the API's. So a compatible
session is an ordinary Parley session: the same admission, tokens, limits, shared
models and scheduler, metrics, resume buffers and errors.

`handshake` checks what can be refused before the upgrade (Deepgram's query string;
a token the server does not know) and answers it as the API does, with an HTTP error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from server.compat import deepgram, realtime
from server.compat.common import (
    OPENAI_KEY_PROTOCOL,
    ParleyOut,
    encode_parley,
    header_pairs,
    presented_token,
    read_event,
)
from server.errors import ParleyError, ProtocolError
from server.protocol.close_codes import CLOSE_NORMAL
from server.security import Gatekeeper
from server.security.limits import ConnectionGuard

log = logging.getLogger(__name__)

class CompatConnection:
    """The client's connection as Parley's speaker endpoint sees it."""

    def __init__(self, conn: ServerConnection, translator: realtime.RealtimeTranslator
                 | deepgram.DeepgramTranslator) -> None:
        self.conn = conn
        self.translator = translator
        self._to_parley: deque[ParleyOut] = deque()
        self._send_lock = asyncio.Lock()
        #: the speaker's guard: frames the translator answers itself count against its
        #: message rate, and refusals before the session against its allowance
        self.guard: ConnectionGuard | None = None

    # -- what SpeakerConnection reads ------------------------------------------------

    @property
    def request(self) -> Request | None:
        return self.conn.request

    @property
    def remote_address(self) -> Any:
        return self.conn.remote_address

    @property
    def transport(self) -> asyncio.Transport:
        return self.conn.transport

    @property
    def close_code(self) -> int | None:
        return self.conn.close_code

    async def open(self) -> None:
        """What the API sends before the client speaks; the Parley frames it opens with."""
        step = self.translator.open()
        self._to_parley.extend(step.parley)
        await self._send_client(step.client)

    async def recv(self) -> str | bytes:
        """The next Parley frame (raises ConnectionClosed as websockets does).

        Cancel-safe like websockets' own: a client frame is translated before any
        await, and the answers it needs are sent shielded from the cancellation.
        """
        while not self._to_parley:
            try:
                frame = await self.conn.recv()
            except ConnectionClosed as exc:
                # Nothing can resume a compatible session (its client never saw a resume
                # token): a dropped connection ends it, as a clean close does, instead of
                # parking it for the grace period.
                raise ConnectionClosed(Close(CLOSE_NORMAL, "gone"), exc.sent,
                                       exc.rcvd_then_sent) from exc
            step = self.translator.on_client(frame)
            self._to_parley.extend(step.parley)
            if step.client:
                await asyncio.shield(self._send_client(step.client))
            if step.close:
                await asyncio.shield(self.conn.close(1000, "done"))
                continue  # the next recv() raises ConnectionClosed
            if not step.parley:
                self._count(any(e.get("type") in ("error", "Error") for e in step.client))
        return encode_parley(self._to_parley.popleft())

    def _count(self, refused: bool) -> None:
        """Hold a frame Parley never sees to the speaker's limits (raises ParleyError)."""
        guard = self.guard
        if guard is None:
            return
        guard.on_message(time.monotonic(), audio=False)
        if refused and not guard.started:
            exc = guard.refused_before_start(
                ProtocolError("message refused before the session was configured",
                              code="not_started"))
            if exc.fatal:
                raise exc

    async def send(self, message: str | bytes) -> None:
        """One Parley event, sent as the API's events (none for some)."""
        text = message.decode() if isinstance(message, bytes) else message
        event = read_event(text)
        if event is None:
            return
        await self._send_client(self.translator.on_parley(event))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.conn.close(code, reason)

    async def _send_client(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        async with self._send_lock:
            for event in events:
                await self.conn.send(json.dumps(event, ensure_ascii=False,
                                                separators=(",", ":")))


def connection_for(conn: ServerConnection, path: str) -> CompatConnection:
    """The translator for a compatible path (checked at the handshake already)."""
    request = conn.request
    headers = header_pairs(request.headers) if request is not None else []
    full = request.path if request is not None else path
    token = presented_token(headers, full)
    ids = uuid.uuid4().hex[:12]
    if path == realtime.PATH:
        beta = any(k.lower() == "openai-beta" and "realtime=v1" in v for k, v in headers)
        translator: realtime.RealtimeTranslator | deepgram.DeepgramTranslator = (
            realtime.RealtimeTranslator(full, beta=beta, token=token, ids=ids))
    else:
        translator = deepgram.DeepgramTranslator(
            deepgram.parse_query(full), token=token, request_id=str(uuid.UUID(int=int(ids, 16))),
            created=datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    return CompatConnection(conn, translator)


def handshake(request: Request, path: str, gate: Gatekeeper) -> Response | None:
    """An HTTP refusal in the API's shape, or None to go on with the upgrade."""
    from server.transport.http import response

    headers = header_pairs(request.headers)
    try:
        if path == deepgram.PATH:
            deepgram.parse_query(request.path)
        elif path == realtime.PATH:
            realtime.check_query(request.path)
    except deepgram.DeepgramError as exc:
        body = deepgram.handshake_error(exc, uuid.uuid4().hex)
        return _json(response, 400, body, exc.message)
    except ParleyError as exc:  # a bad target_languages on the Realtime URL
        return _json(response, 400, _openai_error(exc.message, "invalid_value"), exc.message)
    try:
        gate.store.identify(presented_token(headers, request.path))
    except ParleyError as exc:
        if path == deepgram.PATH:
            body = {"err_code": "INVALID_AUTH", "err_msg": exc.message,
                    "request_id": uuid.uuid4().hex}
        else:
            body = _openai_error(exc.message, "invalid_api_key")
        return _json(response, 401, body, exc.message)
    return None


def _openai_error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}


def _json(make: Any, status: int, body: dict[str, Any], message: str) -> Response:
    resp: Response = make(status, (json.dumps(body) + "\n").encode(), "application/json",
                          reason={400: "Bad Request", 401: "Unauthorized"}[status])
    if "err_code" in body:
        resp.headers["dg-error"] = message[:200]
    return resp


def select_subprotocol(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """Browsers put API keys in subprotocols; the server must answer with one it took."""
    path = conn.request.path.split("?", 1)[0] if conn.request is not None else ""
    if path == realtime.PATH:
        if "realtime" in offered:
            return Subprotocol("realtime")
        keyed = [p for p in offered if p.startswith(OPENAI_KEY_PROTOCOL)]
        return keyed[0] if keyed else None
    if path == deepgram.PATH and "token" in offered:
        return Subprotocol("token")
    return None
