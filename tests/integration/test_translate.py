"""Translation through a real server: Dutch speech -> English via Whisper's translate task."""

from __future__ import annotations

import asyncio

import sacrebleu

from benchmarks.data import build_stream, dutch_clips
from tests.integration.conftest import ServerProcess
from tests.integration.streaming_client import stream_pcm

ENGLISH_WORDS = {"the", "is", "this", "that", "you", "of", "a", "to", "what", "and", "it"}


def test_dutch_speech_translated_to_english_by_whisper(base_server: ServerProcess) -> None:
    clips = dutch_clips(fetch=False)[:8]
    stream = build_stream(clips, pause_s=1.0, name="it-dutch-8")
    got = asyncio.run(
        stream_pcm(base_server.ws, stream.audio, source_language="nl", targets=("en",), realtime=2.0)
    )
    ready = got.events[0]
    assert ready["translation"] == {"en": "whisper"}
    finals = got.of("transcript", final=True)
    translations = got.of("translation", final=True)
    assert finals and translations and not got.of("error")
    assert all(t["lang"] == "en" and t["via"] == "whisper" for t in translations)
    # Every final transcript segment is covered by exactly one final translation.
    covered = sorted(s for t in translations for s in t["source_segments"])
    assert covered == [f["segment"] for f in finals]
    english = " ".join(t["text"] for t in translations)
    dutch = " ".join(f["text"] for f in finals)
    words = set(english.lower().replace(".", " ").replace("?", " ").split())
    assert len(words & ENGLISH_WORDS) >= 4, english
    assert english.lower() != dutch.lower()
    chrf = sacrebleu.corpus_chrf([english], [[stream.reference_en or ""]]).score
    print(f"chrF {chrf:.1f}: {english}")
    assert chrf > 25, (chrf, english)  # offline `base` on this data: chrF 25.0 (docs/benchmarks-log.md)


def test_unsupported_pair_is_refused_at_start(base_server: ServerProcess) -> None:
    import json

    from websockets.asyncio.client import connect

    async def attempt() -> dict[str, object]:
        async with connect(base_server.ws + "/v1/stream") as ws:
            await ws.send(json.dumps({
                "type": "start", "source_language": "nl", "target_languages": ["fr"],
                "audio": {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1},
            }))
            event: dict[str, object] = json.loads(await ws.recv())
            return event

    event = asyncio.run(attempt())
    assert event["code"] == "unsupported_pair"
    assert "nl -> fr" in str(event["message"]) and "zh->en" in str(event["message"])
