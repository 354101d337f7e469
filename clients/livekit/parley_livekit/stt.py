"""Parley as a LiveKit Agents STT: a participant's audio in, interim and final transcripts out.

    from livekit.agents import AgentSession
    from clients.livekit.parley_livekit import STT

    parley = STT(url="ws://parley:8765", token="...", language="en", target_languages=["de"])
    parley.on("translation", lambda tr: print(tr.language, tr.text))
    session = AgentSession(stt=parley, llm=..., tts=..., vad=...)

Why LiveKit Agents and not Pipecat: both are open-source Python voice-agent frameworks
with a pluggable STT, but LiveKit Agents' STT contract is a small, typed, documented
interface (`stt.STT`, `RecognizeStream`, `SpeechEvent`) that has a place for everything
Parley produces: interim and final transcripts, start/end of speech, word timings and
confidences, usage, a manual flush (Parley's `flush`), retries with typed errors
(`APIConnectionError`, `APIStatusError`, `APITimeoutError`), and its `SpeechData` even has
fields for translations. Its audio type, `rtc.AudioFrame`, is what a LiveKit room track
gives, so the plugin sends frames as they come. Pipecat's STT services are frame
processors inside its pipeline: a plugin has to handle the pipeline's system frames and
pushes untyped `TranscriptionFrame`s, with no interim/final/usage contract as precise,
and its tests need a pipeline runner around the service. LiveKit is also what most
open-source speech servers ship a plugin for, so a user swaps a provider in one line.

The wire is Parley's own protocol (docs/protocol.md) through `parley_client.ParleyClient`:
the session announces `pcm_s16le` at the first frame's sample rate and channel count, and
frames go out as they are (Parley accepts 8-192 kHz, 1-8 channels, and resamples to
16 kHz mono itself, so the plugin does no resampling: one resampler, Parley's).

Translations: a voice agent's turn-taking needs the transcript at once, while Parley's
translations come later and per sentence (a translation may cover several transcript
segments). Holding finals back for them would delay every turn, and putting them in the
transcript's `SpeechData` (where `language` is then the target) would hand the agent's
LLM the translation instead of what was said. So each Parley `translation` event (partial
and final) is emitted on the STT as `"translation"` with a typed `Translation` (language,
text, final, the transcript segments it covers, timings and the stream's `request_id`).

Reconnects: the framework retries `_run` on a retryable error (a dropped connection,
`overloaded`, `internal`, the server shutting down) with its `APIConnectOptions`; each
retry is a new Parley session (on any replica: Parley's own `resume` needs the same
server process, so it is not used). The new session is first sent the audio the old one
had not made final (`events.ReplayBuffer`: from the end of the last final on), then the
frames pushed meanwhile, which waited in the stream's input channel: no final twice, no
words lost. Times stay on the audio's timeline (the new session's zero is where its
replayed audio starts). Refusals that a retry cannot fix (bad token, unsupported
language pair) are `APIStatusError`s with a 4xx status and are not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    NotGivenOr,
    stt,
)
from livekit.agents.utils import AudioBuffer, aio, is_given

from clients.livekit.parley_livekit.events import (
    EventMapper,
    ReplayBuffer,
    Transcript,
    parse_transcript,
    parse_translation,
    pcm_s16le,
    speech_data,
)
from clients.python.parley_client.client import AudioFormat, Event, ParleyClient
from clients.python.parley_client.errors import ParleyClientError
from clients.python.parley_client.urls import DEFAULT_URL

logger = logging.getLogger(__name__)

LatencyMode = Literal["fast", "balanced", "accurate"]

#: Parley error code -> HTTP-like status for `APIStatusError` (4xx: not retried).
_STATUS = {
    "unauthorized": 401,
    "forbidden": 403,
    "bad_json": 400,
    "bad_message": 400,
    "unknown_type": 400,
    "not_started": 400,
    "already_started": 400,
    "bad_audio_format": 400,
    "bad_audio": 400,
    "frame_too_large": 413,
    "unsupported_language": 400,
    "unsupported_pair": 400,
    "session_not_found": 404,
    "rate_limited": 429,
    "overloaded": 503,
    "internal": 500,
    "model_error": 500,
}


@dataclass(frozen=True)
class ParleySTTOptions:
    """What each stream's Parley session asks for (docs/protocol.md `start`)."""

    #: the server: ws://HOST:PORT (http(s):// and wss:// work too)
    url: str = DEFAULT_URL
    #: an API token with role `speak` (None on a server in open mode)
    token: str | None = None
    #: the spoken language (ISO 639-1), or None to detect it
    language: str | None = "en"
    #: languages to translate into; each comes as a `"translation"` event on the STT
    target_languages: tuple[str, ...] = ()
    #: Parley's latency mode; None: the server's default (`fast`)
    latency: LatencyMode | None = None
    #: a room whose listeners also receive the transcript (captions for the other guests)
    room: str | None = None


