"""A room translates each listener language once, and stops when its listeners leave.

Real models (multilingual `base`: Dutch speech, English via Whisper's translate task)
on real Dutch speech (Fish Fillets NG dialogue, Debian fillets-ng-data-nl).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from benchmarks.data.dutch import dutch_clips
from clients.python.parley_client import ParleyClient, decode_pcm
from tests.integration.conftest import ServerProcess
from tests.integration.rooms_support import Follower

pytestmark = pytest.mark.slow


def _clip(clip_id: str) -> tuple[bytes, str]:
    clip = next(c for c in dutch_clips(limit=60) if c.id == clip_id)
    assert clip.translation_en is not None
    return b"".join(decode_pcm(str(clip.path))), clip.translation_en


async def _send(client: ParleyClient, pcm: bytes, speed: float = 1.5) -> None:
    step = 3200
    for i in range(0, len(pcm), step):
        await client.send_audio(pcm[i:i + step])
        await asyncio.sleep(0.1 / speed)


async def _room_run(
    server: ServerProcess, room: str, targets: tuple[str, ...]
) -> tuple[list[dict[str, Any]], int, list[Follower], str]:
    """Two `en` listeners wait, the Dutch speaker starts, a third joins; after the first
    sentence is translated all three leave and a second sentence follows."""
    wreck, wreck_en = await asyncio.to_thread(_clip, "fillets/airplane/let-v-vrak0")
    seats, _ = await asyncio.to_thread(_clip, "fillets/airplane/let-m-sedadlo")
    followers = [Follower(server.ws, room, "en") for _ in range(3)]
    tasks = [asyncio.create_task(f.run()) for f in followers[:2]]
    await asyncio.wait_for(asyncio.gather(*(f.joined.wait() for f in followers[:2])), 30)

    said: list[dict[str, Any]] = []
    async with ParleyClient(server.ws, source_language="nl", targets=targets,
                            room=room) as speaker:
        assert speaker.ready["translation"] == {"en": "whisper"}

        async def read() -> None:
            async for event in speaker.events():
                said.append(event)

        reader = asyncio.create_task(read())
        tasks.append(asyncio.create_task(followers[2].run()))
        await asyncio.wait_for(followers[2].joined.wait(), 30)
        assert followers[2].events[0]["translation"] == "whisper"

        await _send(speaker, wreck)
        await speaker.flush()
        async with asyncio.timeout(120):
            while not any(e["type"] == "translation" and e["final"] for e in said):
                await asyncio.sleep(0.1)
        first_part = len(said)
        for task in tasks:  # every listener leaves
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(1.0)
        await _send(speaker, b"\x00\x00" * 8000 + seats)
        await speaker.stop()
        await asyncio.wait_for(reader, 120)
    return said, first_part, followers, wreck_en


def _check_translated_once(said: list[dict[str, Any]], first_part: int,
                           followers: list[Follower], reference_en: str) -> None:
    translations = [e for e in said[:first_part] if e["type"] == "translation"]
    assert translations and all(e["lang"] == "en" and e["via"] == "whisper" for e in translations)
    segments = [s for e in translations for s in e["source_segments"]]
    assert len(segments) == len(set(segments))  # translated once, not once per listener
    # Real Whisper `base` output on game dialogue: English words, not the Dutch transcript
    # (how close it gets to `reference_en` is the model's business, not the room's).
    english = re.findall(r"[a-z]+", " ".join(e["text"] for e in translations).lower())
    dutch = re.findall(r"[a-z]+", " ".join(
        e["text"] for e in said[:first_part] if e["type"] == "transcript" and e["final"]).lower())
    assert len(english) >= 3 and english != dutch, (english, dutch, reference_en)
    for follower in followers:
        got = [(e["segment"], e["text"]) for e in follower.of("translation")]
        assert got == [(e["segment"], e["text"]) for e in translations]
    assert said[-1]["type"] == "end"


async def test_many_listeners_share_one_translation(base_server: ServerProcess) -> None:
    # The speaker asked for English itself: listeners share it; it outlives them.
    said, first_part, followers, reference = await _room_run(base_server, "nl-room-1", ("en",))
    _check_translated_once(said, first_part, followers, reference)
    assert [e for e in said[first_part:] if e["type"] == "translation"]


async def test_listeners_add_a_language_and_it_is_dropped_when_they_leave(
    base_server: ServerProcess,
) -> None:
    said, first_part, followers, reference = await _room_run(base_server, "nl-room-2", ())
    _check_translated_once(said, first_part, followers, reference)
    # Nobody wants English any more: the second sentence is transcribed, not translated.
    later = said[first_part:]
    assert any(e["type"] == "transcript" and e["final"] for e in later)
    assert not [e for e in later if e["type"] == "translation"]
