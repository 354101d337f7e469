"""The whole English set through the server, held against `parley transcribe` on its WAV.

All 69 clips of SOURCES.md's English set (LibriVox, the corpus packages, the voice demos),
joined with 0.8 s pauses: 7.5 minutes, 685 reference words, streamed at real time in
100 ms chunks to the shared tiny.en server on its default (batched) engine. Over 685 words
one word is 0.15 points; on the 71-word stream of test_stream_english it is 1.4.

Issue 3 asks for 10 % relative. Measured on 2 cores (docs/benchmarks-log.md, 2026-12-06):
streaming 25.5 / 27.2 / 27.6 / 27.9 % against `parley transcribe`'s 24.4 % on this WAV,
1.04x to 1.14x (median 1.12x), so that target is not reliably met, and this test does not
pretend it is. The offline figure is itself a draw: the same decode of the same audio at
inaudibly different gains (x0.99 to x1.01, or 1/32767 for 1/32768) gave 23.2 to 27.2 %.
The bound is sized to that spread (streaming 28 % against offline's lowest draw is 1.21x):
against 24.4 % it fails from 30.5 %, about 42 errors more than offline's 167.

The stream takes longer than pytest's 300 s faulthandler dump, so the test cancels that
dump; its own timeout still bounds it.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import subprocess
import sys
from functools import cache

import pytest

from benchmarks.data import Stream, build_stream, english_clips, wer
from tests.integration.conftest import ServerProcess
from tests.integration.streaming_client import stream_pcm

pytestmark = pytest.mark.slow

#: Streaming WER / `parley transcribe` WER; issue 3's target is 1.10 (see above).
BOUND = 1.25


@cache
def english_set() -> Stream:
    clips = english_clips()
    assert len(clips) >= 60, len(clips)  # the whole set, not a sample of it
    return build_stream(clips, pause_s=0.8, name="it-english-set")


def parley_transcribe(stream: Stream) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "server", "transcribe", str(stream.wav_path), "--model", "tiny.en",
         "--language", "en", "--json"],
        capture_output=True, text=True, timeout=900, check=True,
    )
    return str(json.loads(out.stdout)["text"])


@pytest.mark.timeout(1200)
def test_streaming_wer_tracks_parley_transcribe_on_the_whole_set(tiny_server: ServerProcess) -> None:
    faulthandler.cancel_dump_traceback_later()  # pytest re-arms it for the next test
    stream = english_set()
    got = asyncio.run(stream_pcm(tiny_server.ws, stream.audio, realtime=1.0))
    assert got.events[-1]["type"] == "end"
    stream_wer = wer(stream.reference, got.final_text())
    offline_wer = wer(stream.reference, parley_transcribe(stream))
    print(f"English set, {len(stream.reference.split())} words: streaming WER {stream_wer:.4f}, "
          f"parley transcribe {offline_wer:.4f}, ratio {stream_wer / offline_wer:.3f}")
    assert 0 < offline_wer < 0.4  # the models heard this speech; a ratio means something
    assert stream_wer <= BOUND * offline_wer, (stream_wer, offline_wer)
