"""The MQTT link hands the hub only what verifies; without a cluster key it follows
no remote room at all. (The link's broker I/O is covered by the integration tests;
here its receiving side is fed directly, with a real `RoomHub`.)"""

from __future__ import annotations

import time

from server.mqtt.link import MqttLink
from server.mqtt.messages import encode
from server.mqtt.settings import MqttSettings
from server.mqtt.signing import Rejection, Signer
from server.rooms.hub import RoomHub
from server.session.outbox import Outbox

KEY = b"cluster-key-for-the-unit-tests!!"
TOPIC = "parley/rooms/main/transcript"


def _hub() -> tuple[RoomHub, Outbox]:
    hub = RoomHub(replica_id="replica-b", servable=lambda lang: True)
    outbox = Outbox(64)
    hub.join("main", None, outbox)
    return hub, outbox


def _final(text: str) -> bytes:
    return encode({"type": "transcript", "final": True, "segment": 0, "seq": 5, "text": text,
                   "session_id": "s1", "replica": "replica-a", "room": "main"})


def _texts(outbox: Outbox) -> list[str]:
    return [str(e.get("text")) for e in list(outbox._items) if e.get("type") == "transcript"]


def test_only_messages_signed_with_the_cluster_key_reach_the_hub() -> None:
    hub, outbox = _hub()
    dropped: list[Rejection] = []
    link = MqttLink(MqttSettings("broker"), "replica-b", hub, cluster_key=KEY,
                    on_rejected=dropped.append)
    forged = _final("forged")
    link._on_message(TOPIC, forged, False, [])
    link._on_message(TOPIC, forged, False,
                     Signer(b"another-key-of-the-same-length!!", "replica-a").sign(
                         TOPIC, forged, time.time()))
    genuine = _final("genuine")
    props = Signer(KEY, "replica-a").sign(TOPIC, genuine, time.time())
    link._on_message(TOPIC, genuine, False, props)
    link._on_message(TOPIC, genuine, False, props)  # replayed
    assert _texts(outbox) == ["genuine"]
    assert dropped == ["unsigned", "bad_signature", "replayed"]
    assert link.rejected == {"unsigned": 1, "bad_signature": 1, "replayed": 1}


def test_without_a_cluster_key_nothing_from_the_broker_is_followed() -> None:
    hub, outbox = _hub()
    link = MqttLink(MqttSettings("broker"), "replica-b", hub)
    link.set_interest("main", frozenset({"de"}))
    assert link._desired() == set()  # subscribes to nothing
    link._on_message(TOPIC, _final("unverifiable"), False, [])
    assert _texts(outbox) == []
    keyed = MqttLink(MqttSettings("broker"), "replica-b", hub, cluster_key=KEY)
    keyed.set_interest("main", frozenset({"de"}))
    assert TOPIC in keyed._desired() and "parley/rooms/+/demand/+" in keyed._desired()