def api_error(exc: ParleyClientError) -> APIError:
    """The framework's error for a Parley refusal or a failed connection."""
    if exc.code in _STATUS:
        return APIStatusError(f"Parley: {exc.message} ({exc.code})",
                              status_code=_STATUS[exc.code], body={"code": exc.code})
    if exc.code == "connection":
        return APIConnectionError(f"Parley: {exc.message}")
    return APIConnectionError(f"Parley: {exc.message} ({exc.code})")


class STT(stt.STT[Literal["translation"]]):
    """Streaming speech recognition (and translation) by a Parley server."""

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        token: str | None = None,
        language: str | None = "en",
        target_languages: Sequence[str] = (),
        latency: LatencyMode | None = None,
        room: str | None = None,
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(
            streaming=True, interim_results=True, aligned_transcript="word",
            offline_recognize=True, manual_flush=True,
        ))
        self._opts = ParleySTTOptions(
            url=url, token=token, language=language, target_languages=tuple(target_languages),
            latency=latency, room=room,
        )
        self._model = "unknown"

    @property
    def options(self) -> ParleySTTOptions:
        return self._opts

    @property
    def model(self) -> str:
        """The server's recognition model, once a session told it."""
        return self._model

    @property
    def provider(self) -> str:
        return "Parley"

    def update_options(
        self, *, language: NotGivenOr[str | None] = NOT_GIVEN,
        target_languages: NotGivenOr[Sequence[str]] = NOT_GIVEN,
        latency: NotGivenOr[LatencyMode | None] = NOT_GIVEN,
    ) -> None:
        """Change the options of streams opened from now on."""
        if is_given(language):
            self._opts = dataclasses.replace(self._opts, language=language)
        if is_given(target_languages):
            self._opts = dataclasses.replace(
                self._opts, target_languages=tuple(target_languages))
        if is_given(latency):
            self._opts = dataclasses.replace(self._opts, latency=latency)

    def _with_language(self, language: NotGivenOr[str]) -> ParleySTTOptions:
        if is_given(language):
            return dataclasses.replace(self._opts, language=language)
        return self._opts

    def _client(self, opts: ParleySTTOptions, audio: AudioFormat, *, partials: bool,
                timeout: float) -> ParleyClient:
        return ParleyClient(
            opts.url, source_language=opts.language, targets=opts.target_languages,
            room=opts.room, partials=partials, audio=audio, token=opts.token,
            open_timeout=timeout, latency=opts.latency,
        )

    async def _connect(self, client: ParleyClient) -> None:
        try:
            ready = await client.connect()
        except ParleyClientError as exc:
            raise api_error(exc) from exc
        except TimeoutError as exc:
            raise APITimeoutError(f"Parley: no `ready` from {client.url} in time") from exc
        models = ready.get("models") or {}
        asr = models.get("asr") if isinstance(models, dict) else None
        if isinstance(asr, dict) and asr.get("name"):
            self._model = str(asr["name"])

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechStream:
        return SpeechStream(stt=self, opts=self._with_language(language),
                            conn_options=conn_options)

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        """One Parley session for the whole buffer: its finals joined into one transcript."""
        opts = self._with_language(language)
        frame = rtc.combine_audio_frames(buffer)
        fmt = AudioFormat("pcm_s16le", frame.sample_rate, frame.num_channels)
        client = self._client(opts, fmt, partials=False, timeout=conn_options.timeout)
        finals: list[Transcript] = []
        try:
            async with asyncio.timeout(conn_options.timeout + 4 * frame.duration + 30):
                await self._connect(client)
                await client.send_audio(bytes(frame.data))
                await client.stop()
                async for event in client.events():
                    if event.get("type") == "transcript" and event.get("final"):
                        finals.append(parse_transcript(event))
        except ParleyClientError as exc:
            raise api_error(exc) from exc
        except TimeoutError as exc:
            raise APITimeoutError("Parley: the recognition did not finish in time") from exc
        finally:
            await client.close()
        text = " ".join(t.text for t in finals if t.text)
        joined = Transcript(
            final=True, segment=0, text=text, stable=text,
            start=finals[0].start if finals else 0.0, end=finals[-1].end if finals else 0.0,
            language=next((t.language for t in finals if t.language), opts.language),
            reason="stop", words=tuple(w for t in finals for w in t.words), latency_ms=None,
        )
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT, request_id=client.session_id,
            alternatives=[speech_data(joined, language=opts.language or "", time_offset=0.0)],
        )


