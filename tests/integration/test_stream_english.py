"""Real English speech streamed to a real server with tiny.en, held against offline."""

from __future__ import annotations

import asyncio
from functools import cache

import jsonschema

from benchmarks.data import Stream, build_stream, english_clips, wer
from server.asr.whisper import OFFLINE_BEAM_SIZE, AsrOptions, WhisperEngine
from server.models.resolve import resolve_asr
from server.protocol.schema import schema_for
from server.transcribe import transcribe_audio
from tests.integration.conftest import ServerProcess
from tests.integration.streaming_client import Received, stream_pcm


@cache
def librivox_stream() -> Stream:
    clips = [c for c in english_clips() if c.id.startswith("librivox/")]
    assert len(clips) == 5
    return build_stream(clips, pause_s=0.8, name="it-librivox")


@cache
def streamed(url: str) -> Received:
    return asyncio.run(stream_pcm(url, librivox_stream().audio, realtime=1.0))


@cache
def offline_text() -> str:
    engine = WhisperEngine(resolve_asr("tiny.en"), AsrOptions(beam_size=OFFLINE_BEAM_SIZE))
    return transcribe_audio(engine, librivox_stream().audio, "en").text


def test_streaming_wer_tracks_offline(tiny_server: ServerProcess) -> None:
    """Streaming stays close to `parley transcribe` on the same audio and model.

    Issue #3's 10% relative bound is held on the whole English set
    (test_stream_english_set.py): on these 71 words one word is 1.4 points. The batched
    engine (the default) made 3-8 errors here through the server when it decoded
    greedily and 1-4 in the replay with its beam of 3, against offline's 1 (its partials
    sometimes commit "How do you marry" for "Had he married" at an utterance boundary),
    so this bound is sized to that spread. It still fails on real regressions (a VAD
    that drifts deaf on long streams gave 26%).
    """
    ref = librivox_stream().reference
    got = streamed(tiny_server.ws)
    stream_wer = wer(ref, got.final_text())
    offline_wer = wer(ref, offline_text())
    print(f"streaming WER {stream_wer:.3f} offline WER {offline_wer:.3f}")
    assert stream_wer <= offline_wer * 2 + 0.12, (stream_wer, offline_wer, got.final_text())
    assert stream_wer < 0.25


def test_partials_precede_finals_and_stable_text_holds(tiny_server: ServerProcess) -> None:
    got = streamed(tiny_server.ws)
    transcripts = got.of("transcript")
    finals = got.of("transcript", final=True)
    assert len(finals) >= 3
    for final in finals:
        seg = final["segment"]
        before = [e for e in transcripts if e["segment"] == seg and not e["final"]]
        assert before, f"segment {seg} had no partial"
        assert transcripts.index(before[0]) < transcripts.index(final)
        for p in before:
            assert final["text"].startswith(p["stable"]), (p["stable"], final["text"])
        assert final["words"] and all(w["start"] <= w["end"] for w in final["words"])
    assert [f["segment"] for f in finals] == list(range(len(finals)))


def test_every_event_is_numbered_and_timed(tiny_server: ServerProcess) -> None:
    got = streamed(tiny_server.ws)
    assert [e["seq"] for e in got.events] == list(range(1, len(got.events) + 1))
    assert got.events[0]["type"] == "ready" and got.events[0]["protocol"] == 1
    assert got.events[-1]["type"] == "end"
    assert got.close_code == 1000
    for e in got.of("transcript"):
        assert e["latency_ms"] is not None and 0 <= e["latency_ms"] < 10_000
        assert e["asr_ms"] > 0
    for e in got.events:
        jsonschema.validate(e, schema_for(e["type"]))
    metrics = got.of("metrics")
    assert metrics and all(m["rtf"] > 0 for m in metrics)


def test_stop_returns_every_final(tiny_server: ServerProcess) -> None:
    """Stop right after the speech, no trailing silence: nothing is lost."""
    audio = librivox_stream().audio
    got = asyncio.run(stream_pcm(tiny_server.ws, audio[: 16000 * 8], realtime=0, tail_silence_s=0))
    end = got.of("end")
    assert end and end[0]["segments"] == len(got.of("transcript", final=True))
    last_words = got.final_text().lower()
    assert "dashwood" in last_words and "power" in last_words
