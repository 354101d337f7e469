"""Sans-I/O limiters with a fake clock: each breach has its own error code."""

from __future__ import annotations

import pytest

from server.errors import OverloadedError, ParleyError, ProtocolError
from server.security.limits import (
    AddressCounter,
    ConnectionGuard,
    IdleTimer,
    Limits,
    MessageRateLimiter,
    RateLimitedError,
    SessionCounter,
    SessionDeadline,
)


def test_bucket_allows_burst_then_refuses_with_retry_after() -> None:
    rl = MessageRateLimiter(rate=10, burst=5, now=0.0)
    for _ in range(5):
        rl.take(0.0)
    with pytest.raises(RateLimitedError) as exc:
        rl.take(0.0)
    assert exc.value.code == "rate_limited" and exc.value.fatal
    assert exc.value.retry_after_ms == 100  # one token at 10/s


def test_bucket_refills_at_rate_and_caps_at_burst() -> None:
    rl = MessageRateLimiter(rate=10, burst=5, now=0.0)
    for _ in range(5):
        rl.take(0.0)
    rl.take(0.1)  # one token back after 100 ms
    with pytest.raises(RateLimitedError):
        rl.take(0.1)
    assert rl.available(100.0) == 5  # never more than the burst


def test_bucket_sustains_its_rate_exactly() -> None:
    rl = MessageRateLimiter(rate=50, burst=1, now=0.0)
    t = 0.0
    for _ in range(1000):  # 50/s for 20 s: never refused
        rl.take(t)
        t += 0.02
    rl2 = MessageRateLimiter(rate=50, burst=1, now=0.0)
    rl2.take(0.0)
    with pytest.raises(RateLimitedError):
        rl2.take(0.019)


def test_refused_message_costs_nothing_and_clock_going_back_is_harmless() -> None:
    rl = MessageRateLimiter(rate=1, burst=2, now=10.0)
    rl.take(10.0, cost=2)
    with pytest.raises(RateLimitedError):
        rl.take(10.0)
    assert rl.available(9.0) == 0  # earlier time: no refill, no error
    rl.take(11.0)


def test_cost_limits_bytes() -> None:
    rl = MessageRateLimiter(rate=32000, burst=64000, now=0.0)
    rl.take(0.0, cost=64000)
    with pytest.raises(RateLimitedError) as exc:
        rl.take(0.5, cost=32000)
    assert exc.value.retry_after_ms == 500


def test_bad_bucket_parameters() -> None:
    with pytest.raises(ValueError):
        MessageRateLimiter(rate=0, burst=1, now=0)


def test_session_deadline() -> None:
    d = SessionDeadline(max_s=3600, started=100.0)
    d.check(3699.9)
    assert d.remaining(3600.0) == pytest.approx(100.0)
    with pytest.raises(ParleyError) as exc:
        d.check(3700.0)
    assert exc.value.code == "session_too_long" and "1 h" in exc.value.message


def test_idle_timer_is_reset_by_touch() -> None:
    idle = IdleTimer(timeout_s=60, now=0.0)
    idle.check(59.0)
    idle.touch(50.0)
    idle.check(109.0)
    idle.touch(10.0)  # an older timestamp never moves the timer back
    with pytest.raises(ParleyError) as exc:
        idle.check(110.0)
    assert exc.value.code == "idle_timeout" and "1 min" in exc.value.message


def test_counter_per_key_cap_is_forbidden_and_total_is_overloaded() -> None:
    c = SessionCounter(max_total=3)
    a1 = c.acquire("tokA", 2)
    c.acquire("tokA", 2)
    with pytest.raises(ParleyError) as exc:
        c.acquire("tokA", 2, label="studio")
    assert exc.value.code == "forbidden" and "studio" in exc.value.message
    c.acquire("tokB", None)
    with pytest.raises(OverloadedError) as exc2:
        c.acquire("tokC", 5)
    assert exc2.value.code == "overloaded"
    a1.release()
    a1.release()  # idempotent
    assert (c.total, c.count("tokA")) == (2, 1)
    c.acquire("tokA", 2)
    assert c.count("tokA") == 2


def test_counter_lease_context_and_no_key() -> None:
    c = SessionCounter()
    with c.acquire() as lease:
        assert c.total == 1 and lease.key is None
    assert c.total == 0
    with c.acquire("k", 1):
        assert c.count("k") == 1
    assert c.count("k") == 0 and c._per_key == {}  # keys do not pile up


