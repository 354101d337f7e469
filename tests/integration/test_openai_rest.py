"""OpenAI's audio REST API, driven by the real `openai` SDK against a real `parley serve`.

One server (multilingual `base`, faster-whisper's engine so that its decode is the one
`parley transcribe --beam 1` runs, tokens, a small upload limit) on a free port; the SDK's
`base_url` is its http URL + /v1, as for api.openai.com.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import sacrebleu

from benchmarks.data import build_stream, dutch_clips, english_clips, wer
from server.config import ServerConfig
from server.transcribe import load_audio
from tests.integration.conftest import ServerProcess, parley_serve, serve_in_process
from tests.integration.streaming_client import stream_pcm
from tests.integration.test_tls import self_signed

SPEAK = "openai-speaker-secret-0001"
LISTEN = "openai-listener-secret-001"
MAX_UPLOAD = 3_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve(
        "--asr-model", "base", "--asr-engine", "whisper", "--no-mt",
        "--max-upload-bytes", str(MAX_UPLOAD),
        tmp=tmp_path_factory.mktemp("openai"),
        env={"PARLEY_TOKENS": f"speak:{SPEAK},listen:{LISTEN}", "PARLEY_TOKENS_FILE": ""},
    ) as srv:
        yield srv


def client(server: ServerProcess, token: str = SPEAK) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.http + "/v1", api_key=token, max_retries=0,
                         timeout=300)


def write_wav(path: Path, audio: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def parley_transcribe(path: Path, *extra: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "server", "transcribe", str(path), "--model", "base",
         "--beam", "1", "--json", *extra],
        capture_output=True, text=True, timeout=600, check=True,
    )
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def test_sdk_transcription_is_parley_transcribes_decode(
    server: ServerProcess, tmp_path: Path
) -> None:
    # 5 LibriVox sentences, 2 s apart: 33 s, past Whisper's 30 s window (long-form decode).
    clips = [c for c in english_clips(fetch=False) if c.id.startswith("librivox/")]
    stream = build_stream(clips, pause_s=2.0, name="it-openai-librivox")
    path = write_wav(tmp_path / "librivox.wav", stream.audio)
    with path.open("rb") as f:
        got = client(server).audio.transcriptions.create(file=f, model="whisper-1",
                                                         language="en")
    cli = parley_transcribe(path, "--language", "en")
    sdk_wer, cli_wer = wer(stream.reference, got.text), wer(stream.reference, str(cli["text"]))
    print(f"WER: SDK {sdk_wer:.3f}, parley transcribe {cli_wer:.3f} "
          f"({len(stream.audio) / 16000:.1f} s): {got.text}")
    assert got.text == cli["text"]
    assert sdk_wer <= 0.1


@pytest.fixture(scope="module")
def sentence(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    clip = next(c for c in english_clips(fetch=False) if c.id.startswith("librivox/"))
    return clip.path, clip.text


def test_every_response_format(server: ServerProcess, sentence: tuple[Path, str]) -> None:
    path, reference = sentence
    api = client(server).audio.transcriptions
    got = {}
    for fmt in ("json", "text", "srt", "vtt", "verbose_json"):
        with path.open("rb") as f:
            got[fmt] = api.create(file=f, model="base", response_format=fmt,  # type: ignore[call-overload]
                                  timestamp_granularities=["word", "segment"])
    text = got["json"].text
    print(f"WER json {wer(reference, text):.3f}: {text}")
    assert wer(reference, text) <= 0.1
    assert got["text"].strip() == text
    srt, vtt = got["srt"], got["vtt"]
    assert srt.startswith("1\n00:00:00,") and " --> 00:00:0" in srt and text.split()[-1] in srt
    assert vtt.startswith("WEBVTT\n\n00:00:00.") and text.split()[-1] in vtt
    verbose = got["verbose_json"]
    assert verbose.text == text and verbose.language == "en"
    assert verbose.duration == pytest.approx(7.1, abs=0.2)
    assert verbose.segments and " ".join(s.text for s in verbose.segments) == text
    assert verbose.words and len(verbose.words) == len(text.split())
    starts = [w.start for w in verbose.words]
    assert starts == sorted(starts) and verbose.words[-1].end <= verbose.duration + 0.1
    assert all(s.end >= s.start for s in verbose.segments)


def test_streamed_transcription_sends_deltas_then_done(
    server: ServerProcess, sentence: tuple[Path, str]
) -> None:
    path, reference = sentence
    events, times = [], []
    t0 = time.monotonic()
    with path.open("rb") as f:
        for event in client(server).audio.transcriptions.create(
            file=f, model="gpt-4o-transcribe", stream=True
        ):
            events.append(event)
            times.append(time.monotonic() - t0)
    print(f"first delta after {times[0]:.2f} s, done after {times[-1]:.2f} s")
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1)
    done = events[-1]
    assert done.type == "transcript.text.done" and len(events) >= 2
    assert "".join(e.delta for e in events[:-1]) == done.text  # type: ignore[union-attr]
    print(f"WER stream {wer(reference, done.text):.3f}")
    assert wer(reference, done.text) <= 0.1


def test_models_list_and_parleys_own_fields(server: ServerProcess) -> None:
    ids = [m.id for m in client(server).models.list()]
    assert ids[0] == "base" and "whisper-1" in ids
    doc = httpx.get(server.http + "/v1/models").json()
    assert doc["asr"]["name"] == "base" and doc["protocol"] == 1 and doc["object"] == "list"


def test_a_get_after_a_post_on_one_connection_gets_the_same_answer(
    server: ServerProcess, sentence: tuple[Path, str]
) -> None:
    fresh = httpx.get(server.http + "/v1/models")
    with httpx.Client(base_url=server.http, headers={"Authorization": f"Bearer {SPEAK}"},
                      timeout=300) as h:
        post = h.post("/v1/audio/transcriptions", data={"model": "base"},
                      files={"file": ("a.wav", sentence[0].read_bytes())})
        models = h.get("/v1/models")  # the same keep-alive connection: the ASGI side
        health = h.get("/healthz")
        missing = h.get("/nowhere")
    assert post.status_code == 200 and post.headers.get("connection") != "close"
    assert models.status_code == 200 and models.json() == fresh.json()
    assert health.text == "ok\n"
    assert missing.status_code == 404


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK's, on translations
def test_dutch_speech_translated_to_english(server: ServerProcess, tmp_path: Path) -> None:
    stream = build_stream(dutch_clips(fetch=False)[:8], pause_s=1.0, name="it-openai-dutch")
    path = write_wav(tmp_path / "dutch.wav", stream.audio)
    api = client(server).audio.translations
    with path.open("rb") as f:
        english = api.create(file=f, model="whisper-1").text
    with path.open("rb") as f:
        verbose = api.create(file=f, model="whisper-1", response_format="verbose_json")
    chrf = sacrebleu.corpus_chrf([english], [[stream.reference_en or ""]]).score
    print(f"chrF {chrf:.1f}: {english}")
    assert chrf > 25, (chrf, english)  # the floor of tests/integration/test_translate.py
    assert verbose.text == english and verbose.language == "nl" and verbose.segments


def test_bad_requests_get_openais_errors_and_others_are_served(
    server: ServerProcess, sentence: tuple[Path, str], tmp_path: Path
) -> None:
    path = sentence[0]
    sdk = client(server)

    def error_of(exc: openai.APIStatusError) -> dict[str, object]:
        body = exc.response.json()
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        error: dict[str, object] = body["error"]
        return error

    with pytest.raises(openai.BadRequestError) as wrong_type:  # JSON, not multipart
        sdk.post("/audio/transcriptions", body={"model": "base"}, cast_to=object)
    assert error_of(wrong_type.value)["code"] == "invalid_content_type"

    big = write_wav(tmp_path / "long.wav", np.zeros(MAX_UPLOAD // 2 + 16000, np.float32))
    with pytest.raises(openai.APIStatusError) as too_big, big.open("rb") as f:
        sdk.audio.transcriptions.create(file=f, model="base")
    assert too_big.value.status_code == 413
    assert error_of(too_big.value)["code"] == "upload_too_large"

    with pytest.raises(openai.BadRequestError) as no_file:
        sdk.post("/audio/transcriptions", body={"model": "base"}, cast_to=object,
                 files=[("attachment", ("a.txt", b"hello"))],
                 options={"headers": {"Content-Type": "multipart/form-data"}})
    assert error_of(no_file.value)["param"] == "file"

    with pytest.raises(openai.BadRequestError) as not_audio:
        sdk.audio.transcriptions.create(file=("notes.wav", b"not audio at all"), model="base")
    assert error_of(not_audio.value)["code"] == "unsupported_media"

    with pytest.raises(openai.AuthenticationError) as bad_token, path.open("rb") as f:
        client(server, "not-a-token").audio.transcriptions.create(file=f, model="base")
    assert error_of(bad_token.value)["code"] == "unauthorized"

    with pytest.raises(openai.PermissionDeniedError), path.open("rb") as f:
        client(server, LISTEN).audio.transcriptions.create(file=f, model="base")

    with pytest.raises(openai.NotFoundError) as no_model, path.open("rb") as f:
        sdk.audio.transcriptions.create(file=f, model="whisper-large-v9")
    assert error_of(no_model.value)["param"] == "model"

    with pytest.raises(openai.NotFoundError) as no_endpoint:
        sdk.post("/audio/speech", body={"model": "tts-1", "input": "hi"}, cast_to=object)
    assert error_of(no_endpoint.value)["code"] == "not_found"

    with pytest.raises(openai.BadRequestError) as bad_language, path.open("rb") as f:
        sdk.audio.transcriptions.create(file=f, model="base", language="xx-notalanguage")
    assert error_of(bad_language.value)["param"] == "language"

    # The server goes on serving: the SDK, and a WebSocket session of Parley's own.
    with path.open("rb") as f:
        assert wer(sentence[1], sdk.audio.transcriptions.create(file=f, model="base").text) <= 0.1
    clip = next(c for c in english_clips(fetch=False) if c.id.startswith("librivox/"))
    got = asyncio.run(stream_pcm(server.ws, load_audio(clip.path), realtime=4.0,
                                 extra={"token": SPEAK}))
    finals = " ".join(e["text"] for e in got.of("transcript", final=True))
    assert not got.of("error") and wer(clip.text, finals) <= 0.2, finals
    assert "Traceback" not in server.log_text()


async def test_shutdown_lets_a_transcription_in_flight_finish(tmp_path: Path) -> None:
    clips = [c for c in english_clips(fetch=False) if c.id.startswith("librivox/")]
    stream = build_stream(clips, pause_s=0.8, name="it-openai-drain")
    upload = write_wav(tmp_path / "drain.wav", stream.audio).read_bytes()
    config = ServerConfig(asr_model="tiny.en", mt_models=(), asr_engine="whisper")
    async with serve_in_process(config) as server, httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", timeout=120
    ) as http:
        def post() -> asyncio.Task[httpx.Response]:
            return asyncio.create_task(http.post(
                "/v1/audio/transcriptions", data={"model": "tiny.en"},
                files={"file": ("drain.wav", upload)}))

        first = await post()
        assert first.status_code == 200
        # Handed over on its first line: no websockets handshake is left waiting.
        assert not server.server.handler_tasks and not server.server.all_connections
        assert server.gateway.plain_http.connections == 1  # kept alive for the next request

        in_flight = post()
        while server.gateway.gatekeeper.active_speakers == 0:  # admitted: decoding
            await asyncio.sleep(0.01)
        await server.shutdown(timeout_s=60)
        done = await in_flight
        assert done.status_code == 200 and done.json()["text"] == first.json()["text"]
        assert server.gateway.plain_http.connections == 0
        assert server.gateway.gatekeeper.active_speakers == 0
        late = await post()  # while the port is still open: refused, retry elsewhere
        assert late.status_code == 503 and late.json()["error"]["code"] == "overloaded"
        assert "Retry-After" in late.headers


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK's, on translations
def test_over_tls_with_an_english_only_model(
    tmp_path: Path, sentence: tuple[Path, str]
) -> None:
    cert, key = self_signed(tmp_path)
    path, reference = sentence
    with parley_serve("--asr-model", "tiny.en", "--no-mt", "--tls-cert", str(cert),
                      "--tls-key", str(key), tmp=tmp_path) as srv, httpx.Client(
        verify=ssl.create_default_context(cafile=str(cert)), timeout=300
    ) as http:
        sdk = openai.OpenAI(base_url=f"https://127.0.0.1:{srv.port}/v1", api_key="open mode",
                            http_client=http, max_retries=0)
        with path.open("rb") as f:
            text = sdk.audio.transcriptions.create(file=f, model="tiny.en").text
        print(f"WER tiny.en over TLS {wer(reference, text):.3f}")
        assert wer(reference, text) <= 0.2
        assert next(m.id for m in sdk.models.list()) == "tiny.en"
        with pytest.raises(openai.BadRequestError) as no_translate, path.open("rb") as f:
            sdk.audio.translations.create(file=f, model="whisper-1")
        error = no_translate.value.response.json()["error"]
        assert error["code"] == "unsupported_task" and "English-only" in error["message"]
