"""`parley serve --asr-engine whisper`: faster-whisper's own decode behind a real server.

The default engine, batched, is what the shared `tiny_server` runs (test_stream_english,
test_stream_english_set); this is the other one, on the stream and model of
test_stream_english. The bound is sized to the spread measured through the server on these
71 words: 3-4 errors against offline's 1 (one word is 1.4 points). It still fails on a
broken engine (no words, a looping decoder).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from benchmarks.data import wer
from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.test_stream_english import librivox_stream, offline_text, streamed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def whisper_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve(
        "--asr-model", "tiny.en", "--no-mt", "--asr-engine", "whisper",
        tmp=tmp_path_factory.mktemp("srv-whisper"),
    ) as server:
        yield server


def test_whisper_engine_streams_real_speech(whisper_server: ServerProcess) -> None:
    ref = librivox_stream().reference
    got = streamed(whisper_server.ws)
    stream_wer = wer(ref, got.final_text())
    offline_wer = wer(ref, offline_text())
    print(f"whisper engine streaming WER {stream_wer:.3f} offline WER {offline_wer:.3f}")
    assert stream_wer <= offline_wer * 2 + 0.08, (stream_wer, offline_wer, got.final_text())
    assert got.events[-1]["type"] == "end"
    with urllib.request.urlopen(whisper_server.http + "/v1/models") as r:
        asr = json.load(r)["asr"]
    assert asr["engine"] == "whisper" and "windows_s" not in asr
    assert "Traceback" not in whisper_server.log_text()
