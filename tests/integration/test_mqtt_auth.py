"""The broker as deploy/ runs it (passwords, ACL, no anonymous clients) between two
real `parley serve` replicas: an anonymous client cannot even connect, a caption
consumer receives the room's finals but what it publishes reaches nobody, and a
listener on replica B hears exactly what the speaker on replica A said."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import aiomqtt
import pytest

from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.resilience_support import http_get, metric
from tests.integration.rooms_support import (
    Follower,
    compose_broker,
    finals,
    librivox_files,
    speak,
    speech,
)

pytestmark = pytest.mark.slow

PARLEY_PASSWORD, CAPTIONS_PASSWORD = "replicas-password-0123456789", "captions-password-0123"
CLUSTER_KEY = "the-test-cluster-key-0123456789"
V5 = aiomqtt.ProtocolVersion.V5


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, ServerProcess,
                                                                        ServerProcess]]:
    with compose_broker(tmp_path_factory.mktemp("broker"), PARLEY_PASSWORD,
                        CAPTIONS_PASSWORD) as port:
        common = ("--asr-model", "tiny.en", "--no-mt", "--mqtt-url",
                  f"mqtt://parley:{PARLEY_PASSWORD}@127.0.0.1:{port}")
        key = {"PARLEY_CLUSTER_KEY": CLUSTER_KEY}
        with parley_serve(*common, "--replica-id", "replica-a", env=key,
                          tmp=tmp_path_factory.mktemp("a")) as a, \
             parley_serve(*common, "--replica-id", "replica-b", env=key,
                          tmp=tmp_path_factory.mktemp("b")) as b:
            yield port, a, b


def _forged(kind: str) -> bytes:
    return json.dumps({"type": kind, "final": True, "segment": 0, "seq": 1,
                       "text": "FORGED", "session_id": "evil", "replica": "replica-a",
                       "room": "secure-room"}).encode()


async def test_only_replicas_can_publish_on_the_compose_broker(
    secured: tuple[int, ServerProcess, ServerProcess],
) -> None:
    port, a, b = secured
    room = "secure-room"
    base = f"parley/rooms/{room}"
    with pytest.raises(aiomqtt.MqttCodeError, match="Not authorized"):
        async with aiomqtt.Client("127.0.0.1", port, identifier="anonymous", protocol=V5) as c:
            await c.publish(f"{base}/transcript", _forged("transcript"), qos=1)

    follower = Follower(b.ws, room)
    following = asyncio.create_task(follower.run())
    await asyncio.wait_for(follower.joined.wait(), 20)
    await asyncio.sleep(0.5)  # B's subscription reaches the broker
    consumed: list[dict[str, Any]] = []

    async with aiomqtt.Client("127.0.0.1", port, identifier="consumer", username="captions",
                              password=CAPTIONS_PASSWORD, protocol=V5) as consumer:
        await consumer.subscribe(f"{base}/transcript", qos=1)

        async def consume() -> None:
            async for m in consumer.messages:
                consumed.append(json.loads(bytes(m.payload)))  # type: ignore[arg-type]

        consuming = asyncio.create_task(consume())
        forging: list[asyncio.Task[None]] = []

        async def forge() -> None:
            status = json.dumps({"type": "speaker", "session_id": "evil",
                                 "replica": "replica-a", "room": room}).encode()
            await consumer.publish(f"{base}/status/evil", status, qos=1)
            await consumer.publish(f"{base}/transcript", _forged("transcript"), qos=1)

        def on_event(event: dict[str, Any]) -> None:
            if event.get("type") == "transcript" and event["final"] and not forging:
                forging.append(asyncio.create_task(forge()))

        said = await speak(a.ws, speech(librivox_files()[:2]), room=room, speed=2.0,
                           on_event=on_event)
        await asyncio.gather(*forging)
        await asyncio.wait_for(following, 30)
        await asyncio.sleep(0.5)
        consuming.cancel()

    spoken = finals(said)
    assert spoken and finals(follower.events) == spoken  # B followed A through the broker
    assert all(e.get("session_id") != "evil" for e in follower.events + consumed)
    assert [(e["segment"], e["text"]) for e in consumed if e["final"]] == spoken
    # The forgeries never reached B at all: the ACL dropped them at the broker.
    _, text = http_get(b.http + "/metrics")
    assert not [line for line in text.splitlines()
                if line.startswith("parley_mqtt_rejected_total{")]
    assert metric(text, "parley_listeners") == 0
