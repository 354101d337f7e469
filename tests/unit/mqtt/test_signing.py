"""Signed cross-replica messages: what verifies, and every way a message does not."""

from __future__ import annotations

import pytest

from server.mqtt.signing import (
    NONCE,
    REPLICA,
    SIGNATURE,
    TIMESTAMP,
    Signer,
    Verifier,
    canonical,
)

KEY = b"k" * 32
TOPIC = "parley/rooms/main/transcript"
PAYLOAD = b'{"type":"transcript","final":true,"text":"hello"}'
NOW = 1_800_000_000.0


def signed(signer: Signer | None = None, now: float = NOW) -> list[tuple[str, str]]:
    return (signer or Signer(KEY, "replica-a")).sign(TOPIC, PAYLOAD, now)


def test_a_signed_message_verifies_once() -> None:
    props = signed()
    assert {k for k, _ in props} == {REPLICA, TIMESTAMP, NONCE, SIGNATURE}
    v = Verifier(KEY)
    assert v.check(TOPIC, PAYLOAD, props, NOW + 1) is None
    assert v.check(TOPIC, PAYLOAD, props, NOW + 2) == "replayed"


def test_nonces_differ_per_message_and_per_process() -> None:
    a, b = Signer(KEY, "r"), Signer(KEY, "r")
    nonces = {dict(s.sign(TOPIC, PAYLOAD, NOW))[NONCE] for s in (a, a, b, b)}
    assert len(nonces) == 4
    v = Verifier(KEY)
    for s in (a, b):
        assert v.check(TOPIC, PAYLOAD, s.sign(TOPIC, PAYLOAD, NOW), NOW) is None


def test_unsigned_and_partly_signed_messages() -> None:
    v = Verifier(KEY)
    assert v.check(TOPIC, PAYLOAD, [], NOW) == "unsigned"
    partial = [p for p in signed() if p[0] != NONCE]
    assert v.check(TOPIC, PAYLOAD, partial, NOW) == "unsigned"


@pytest.mark.parametrize("change", ["topic", "payload", "replica", "timestamp", "nonce", "key",
                                    "signature", "garbled_time"])
def test_anything_altered_is_a_bad_signature(change: str) -> None:
    props = dict(signed())
    topic, payload, key = TOPIC, PAYLOAD, KEY
    if change == "topic":
        topic = "parley/rooms/other/transcript"
    elif change == "payload":
        payload = PAYLOAD.replace(b"hello", b"hullo")
    elif change in ("replica", "nonce"):
        props[{"replica": REPLICA, "nonce": NONCE}[change]] += "x"
    elif change == "timestamp":
        props[TIMESTAMP] = str(int(props[TIMESTAMP]) + 1)
    elif change == "garbled_time":
        props[TIMESTAMP] = "12e3"
    elif change == "key":
        key = b"another key, just as long......."
    else:
        props[SIGNATURE] = "0" * 64
    assert Verifier(key).check(topic, payload, props.items(), NOW) == "bad_signature"


def test_old_and_future_signatures_are_stale() -> None:
    v = Verifier(KEY, max_age_s=120)
    assert v.check(TOPIC, PAYLOAD, signed(now=NOW - 121), NOW) == "stale"
    assert v.check(TOPIC, PAYLOAD, signed(now=NOW + 121), NOW) == "stale"
    assert v.check(TOPIC, PAYLOAD, signed(now=NOW - 119), NOW) is None


def test_retained_deliveries_are_not_replays_but_are_held_to_the_age() -> None:
    v = Verifier(KEY)
    props = signed()
    assert v.check(TOPIC, PAYLOAD, props, NOW) is None
    # Each new subscription gets the broker's retained copy again.
    assert v.check(TOPIC, PAYLOAD, props, NOW + 30, retained=True) is None
    assert v.check(TOPIC, PAYLOAD, props, NOW + 31, retained=True) is None
    assert v.check(TOPIC, PAYLOAD, props, NOW + 200, retained=True) == "stale"


def test_the_seen_set_is_bounded_in_time_and_size() -> None:
    v = Verifier(KEY, max_age_s=10, capacity=3)
    s = Signer(KEY, "r")
    for i in range(5):
        assert v.check(TOPIC, PAYLOAD, s.sign(TOPIC, PAYLOAD, NOW + i), NOW + i) is None
    assert v.remembered == 3
    late = NOW + 100  # every entry is older than the window: forgotten
    assert v.check(TOPIC, PAYLOAD, s.sign(TOPIC, PAYLOAD, late), late) is None
    assert v.remembered == 1


def test_canonical_bytes_do_not_run_fields_together() -> None:
    assert canonical("a/b", b"c", "r", 1, "n") != canonical("a/", b"bc", "r", 1, "n")
    assert canonical("t", b"", "ab", 1, "c") != canonical("t", b"", "a", 1, "bc")


def test_empty_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        Signer(b"", "r")
    with pytest.raises(ValueError):
        Verifier(b"")
