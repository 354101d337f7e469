"""Cross-replica rooms: two `parley serve` on one mosquitto; a listener on replica B
follows a speaker on replica A (B subscribes to the room's topics on the broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.rooms_support import (
    Follower,
    Mosquitto,
    finals,
    librivox_files,
    speak,
    speech,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replicas(
    broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    common = ("--asr-model", "tiny.en", "--mt-model", "zh-en", "--mqtt-url", broker.url)
    with parley_serve(*common, "--replica-id", "replica-a", tmp=tmp_path_factory.mktemp("a")) as a, \
         parley_serve(*common, "--replica-id", "replica-b", tmp=tmp_path_factory.mktemp("b")) as b:
        yield a, b


async def test_a_listener_on_another_replica_follows_the_speaker(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    room = "x-replica"
    early = Follower(b.ws, room)  # waits on B before anyone speaks on A
    late = Follower(b.ws, room, "en")
    tasks = [asyncio.create_task(early.run())]
    await asyncio.wait_for(early.joined.wait(), 20)
    assert early.error is None and early.events[0]["speaker"] is False
    await asyncio.sleep(0.5)  # B's subscription reaches the broker

    def on_event(event: dict[str, Any]) -> None:
        if event.get("type") == "transcript" and event["final"] and len(tasks) == 1:
            tasks.append(asyncio.create_task(late.run()))

    said = await speak(a.ws, speech(librivox_files()[:2]), room=room, speed=2.0,
                       on_event=on_event)
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    session = said[0]["session_id"]
    spoken = finals(said)
    assert spoken

    kinds = [e["type"] for e in early.events]
    assert kinds[:2] == ["joined", "speaker"] and kinds[-1] == "end"
    assert early.events[1]["session_id"] == session
    assert early.events[1]["replica"] == "replica-a"
    assert finals(early.events) == spoken  # every final, in order, exactly once
    assert [e["seq"] for e in early.events] == list(range(1, len(early.events) + 1))
    partials = [e for e in early.events if e["type"] == "transcript" and not e["final"]]
    assert all(e["session_id"] == session for e in partials)

    # Joining mid-stream on B, which already follows the room: the speaker is known at once.
    assert late.error is None
    assert late.events[0]["type"] == "joined" and late.events[0]["speaker"] is True
    assert [x["session_id"] for x in late.events[0]["speakers"]] == [session]
    late_finals = finals(late.events)
    assert late_finals == spoken[len(spoken) - len(late_finals):]
    assert late.events[-1]["type"] == "end"


async def test_a_listener_joining_mid_stream_learns_of_the_remote_speaker(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    room = "x-replica-late"  # nobody on B follows it before the speaker starts on A
    late = Follower(b.ws, room)
    tasks: list[asyncio.Task[None]] = []

    def on_event(event: dict[str, Any]) -> None:
        if event.get("type") == "transcript" and event["final"] and not tasks:
            tasks.append(asyncio.create_task(late.run()))

    said = await speak(a.ws, speech(librivox_files()[:2]), room=room, speed=2.0,
                       on_event=on_event)
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert late.error is None
    kinds = [e["type"] for e in late.events]
    # B learns of the live speaker from its retained status on the broker.
    assert kinds[0] == "joined" and late.events[0]["speaker"] is False
    assert kinds[1] == "speaker" and late.events[1]["session_id"] == said[0]["session_id"]
    assert kinds[-1] == "end"
    late_finals = finals(late.events)
    spoken = finals(said)
    assert late_finals and late_finals == spoken[len(spoken) - len(late_finals):]
