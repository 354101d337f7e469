from __future__ import annotations

import pytest

from server.errors import ParleyError
from server.mqtt.settings import MqttSettings
from server.rooms.wiring import resolve_replica_id


def test_urls() -> None:
    s = MqttSettings.from_url("mqtt://127.0.0.1:18830")
    assert (s.host, s.port, s.prefix, s.tls) == ("127.0.0.1", 18830, "parley", False)
    s = MqttSettings.from_url("mqtts://user:p%40ss@broker.example/org/parley")
    assert (s.host, s.port, s.prefix, s.tls) == ("broker.example", 8883, "org/parley", True)
    assert (s.username, s.password) == ("user", "p@ss")
    assert "p@ss" not in s.describe()
    for bad in ("http://x", "mqtt://", "mqtt://h:99999", "mqtt://h/a+b"):
        with pytest.raises(ParleyError):
            MqttSettings.from_url(bad)


def test_replica_ids() -> None:
    assert resolve_replica_id("replica-a") == "replica-a"
    assert resolve_replica_id("")  # hostname-pid
    with pytest.raises(ParleyError):
        resolve_replica_id("a/b")
