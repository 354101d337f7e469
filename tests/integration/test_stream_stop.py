"""`stop` right after speech sent faster than real time: every word is finalized.

A real tiny.en server and a real LibriVox recording after 6 s of digital silence.
Whisper ends its text a few words early on a window that opens with 4 s of that
silence (the context the server keeps); the server must notice the speech left
unheard and decode it again, however far its decodes lag behind the sender. Which
decode hears the end depends on timing; a server that decodes only at endpoints
(no partial decodes) always takes the lagging path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from server.config import ServerConfig
from server.streaming.policy import PolicyOptions
from server.transport.gateway import RunningServer
from tests.integration.conftest import ServerProcess, serve_in_process
from tests.integration.resilience_support import Speaker, final_words
from tests.integration.rooms_support import (
    in_order_hits,
    librivox_files,
    librivox_text,
    speech,
    words,
)

LEAD_S = 6.0


@pytest.fixture
async def endpoint_decodes_only() -> AsyncIterator[RunningServer]:
    """tiny.en with no partial decodes: every utterance is decoded once, at its end."""
    policy = PolicyOptions(decode_interval_s=600.0)
    async with serve_in_process(ServerConfig(asr_model="tiny.en", mt_models=(), policy=policy)) as server:
        yield server


def _clip() -> tuple[bytes, list[str]]:
    clip = librivox_files()[0]
    # 6 s of silence, the clip, 0.8 s of silence
    return b"\x00\x00" * int(16000 * LEAD_S) + speech([clip]), words(librivox_text(clip))


async def _stream_and_stop(url: str, audio: bytes, realtime: float) -> Speaker:
    speaker = Speaker(url)
    ready = await speaker.start()
    assert ready["type"] == "ready", ready
    assert await speaker.send_pcm(audio, realtime=realtime)
    await speaker.stop()
    return speaker


def _assert_all_finalized(speaker: Speaker, audio: bytes, reference: list[str]) -> None:
    assert speaker.close_code == 1000, (speaker.close_code, speaker.close_reason)
    end = speaker.of("end")
    assert end and end[0]["reason"] == "stop"
    assert end[0]["audio_s"] == pytest.approx(len(audio) / 32000, abs=0.01)
    heard = final_words(speaker.finals())
    # ASR noise aside (tiny.en may mishear a word or drop the first), the end is there.
    assert in_order_hits(reference[-3:], heard[-6:]) == 3, (reference[-3:], heard)
    assert in_order_hits(reference, heard) >= len(reference) - 3, (reference, heard)


@pytest.mark.parametrize("realtime", [3.0, 10.0, 0.0])  # 0: as fast as the server reads
def test_stop_at_once_after_fast_speech_finalizes_the_last_words(
    tiny_server: ServerProcess, realtime: float
) -> None:
    audio, reference = _clip()
    speaker = asyncio.run(_stream_and_stop(tiny_server.ws, audio, realtime))
    _assert_all_finalized(speaker, audio, reference)


async def test_an_utterance_decoded_only_at_its_end_is_finalized_to_its_last_word(
    endpoint_decodes_only: RunningServer,
) -> None:
    audio, reference = _clip()
    speaker = await _stream_and_stop(endpoint_decodes_only.url, audio, 0.0)
    _assert_all_finalized(speaker, audio, reference)
    assert not [e for e in speaker.events if e["type"] == "transcript" and not e["final"]]
