"""The ASGI app of OpenAI's audio REST endpoints (Starlette; served by uvicorn's h11
protocol on connections server.transport.front hands over).

`POST /v1/audio/transcriptions` and `/v1/audio/translations` take OpenAI's multipart
upload, decode the file with FFmpeg (PyAV), and run `parley transcribe`'s decode
(`server.transcribe.transcribe_audio`) with each model call queued on the server's shared
recognition scheduler, like any session's. A request is admitted as a speaker: its
bearer token needs the `speak` role, it takes a speaker slot while it decodes, and it is
refused while the server drains or is overloaded. Errors are OpenAI's shape
(`formats.error_body`). Every plain GET is `Gateway.plain_response`, as on the
websockets side of the port.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from server.asr.scheduler import AsrScheduler
from server.asr.whisper import Decode, Task
from server.compat.openai import formats
from server.compat.openai.models import model_ids
from server.errors import OverloadedError, ParleyError, UnsupportedError
from server.models.languages import check_source_language
from server.protocol.messages import normalize_language
from server.security import Admission, token_from_request
from server.streaming.events import AsrRequest
from server.transcribe import OfflineResult, decode_file, transcribe_audio
from server.transport import http

if TYPE_CHECKING:
    from server.transport.gateway import Gateway

log = logging.getLogger(__name__)

#: After an upload is refused, up to this many more bytes of it are read and dropped,
#: so that the client, still sending, reads the answer instead of a reset connection.
DRAIN_BYTES = 64 * 1024 * 1024
_ERROR_STATUS = {
    "unauthorized": 401, "forbidden": 403, "overloaded": 503, "model_error": 500,
    "internal": 500, "rate_limited": 429,
}


class ApiError(Exception):
    """An answer in OpenAI's error shape."""

    def __init__(self, status: int, message: str, code: str | None, param: str | None = None,
                 type_: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_ or ("server_error" if status >= 500 else "invalid_request_error")
        self.headers = headers

    @classmethod
    def of(cls, exc: ParleyError, param: str | None = None) -> ApiError:
        retry = getattr(exc, "retry_after_ms", None)
        headers = {"Retry-After": str(max(1, round(retry / 1000)))} if retry else None
        return cls(_ERROR_STATUS.get(exc.code, 400), exc.message, exc.code, param,
                   headers=headers)

    def response(self) -> JSONResponse:
        body = formats.error_body(self.message, self.type, self.code, self.param)
        return JSONResponse(body, self.status, headers=self.headers)


@dataclass(frozen=True)
class AudioParams:
    """A request's form fields, checked."""

    model: str
    language: str | None
    prompt: str
    response_format: formats.ResponseFormat
    stream: bool
    segments: bool
    words: bool


class _TooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class _Upload:
    """The request body as ASGI delivers it, bounded to `limit` bytes."""

    def __init__(self, request: Request, limit: int) -> None:
        self.receive = request.receive
        self.limit = limit
        self.size = 0
        self.done = False

    async def _next(self) -> bytes:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.done = True
            raise _ClientGone
        self.done = not message.get("more_body", False)
        body: bytes = message.get("body", b"")
        self.size += len(body)
        return body

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        while not self.done:
            body = await self._next()
            if self.size > self.limit:
                raise _TooLarge
            if body:
                yield body

    async def drain(self) -> None:
        """Read and drop the rest (up to DRAIN_BYTES more)."""
        while not self.done and self.size <= self.limit + DRAIN_BYTES:
            await self._next()


class _ScheduledEngine:
    """`transcribe_audio`'s engine, called from a worker thread: each model call is a
    request to the shared scheduler on the event loop (queued with every session's)."""

    def __init__(self, scheduler: AsrScheduler, loop: asyncio.AbstractEventLoop) -> None:
        self.scheduler = scheduler
        self.loop = loop

    def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Decode:
        future = asyncio.run_coroutine_threadsafe(self.scheduler.transcribe(request, task),
                                                  self.loop)
        return future.result().decode


class OpenAIAudio:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @property
    def limit(self) -> int:
        return self.gateway.services.config.max_upload_bytes

    async def transcriptions(self, request: Request) -> Response:
        return await self._serve(request, "transcribe")

    async def translations(self, request: Request) -> Response:
        return await self._serve(request, "translate")

    async def plain(self, request: Request) -> Response:
        path = request.url.path
        if request.method not in ("GET", "HEAD"):
            return ApiError(404, f"no such endpoint: {request.method} {path}",
                            "not_found").response()
        if path in http.WS_PATHS:
            return PlainTextResponse(
                f"{path} is a WebSocket endpoint: open a new connection to upgrade\n", 426)
        answer = self.gateway.plain_response(path)
        return Response(answer.body, answer.status_code,
                        headers={k: v for k, v in answer.headers.raw_items()
                                 if k.lower() != "content-length"})

    async def _serve(self, request: Request, task: Task) -> Response:
        upload = _Upload(request, self.limit)
        try:
            # The speaker slot is held while the upload is read and decoded.
            with self._admit(request):
                form = await self._form(request, upload)
                try:
                    params = self._params(form, task)
                    result = await self._decode(form, params, task)
                finally:
                    await form.close()
        except ApiError as exc:
            if exc.code is not None:
                self.gateway.metrics.rejected(exc.code)
            log.info("%s refused (%s %s): %s", request.url.path, exc.status, exc.code,
                     exc.message)
            try:
                await upload.drain()
            except _ClientGone:
                pass
            return exc.response()
        except _ClientGone:
            log.info("%s: the client went away during its upload", request.url.path)
            return Response(status_code=400)  # nobody reads it
        if params.stream:
            # The decode is whole before the first delta: they go out at once.
            return StreamingResponse(_iterate(formats.sse_events(formats.deltas(result.words),
                                                                 result.text)),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return self._answer(result, params, task)

    def _admit(self, request: Request) -> Admission:
        """The bearer token, with the `speak` role, and a speaker slot; ApiError otherwise."""
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            if not self.gateway.accepting:
                raise OverloadedError("server is shutting down; try again", retry_after_ms=1000)
            overload = self.gateway.services.overload()
            if overload is not None:
                raise overload
            return self.gateway.gatekeeper.admit(token_from_request(request.headers, path),
                                                 "speak", None)
        except ParleyError as exc:
            raise ApiError.of(exc) from None

    async def _form(self, request: Request, upload: _Upload) -> FormData:
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise ApiError(400, "the request must be multipart/form-data (an audio file in the"
                           f" `file` field), not {ctype or 'a body without Content-Type'!r}",
                           "invalid_content_type")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise self._too_large(int(declared))
        parser = MultiPartParser(request.headers, upload.chunks(), max_files=1, max_fields=32)
        try:
            return await parser.parse()
        except _TooLarge:
            raise self._too_large(upload.size) from None
        except MultiPartException as exc:
            raise ApiError(400, f"malformed multipart body: {exc.message}",
                           "invalid_multipart") from None

    def _too_large(self, size: int) -> ApiError:
        return ApiError(413, f"upload of {size} bytes or more is over this server's limit of"
                        f" {self.limit} bytes (--max-upload-bytes)", "upload_too_large", "file")

    def _params(self, form: FormData, task: Task) -> AudioParams:
        def field(name: str) -> str | None:
            value = form.get(name)
            if value is None or isinstance(value, str):
                return value
            raise ApiError(400, f"`{name}` must be a form field, not a file", "invalid_value",
                           name)

        served = self.gateway.services.asr_info
        model = field("model")
        if not model:
            raise ApiError(400, "you must provide a model parameter", "missing_required_parameter",
                           "model")
        if model not in model_ids(served.name):
            raise ApiError(404, f"the model {model!r} does not exist on this server; it serves"
                           f" {', '.join(model_ids(served.name))}", "model_not_found", "model")
        if task == "translate" and not served.can_translate_to_english:
            raise ApiError(400, f"the served model {served.name!r} has no translate task"
                           " (it is English-only): serve a multilingual Whisper model, e.g."
                           " `parley serve --asr-model base`, for /v1/audio/translations",
                           "unsupported_task", "model")
        language = None
        raw_language = field("language") if task == "transcribe" else None
        if raw_language:
            try:
                language = normalize_language(raw_language, "language")
                check_source_language(served, language)
            except ParleyError as exc:
                raise ApiError.of(exc, "language") from None
        fmt = field("response_format") or "json"
        if fmt not in formats.RESPONSE_FORMATS:
            raise ApiError(400, f"response_format must be one of"
                           f" {', '.join(formats.RESPONSE_FORMATS)}, not {fmt!r}",
                           "invalid_value", "response_format")
        temperature = field("temperature")
        if temperature is not None:
            try:
                ok = 0.0 <= float(temperature) <= 1.0
            except ValueError:
                ok = False
            if not ok:
                raise ApiError(400, f"temperature must be a number from 0 to 1, not"
                               f" {temperature!r}", "invalid_value", "temperature")
        stream = (field("stream") or "false").lower()
        if stream not in ("true", "false"):
            raise ApiError(400, f"stream must be true or false, not {stream!r}",
                           "invalid_value", "stream")
        if stream == "true" and task == "translate":
            raise ApiError(400, "translations are not streamed", "invalid_value", "stream")
        granularities = [g for g in form.getlist("timestamp_granularities[]")
                         if isinstance(g, str)]
        unknown = set(granularities) - {"word", "segment"}
        if unknown:
            raise ApiError(400, f"timestamp_granularities[] takes word and segment, not"
                           f" {', '.join(sorted(unknown))}", "invalid_value",
                           "timestamp_granularities")
        return AudioParams(
            model=model, language=language, prompt=field("prompt") or "",
            response_format=fmt,
            stream=stream == "true",
            segments=not granularities or "segment" in granularities,
            words="word" in granularities,
        )

    async def _decode(self, form: FormData, params: AudioParams, task: Task) -> OfflineResult:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "you must provide an audio file in the `file` field",
                           "missing_required_parameter", "file")
        name = upload.filename or "the upload"
        try:
            audio = await asyncio.to_thread(decode_file, upload.file, name)
        except ParleyError as exc:
            raise ApiError(400, f"{exc.message}; send audio in a container FFmpeg reads"
                           " (wav, mp3, m4a, ogg, webm, flac...)", "unsupported_media",
                           "file") from None
        if audio.size == 0:
            raise ApiError(400, f"{name} holds no audio samples", "unsupported_media", "file")
        engine = _ScheduledEngine(self.gateway.services.asr, asyncio.get_running_loop())
        started = time.monotonic()
        try:
            result = await asyncio.to_thread(transcribe_audio, engine, audio, params.language,
                                             task=task, prompt=params.prompt)
        except UnsupportedError as exc:
            raise ApiError.of(exc, "language") from None
        except ParleyError as exc:
            raise ApiError.of(exc) from None
        log.info("%s of %.1f s of audio in %.1f s (%s)", task, result.audio_s,
                 time.monotonic() - started, params.response_format)
        return result

    def _answer(self, result: OfflineResult, params: AudioParams, task: Task) -> Response:
        match params.response_format:
            case "json":
                return JSONResponse({"text": result.text})
            case "text":
                return PlainTextResponse(result.text + "\n")
            case "srt":
                return PlainTextResponse(formats.srt(formats.segments_of(result.words)))
            case "vtt":
                return PlainTextResponse(formats.vtt(formats.segments_of(result.words)),
                                         media_type="text/vtt")
            case "verbose_json":
                return JSONResponse(formats.verbose_json(
                    task=task, language=result.language or params.language or "",
                    duration=result.audio_s, words=result.words,
                    with_segments=params.segments, with_words=params.words and task == "transcribe",
                ))



async def _iterate(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return ApiError(500, f"internal error ({type(exc).__name__}); see the server log",
                    "internal").response()


_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_app(gateway: Gateway) -> Starlette:
    api = OpenAIAudio(gateway)
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        Exception: _internal_error,
    }
    return Starlette(
        routes=[
            Route("/v1/audio/transcriptions", api.transcriptions, methods=["POST"]),
            Route("/v1/audio/translations", api.translations, methods=["POST"]),
            # Every other request: the plain GET routes, else 404 in OpenAI's shape.
            Route("/{path:path}", api.plain, methods=_ANY_METHOD),
        ],
        exception_handlers=handlers,
    )
