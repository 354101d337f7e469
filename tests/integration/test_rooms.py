"""Rooms over WebSocket on a real `parley serve` (tiny.en, real speech)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from clients.python.parley_client import ParleyClientError, ParleyListener
from tests.integration.conftest import ServerProcess
from tests.integration.rooms_support import Follower, librivox_files, speak, speech

pytestmark = pytest.mark.slow


def transcripts(events: list[dict[str, Any]]) -> list[tuple[int, bool, str]]:
    return [(e["segment"], e["final"], e["text"]) for e in events if e.get("type") == "transcript"]


async def test_listeners_follow_a_speaker_and_stay_for_the_next(tiny_server: ServerProcess) -> None:
    url, room = tiny_server.ws, "follow-1"
    early = Follower(url, room)  # transcript only; stays for two speakers
    same_lang = Follower(url, room, "en")  # the source language: the transcript too
    late = Follower(url, room)
    tasks = [asyncio.create_task(early.run(ends=2)), asyncio.create_task(same_lang.run(ends=1))]
    await asyncio.wait_for(asyncio.gather(early.joined.wait(), same_lang.joined.wait()), 20)
    assert early.error is None and same_lang.error is None
    assert early.events[0]["type"] == "joined" and early.events[0]["speaker"] is False
    assert early.events[0]["room"] == room and early.events[0]["seq"] == 1

    def on_event(event: dict[str, Any]) -> None:
        # A listener joining mid-stream sees the speaker at once.
        if event.get("type") == "transcript" and event["final"] and not tasks[2:]:
            tasks.append(asyncio.create_task(late.run(ends=1)))

    files = librivox_files()
    first = await speak(url, speech(files[:2]), room=room, speed=2.0, on_event=on_event)
    await asyncio.wait_for(asyncio.gather(tasks[1], tasks[2]), 30)
    second = await speak(url, speech(files[4:5]), room=room, speed=2.0)
    await asyncio.wait_for(tasks[0], 30)

    session1, session2 = first[0]["session_id"], second[0]["session_id"]
    said1, said2 = transcripts(first), transcripts(second)
    assert [t for t in said1 if t[1]], "the speaker produced no final"
    for follower in (early, same_lang):
        kinds = [e["type"] for e in follower.events]
        assert kinds[:2] == ["joined", "speaker"]
        assert follower.events[1]["session_id"] == session1
        # Their own seq numbering: 1, 2, 3... with no gap.
        assert [e["seq"] for e in follower.events] == list(range(1, len(follower.events) + 1))
        assert "translation" not in kinds and "metrics" not in kinds and "ready" not in kinds
    # Same events as the speaker's own, in the same order (nobody was slow: nothing dropped).
    first_part = early.events[: [e["type"] for e in early.events].index("end") + 1]
    assert transcripts(first_part) == said1
    assert transcripts(same_lang.events) == said1
    assert all(e["session_id"] == session1 for e in first_part[1:])
    assert first_part[-1]["reason"] == "stop"
    # The early listener stayed: the next speaker's events followed.
    rest = early.events[len(first_part):]
    assert rest[0]["type"] == "speaker" and rest[0]["session_id"] == session2
    assert transcripts(rest) == said2 and rest[-1]["type"] == "end"
    # The late joiner saw the speaker present and got the remaining finals.
    joined = late.events[0]
    assert joined["speaker"] is True and joined["speakers"][0]["session_id"] == session1
    late_finals = [t for t in transcripts(late.events) if t[1]]
    assert late_finals and late_finals == [t for t in said1 if t[1]][-len(late_finals):]


async def test_a_language_nothing_produces_is_refused(tiny_server: ServerProcess) -> None:
    # tiny.en speaks English and the only model translates zh->en: nobody can produce zh.
    with pytest.raises(ParleyClientError) as info:
        async with ParleyListener(tiny_server.ws, "refused-1", "zh"):
            pass
    assert info.value.code == "unsupported_pair"
    async with connect(f"{tiny_server.ws}/v1/listen?room=refused-1&lang=zh") as ws:
        message = await ws.recv()
        assert '"unsupported_pair"' in str(message)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1008 and ws.close_reason == "unsupported_pair"


async def test_a_lang_that_is_no_language_is_an_unsupported_language(
    tiny_server: ServerProcess,
) -> None:
    with pytest.raises(ParleyClientError) as info:
        async with ParleyListener(tiny_server.ws, "refused-2", "xx"):
            pass
    assert info.value.code == "unsupported_language"
    assert "'xx' is not a language code" in info.value.message


async def test_a_bad_listen_request_is_refused(tiny_server: ServerProcess) -> None:
    for query in ("", "?room=", "?room=a/b", "?room=x&lang=12"):
        async with connect(f"{tiny_server.ws}/v1/listen{query}") as ws:
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()
            assert ws.close_code == 1008, query
            assert ws.close_reason in ("bad_message", "unsupported_language"), query
