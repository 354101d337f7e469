"""Room captions over MQTT: a real mosquitto, a real `parley serve --mqtt-url`, real speech."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import aiomqtt
import pytest

from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.rooms_support import (
    Mosquitto,
    MqttRecorder,
    librivox_files,
    speak,
    speech,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mqtt_server(broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve(
        "--asr-model", "tiny.en", "--mt-model", "zh-en", "--mqtt-url", broker.url,
        "--replica-id", "replica-a", tmp=tmp_path_factory.mktemp("srv"),
    ) as server:
        yield server


async def _retained(port: int, topic: str) -> list[aiomqtt.Message]:
    """The retained messages a new subscriber gets right away."""
    got: list[aiomqtt.Message] = []
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(topic, qos=1)
        try:
            async with asyncio.timeout(1.5):
                async for message in client.messages:
                    got.append(message)
        except TimeoutError:
            pass
    return got


async def test_room_events_are_published_with_qos_retain_and_expiry(
    broker: Mosquitto, mqtt_server: ServerProcess,
) -> None:
    room = "mqtt-shape"
    seen: list[aiomqtt.Message] = []

    async def record(ready: asyncio.Event) -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port,
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:
            await client.subscribe(f"parley/rooms/{room}/#", qos=1)
            ready.set()
            async for message in client.messages:
                seen.append(message)
                payload = json.loads(message.payload) if message.payload else {}
                if payload.get("type") == "end":
                    return

    ready = asyncio.Event()
    recorder = asyncio.create_task(record(ready))
    await asyncio.wait_for(ready.wait(), 10)
    said = await speak(mqtt_server.ws, speech(librivox_files()[:1]), room=room, speed=2.0)
    await asyncio.wait_for(recorder, 20)

    session = said[0]["session_id"]
    by_topic: dict[str, list[tuple[int, dict[str, Any], Any]]] = {}
    for m in seen:
        by_topic.setdefault(str(m.topic), []).append((m.qos, json.loads(m.payload), m.properties))
    transcript = by_topic[f"parley/rooms/{room}/transcript"]
    # Same shapes as the WebSocket events, plus replica / session_id / room; the speaker's seq.
    spoken = [e for e in said if e["type"] == "transcript"]
    assert [(p["seq"], p["final"], p["text"]) for _, p, _ in transcript] == [
        (e["seq"], e["final"], e["text"]) for e in spoken
    ]
    for qos, payload, props in transcript:
        assert payload["replica"] == "replica-a" and payload["session_id"] == session
        assert payload["room"] == room
        assert set(spoken[0]) - {"words", "reason"} <= set(payload)
        # Partials at QoS 0 with a short expiry; finals at QoS 1, kept for an hour.
        assert qos == (1 if payload["final"] else 0)
        assert 0 < props.MessageExpiryInterval <= (3600 if payload["final"] else 10)
    status = by_topic[f"parley/rooms/{room}/status/{session}"]
    assert [p["type"] for _, p, _ in status] == ["speaker", "end"]
    assert all(qos == 1 for qos, _, _ in status)

    # A late subscriber gets the last final (retained) and the end of the session.
    retained = await _retained(broker.port, f"parley/rooms/{room}/#")
    kept = {str(m.topic): json.loads(m.payload) for m in retained if m.retain}
    last_final = [e for e in spoken if e["final"]][-1]
    assert kept[f"parley/rooms/{room}/transcript"]["text"] == last_final["text"]
    assert kept[f"parley/rooms/{room}/status/{session}"]["type"] == "end"


async def test_a_broker_restart_loses_no_final(
    broker: Mosquitto, mqtt_server: ServerProcess,
) -> None:
    room = "mqtt-restart"
    recorder = MqttRecorder(broker.port, f"parley/rooms/{room}/#", client_id="restart-recorder")
    recording = asyncio.create_task(recorder.run())
    await asyncio.wait_for(recorder.subscribed.wait(), 10)

    finals_seen = 0
    restarted = asyncio.Event()
    loop = asyncio.get_running_loop()

    def restart() -> None:
        broker.restart(down_s=4.0)  # SIGTERM (it saves its sessions), 4 s down, start again
        loop.call_soon_threadsafe(restarted.set)

    def on_event(event: dict[str, Any]) -> None:
        nonlocal finals_seen
        if event.get("type") == "transcript" and event.get("final"):
            finals_seen += 1
            if finals_seen == 1:  # mid-stream; finals keep coming while the broker is down
                loop.run_in_executor(None, restart)

    said = await speak(mqtt_server.ws, speech(librivox_files(), pause_s=1.0), room=room,
                       speed=1.5, on_event=on_event)
    await asyncio.wait_for(restarted.wait(), 30)
    sent = [(e["seq"], e["text"]) for e in said if e.get("type") == "transcript" and e["final"]]
    assert len(sent) >= 4, "too few finals to test anything"

    # Every final arrives, in order (a replayed duplicate is recognized by its seq).
    async with asyncio.timeout(60):
        while not any(e.get("type") == "end" for e in recorder.events("end")):
            await asyncio.sleep(0.1)
    recording.cancel()
    received: list[tuple[int, str]] = []
    for event in recorder.events("transcript", final=True):
        item = (event["seq"], event["text"])
        if item not in received:
            received.append(item)
    print(f"broker restart: finals sent {len(sent)}, received {len(received)}, "
          f"messages {len(recorder.events('transcript', final=True))}, "
          f"recorder connections {recorder.connects}")
    assert received == sent
    assert recorder.connects >= 2  # the broker really went away...
    queued = [int(n) for n in re.findall(r"MQTT: connected .*\((\d+) queued\)",
                                         mqtt_server.log_text())]
    assert max(queued) >= 1  # ...while the server had messages for it
