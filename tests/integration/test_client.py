"""The Python client library and `parley-client` against a real server and real speech."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clients.python.parley_client import (
    ParleyClient,
    ParleyClientError,
    stream_file,
    stream_file_sync,
)
from tests.integration.conftest import ROOT, ServerProcess
from tests.integration.rooms_support import (
    in_order_hits,
    librivox_files,
    librivox_text,
    read_pcm,
    speak,
    speech,
    words,
)

pytestmark = pytest.mark.slow


def _encode(src: Path, dst: Path) -> Path:
    """The same speech in another container/codec (the client decodes anything via PyAV)."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                    "-ac", "2", "-ar", "44100", str(dst)], check=True)
    return dst


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clients.python.parley_client", *args], cwd=ROOT,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


async def test_cli_streams_a_file_and_writes_captions(
    tiny_server: ServerProcess, tmp_path: Path
) -> None:
    wav = librivox_files()[0]
    mp3 = _encode(wav, tmp_path / "speech.mp3")
    vtt, srt, jsonl = tmp_path / "out.vtt", tmp_path / "out.srt", tmp_path / "out.jsonl"
    result = await asyncio.to_thread(
        _cli, str(mp3), "--url", tiny_server.ws, "--source", "en", "--fast", "--quiet",
        "--vtt", str(vtt), "--srt", str(srt), "--jsonl", str(jsonl),
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert events[-1]["type"] == "end"
    finals = [e for e in events if e["type"] == "transcript" and e["final"]]
    reference = words(librivox_text(wav))
    heard = words(" ".join(e["text"] for e in finals))
    assert in_order_hits(reference, heard) >= 0.8 * len(reference)

    text = vtt.read_text()
    assert text.startswith("WEBVTT\n\n")
    cues = [line for line in text.splitlines() if " --> " in line]
    assert len(cues) >= len(finals)
    assert in_order_hits(reference, words(text)) >= 0.8 * len(reference)
    srt_text = srt.read_text()
    assert srt_text.startswith("1\n00:00:") and " --> " in srt_text and "," in srt_text


async def test_stream_file_paces_real_time_and_reads_any_format(
    tiny_server: ServerProcess, tmp_path: Path
) -> None:
    wav = librivox_files()[1]  # 3 s
    ogg = _encode(wav, tmp_path / "speech.ogg")
    t0 = time.monotonic()
    result = await stream_file(tiny_server.ws, str(ogg), realtime=True, source_language="en")
    elapsed = time.monotonic() - t0
    assert result.audio_s == pytest.approx(len(read_pcm(wav)) / 32000, abs=0.15)
    assert elapsed >= result.audio_s * 0.95  # not faster than real time
    assert result.end is not None and result.end["reason"] == "stop"
    reference = words(librivox_text(wav))
    assert in_order_hits(reference, words(result.transcript())) >= 0.7 * len(reference)
    # The synchronous helper runs its own loop (a plain script); inside a loop it says so.
    again = await asyncio.to_thread(stream_file_sync, tiny_server.ws, str(ogg), realtime=False)
    assert again.transcript()
    with pytest.raises(RuntimeError, match="await stream_file"):
        stream_file_sync(tiny_server.ws, str(ogg))


async def test_client_library_session_and_errors(tiny_server: ServerProcess) -> None:
    pcm = read_pcm(librivox_files()[4])
    async with ParleyClient(tiny_server.ws, source_language="en") as client:
        assert client.session_id and client.ready["type"] == "ready"
        await client.send_audio(pcm)
        await client.stop()
        events = [e async for e in client.events()]
    assert events[-1]["type"] == "end"
    assert any(e["type"] == "transcript" and e["final"] for e in events)
    assert client.ready["latency"] == "fast"  # the server's default
    async with ParleyClient(tiny_server.ws, source_language="en", latency="accurate") as client:
        assert client.ready["latency"] == "accurate"
    with pytest.raises(ParleyClientError) as info:
        async with ParleyClient(tiny_server.ws, source_language="en", latency="slow"):
            pass
    assert info.value.code == "bad_message"
    # A target nothing can produce is refused at start, with the server's code.
    with pytest.raises(ParleyClientError) as info:
        async with ParleyClient(tiny_server.ws, source_language="en", targets=["de"]):
            pass
    assert info.value.code == "unsupported_pair"
    with pytest.raises(ParleyClientError) as info:
        async with ParleyClient("ws://127.0.0.1:9", source_language="en"):
            pass
    assert info.value.code == "connection"


async def test_cli_follows_a_room_and_reports_problems(
    tiny_server: ServerProcess, tmp_path: Path
) -> None:
    jsonl, vtt = tmp_path / "room.jsonl", tmp_path / "room.vtt"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clients.python.parley_client", "--listen", "cli-room",
        "--url", tiny_server.ws, "--quiet", "--jsonl", str(jsonl), "--vtt", str(vtt),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (jsonl.exists() and jsonl.read_text().strip()):
            assert proc.returncode is None and time.monotonic() < deadline
            await asyncio.sleep(0.1)
        said = await speak(tiny_server.ws, speech(librivox_files()[4:5]), room="cli-room",
                           speed=2.0)
        deadline = time.monotonic() + 20
        # (an "end" event, not the "end" time field every transcript carries)
        while '"type": "end"' not in jsonl.read_text():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: captions are written on the way out
        await asyncio.wait_for(proc.wait(), 20)
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [e["type"] for e in events][:2] == ["joined", "speaker"]
    spoken = [e["text"] for e in said if e.get("type") == "transcript" and e["final"]]
    assert [e["text"] for e in events if e["type"] == "transcript" and e["final"]] == spoken
    assert vtt.read_text().startswith("WEBVTT")

    # No microphone support installed here: a clear message, not a traceback.
    mic = await asyncio.to_thread(_cli, "--mic", "--url", tiny_server.ws)
    assert mic.returncode == 2 and "microphone" in mic.stderr and "Traceback" not in mic.stderr
    missing = await asyncio.to_thread(_cli, str(Path(os.devnull).with_name("nope.wav")),
                                      "--url", tiny_server.ws)
    assert missing.returncode == 2 and "cannot open" in missing.stderr