def guard() -> ConnectionGuard:
    policy = Limits(message_rate=10, message_burst=10, max_session_s=100, idle_timeout_s=5)
    return ConnectionGuard(policy, now=0.0)


def test_guard_idle_before_start() -> None:
    g = guard()
    assert g.time_left(1.0) == 4.0
    g.on_message(1.0, audio=False)  # text does not reset the idle timer
    with pytest.raises(ParleyError) as exc:
        g.check(5.0)
    assert exc.value.code == "idle_timeout"


def test_guard_audio_keeps_session_alive_until_deadline() -> None:
    g = guard()
    g.on_message(0.5, audio=False)
    g.start_session(1.0)
    t = 1.0
    while t < 100.0:
        g.on_message(t, audio=True)
        t += 1.0
    assert g.time_left(100.5) == pytest.approx(0.5)  # the deadline is nearer than idle
    with pytest.raises(ParleyError) as exc:
        g.on_message(101.0, audio=True)
    assert exc.value.code == "session_too_long"
    assert g.time_left(200.0) == 0.0


def test_guard_rate_limits_messages() -> None:
    g = guard()
    for _ in range(10):
        g.on_message(0.0, audio=True)
    with pytest.raises(RateLimitedError):
        g.on_message(0.0, audio=True)


def test_guard_start_deadline_is_not_extended_by_pre_start_traffic() -> None:
    policy = Limits(message_rate=10, message_burst=10, idle_timeout_s=60,
                         start_timeout_s=5)
    g = ConnectionGuard(policy, now=0.0)
    for t in (1.0, 2.0, 3.0, 4.0, 4.9):  # a byte now and then, all refused as not_started
        g.on_message(t, audio=True)
    assert g.time_left(4.9) == pytest.approx(0.1)
    with pytest.raises(ParleyError) as exc:
        g.on_message(5.0, audio=True)
    assert exc.value.code == "idle_timeout" and exc.value.fatal
    assert "no `start` within 5 s" in exc.value.message


def test_guard_after_start_the_idle_timer_runs_from_the_start() -> None:
    policy = Limits(idle_timeout_s=60, start_timeout_s=5)
    g = ConnectionGuard(policy, now=0.0)
    g.start_session(4.0)
    assert g.started and g.time_left(4.0) == pytest.approx(60.0)
    g.check(63.9)
    with pytest.raises(ParleyError) as exc:
        g.check(64.0)
    assert exc.value.code == "idle_timeout"


def test_guard_resumed_session_keeps_its_first_start_for_the_deadline() -> None:
    policy = Limits(max_session_s=100, idle_timeout_s=60, start_timeout_s=5)
    g = ConnectionGuard(policy, now=50.0)
    g.start_session(51.0, started=10.0)
    assert g.time_left(51.0) == pytest.approx(59.0)  # idle from now, session until 110
    with pytest.raises(ParleyError) as exc:
        g.check(110.0)
    assert exc.value.code == "session_too_long"


def test_guard_start_deadline_is_at_most_the_idle_timeout() -> None:
    g = guard()  # idle 5 s, start timeout 5 s by default
    assert g.time_left(0.0) == 5.0
    short = ConnectionGuard(Limits(idle_timeout_s=2.0, start_timeout_s=5.0), now=0.0)
    assert short.time_left(0.0) == 2.0


def test_guard_refused_messages_before_start_have_a_small_allowance() -> None:
    g = ConnectionGuard(Limits(pre_start_allowance=3), now=0.0)
    for _ in range(3):
        error = ProtocolError("audio before start", code="not_started")
        assert g.refused_before_start(error) is error and not error.fatal
    last = g.refused_before_start(ProtocolError("audio before start", code="not_started"))
    assert last.code == "not_started" and last.fatal
    assert "4 messages refused before `start`" in last.message


def test_address_counter_caps_unauthenticated_connections_per_address() -> None:
    c = AddressCounter(limit=2)
    a = c.enter("10.0.0.1")
    c.enter("10.0.0.1")
    with pytest.raises(RateLimitedError) as exc:
        c.enter("10.0.0.1")
    assert exc.value.code == "rate_limited" and "10.0.0.1" in exc.value.message
    c.enter("10.0.0.2")  # another address has its own slots
    a.release()
    a.release()  # idempotent
    assert c.count("10.0.0.1") == 1
    c.enter("10.0.0.1")
    with pytest.raises(ValueError):
        AddressCounter(0)
