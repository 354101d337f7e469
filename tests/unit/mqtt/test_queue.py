from __future__ import annotations

import pytest

from server.mqtt.messages import Outgoing
from server.mqtt.queue import PublishQueue


def msg(n: int, final: bool = True, created: float = 0.0, expiry: int = 10) -> Outgoing:
    return Outgoing(f"t/{n}", str(n).encode(), 1 if final else 0, final, expiry, created, final)


def names(q: PublishQueue) -> list[str]:
    return [m.topic for m in q._items]


def test_in_order_and_removed_only_when_acknowledged() -> None:
    q = PublishQueue(10)
    for i in range(3):
        q.put(msg(i))
    assert q.take(0).topic == "t/0" and q.take(0).topic == "t/1"
    assert q.in_flight == 2 and len(q) == 3
    assert q.ack().topic == "t/0"
    assert len(q) == 2 and q.in_flight == 1 and q.unsent == 1


def test_a_disconnect_replays_everything_unacknowledged_in_order() -> None:
    q = PublishQueue(10)
    for i in range(4):
        q.put(msg(i))
    q.take(0)
    q.take(0)
    q.ack()
    q.take(0)
    assert q.rewind() == 2
    assert [q.take(0).topic for _ in range(3)] == ["t/1", "t/2", "t/3"]
    assert q.take(0) is None


def test_when_full_partials_go_first_then_the_oldest_unsent() -> None:
    q = PublishQueue(3)
    q.put(msg(0))
    q.put(msg(1, final=False))
    q.put(msg(2))
    q.put(msg(3))
    assert names(q) == ["t/0", "t/2", "t/3"] and q.dropped_partials == 1
    q.take(0)  # t/0 in flight: never dropped
    q.put(msg(4))
    assert names(q) == ["t/0", "t/3", "t/4"] and q.dropped_finals == 1


def test_stale_partials_are_not_sent() -> None:
    q = PublishQueue(10)
    q.put(msg(0, final=False, created=0.0, expiry=10))
    q.put(msg(1, final=True, created=0.0))
    q.put(msg(2, final=False, created=15.0, expiry=10))
    assert [q.take(20.0).topic, q.take(20.0).topic] == ["t/1", "t/2"]
    assert q.dropped_partials == 1


def test_ack_without_flight_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        PublishQueue(2).ack()
    with pytest.raises(ValueError):
        PublishQueue(0)
