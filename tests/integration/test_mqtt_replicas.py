"""Cross-replica rooms: two `parley serve` on one mosquitto; a listener on replica B
follows a speaker on replica A (B subscribes to the room's topics on the broker).
Both replicas share a cluster key: what does not verify never reaches a listener."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from server.mqtt.signing import Signer
from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.resilience_support import http_get, metric
from tests.integration.rooms_support import (
    Follower,
    Mosquitto,
    finals,
    librivox_files,
    speak,
    speech,
)

pytestmark = pytest.mark.slow

CLUSTER_KEY = "the-test-cluster-key-0123456789"


@pytest.fixture(scope="module")
def replicas(
    broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    common = ("--asr-model", "tiny.en", "--mt-model", "zh-en", "--mqtt-url", broker.url)
    key = {"PARLEY_CLUSTER_KEY": CLUSTER_KEY}
    with parley_serve(*common, "--replica-id", "replica-a", env=key,
                      tmp=tmp_path_factory.mktemp("a")) as a, \
         parley_serve(*common, "--replica-id", "replica-b", env=key,
                      tmp=tmp_path_factory.mktemp("b")) as b:
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


def _forgery(session: str, text: str) -> bytes:
    return json.dumps({"type": "transcript", "final": True, "segment": 0, "seq": 999,
                       "text": text, "session_id": session, "replica": "replica-a",
                       "room": "forged-room"}).encode()


async def test_forged_messages_never_reach_a_listener_but_genuine_ones_do(
    replicas: tuple[ServerProcess, ServerProcess], broker: Mosquitto,
) -> None:
    """A client without the cluster key publishes captions (unsigned, or signed with
    another key) and replays a genuine final into a room; a listener on replica B gets
    only what the speaker on replica A said, and B counts each forgery."""
    a, b = replicas
    room = "forged-room"
    follower = Follower(b.ws, room)
    following = asyncio.create_task(follower.run())
    await asyncio.wait_for(follower.joined.wait(), 20)
    await asyncio.sleep(0.5)  # B's subscription reaches the broker
    base = f"parley/rooms/{room}"
    captured: list[tuple[bytes, list[tuple[str, str]]]] = []

    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="forger",
                              protocol=aiomqtt.ProtocolVersion.V5) as forger:
        await forger.subscribe(f"{base}/transcript", qos=1)

        async def capture() -> None:
            async for m in forger.messages:
                if not m.retain and b'"final":true' in bytes(m.payload):  # type: ignore[arg-type]
                    captured.append((bytes(m.payload),  # type: ignore[arg-type]
                                     list(getattr(m.properties, "UserProperty", []))))

        capturing = asyncio.create_task(capture())

        async def forge() -> None:
            # Unsigned: a speaker that does not exist, and words in a real one's mouth.
            status = json.dumps({"type": "speaker", "session_id": "evil", "replica": "replica-a",
                                 "room": room}).encode()
            await forger.publish(f"{base}/status/evil", status, qos=1)
            await forger.publish(f"{base}/transcript", _forgery("evil", "FORGED UNSIGNED"), qos=1)
            # Signed, but not with the cluster key.
            wrong = Signer(b"not-the-cluster-key-0123456789", "replica-a")
            payload = _forgery("evil", "FORGED WRONG KEY")
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = wrong.sign(f"{base}/transcript", payload, time.time())
            await forger.publish(f"{base}/transcript", payload, qos=1, properties=props)
            # A genuine final of replica A, published again while B follows the room.
            async with asyncio.timeout(20):
                while not captured:
                    await asyncio.sleep(0.05)
            payload, user = captured[0]
            replay = Properties(PacketTypes.PUBLISH)
            replay.UserProperty = user
            await forger.publish(f"{base}/transcript", payload, qos=1, properties=replay)

        def on_event(event: dict[str, Any]) -> None:
            if event.get("type") == "transcript" and event["final"] and not forging:
                forging.append(asyncio.create_task(forge()))

        forging: list[asyncio.Task[None]] = []
        said = await speak(a.ws, speech(librivox_files()[:2]), room=room, speed=2.0,
                           on_event=on_event)
        await asyncio.gather(*forging)
        await asyncio.wait_for(following, 30)
        capturing.cancel()

    spoken = finals(said)
    assert spoken and finals(follower.events) == spoken
    assert all(e.get("session_id") != "evil" for e in follower.events), follower.events
    assert not any("FORGED" in str(e.get("text", "")) for e in follower.events)
    _, text = http_get(b.http + "/metrics")
    for reason in ("unsigned", "bad_signature", "replayed"):
        assert metric(text, f'parley_mqtt_rejected_total{{reason="{reason}"}}') >= 1, reason
    assert metric(text, 'parley_mqtt_rejected_total{reason="unsigned"}') >= 2