class SpeechStream(stt.RecognizeStream):
    """One Parley speaker session per connection, fed the frames pushed to the stream."""

    def __init__(self, *, stt: STT, opts: ParleySTTOptions,
                 conn_options: APIConnectOptions) -> None:
        super().__init__(stt=stt, conn_options=conn_options)
        self._parley = stt
        self._opts = opts
        self._format: AudioFormat | None = None
        self._replay: ReplayBuffer | None = None
        self._base_offset = 0.0

    async def _first_frame(self) -> rtc.AudioFrame | None:
        """The next frame of input (flushes before any audio mean nothing); None at its end."""
        async for item in self._input_ch:
            if isinstance(item, rtc.AudioFrame):
                return item
        return None

    async def _run(self) -> None:
        first = await self._first_frame()
        if first is None and (self._replay is None or not self._replay.pending()):
            return  # the input ended and everything sent is final
        if self._replay is None:
            assert first is not None
            self._format = AudioFormat("pcm_s16le", first.sample_rate, first.num_channels)
            self._replay = ReplayBuffer(sample_rate=first.sample_rate,
                                        channels=first.num_channels)
            self._base_offset = self.start_time_offset
        fmt, replay = self._format, self._replay
        assert fmt is not None
        if first is not None:
            # Held before connecting: if the connection fails, the next one sends it.
            replay.append(pcm_s16le(first.data, first.num_channels, fmt.channels))
        session_start = replay.start_s
        client = self._parley._client(self._opts, fmt, partials=True,
                                      timeout=self._conn_options.timeout)
        try:
            await self._parley._connect(client)
            mapper = EventMapper(
                request_id=client.session_id, language=self._opts.language or "",
                time_offset=self._base_offset + session_start, wall_start=time.time(),
            )
            self.start_time = mapper.wall_start
            sender = asyncio.create_task(self._send(client, mapper, replay, session_start))
            receiver = asyncio.create_task(self._receive(client, mapper, replay, session_start))
            try:
                done, _ = await asyncio.wait(
                    (sender, receiver), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                if not sender.done():
                    raise APIConnectionError(
                        "Parley closed the session before the end of the input")
                await receiver
            finally:
                for task in (sender, receiver):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        except ParleyClientError as exc:
            raise api_error(exc) from exc
        finally:
            await client.close()

    async def _send(self, client: ParleyClient, mapper: EventMapper, replay: ReplayBuffer,
                    session_start: float) -> None:
        """The audio not final yet (the first frame, or what a dropped session did not
        finish), then the frames as they are pushed; `stop` at the end of the input."""
        await client.send_audio(replay.pending())
        channels = client.audio.channels
        while True:
            for event in mapper.audio(replay.end_s - session_start):
                self._event_ch.send_nowait(event)
            try:
                item = await self._input_ch.recv()
            except aio.ChanClosed:  # end_input() or aclose()
                break
            if isinstance(item, rtc.AudioFrame):
                pcm = pcm_s16le(item.data, item.num_channels, channels)
                replay.append(pcm)
                await client.send_audio(pcm)
            else:
                await client.flush()
        await client.stop()

    async def _receive(self, client: ParleyClient, mapper: EventMapper, replay: ReplayBuffer,
                       session_start: float) -> None:
        async for event in client.events():
            kind = event.get("type")
            if kind == "transcript":
                transcript = parse_transcript(event)
                if transcript.final:
                    replay.final_until(session_start + transcript.end)
                for speech in mapper.transcript(transcript):
                    self._event_ch.send_nowait(speech)
            elif kind == "translation":
                self._parley.emit("translation", parse_translation(
                    event, time_offset=mapper.time_offset, request_id=mapper.request_id))
            elif kind == "error":
                _log_error(event)
            elif kind == "end":
                for speech in mapper.end():
                    self._event_ch.send_nowait(speech)


def _log_error(event: Event) -> None:
    # A fatal error is followed by the close, which `events()` raises as the error itself.
    if not event.get("fatal"):
        logger.warning("Parley error %s: %s", event.get("code"), event.get("message"))
