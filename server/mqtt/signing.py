"""Authentic cross-replica messages: replicas sign what they publish (sans-I/O).

Anyone who may publish on the broker could otherwise put words in a room's
mouth: a replica delivers what arrives on a room's topics to its listeners.
So every message a replica publishes carries, as MQTT 5 user properties:

    parley-replica   the publishing replica's id
    parley-ts        when it was signed, milliseconds since the Unix epoch
    parley-nonce     unique per message and process (a random boot id + a counter)
    parley-sig       hex HMAC-SHA256, under the cluster key, of the canonical bytes

The canonical bytes are the scheme name, topic, replica, timestamp, nonce and
payload, each preceded by its length (4 bytes, big-endian), so that no two
different messages share them. A receiver drops (and counts) a message that is

    unsigned        no signature properties
    bad_signature   not signed with the cluster key, or altered on the way
    stale           signed more than `max_age_s` ago (or that far in the future:
                    clocks of replicas are assumed to agree within seconds)
    replayed        a (replica, nonce) already seen within `max_age_s`

Messages are signed when they are sent, not when they are queued, so a final
sent again after a broker outage is fresh. Retained messages (a replica that
subscribes later gets the last status and demand, refreshed every 30 s) are
held to the age limit but not to the replay check: the broker hands the same
retained message to each new subscription. A live delivery of a replayed
message is caught by the seen-set, which holds `capacity` entries at most (the
oldest go first); a replay of an entry that was pushed out early would pass, a
signed message of another replica, no harm beyond a duplicate the rooms drop
by `seq`.

Why our own code: the primitives are the standard library's (`hmac`,
`hashlib`, `secrets`); the envelope is five user properties, for which no
library exists.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

SCHEME = "parley-hmac-sha256-v1"
REPLICA, TIMESTAMP, NONCE, SIGNATURE = "parley-replica", "parley-ts", "parley-nonce", "parley-sig"
#: How old (or how far ahead) a signature may be: above the 30 s refresh of retained
#: status and demand, with room for a slow broker and clocks a few seconds apart.
MAX_AGE_S = 120.0
#: Shortest cluster key accepted (characters of the configured secret).
MIN_KEY_CHARS = 16

Rejection = Literal["unsigned", "bad_signature", "stale", "replayed"]
REJECTIONS: tuple[Rejection, ...] = ("unsigned", "bad_signature", "stale", "replayed")


def canonical(topic: str, payload: bytes, replica: str, ts_ms: int, nonce: str) -> bytes:
    """The bytes the signature covers."""
    fields = (SCHEME.encode(), topic.encode(), replica.encode(), str(ts_ms).encode(),
              nonce.encode(), payload)
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class Signer:
    """Signs one replica's messages."""

    def __init__(self, key: bytes, replica: str, boot: str | None = None) -> None:
        if not key:
            raise ValueError("empty cluster key")
        self._key = key
        self.replica = replica
        self._boot = boot or secrets.token_hex(6)
        self._count = itertools.count(1)

    def sign(self, topic: str, payload: bytes, now_s: float) -> list[tuple[str, str]]:
        """The user properties for `payload` on `topic`, signed at `now_s` (Unix time)."""
        ts_ms = int(now_s * 1000)
        nonce = f"{self._boot}-{next(self._count)}"
        sig = _mac(self._key, canonical(topic, payload, self.replica, ts_ms, nonce))
        return [(REPLICA, self.replica), (TIMESTAMP, str(ts_ms)), (NONCE, nonce),
                (SIGNATURE, sig)]


class Verifier:
    """Checks other replicas' messages; `check` returns why one must be dropped, or None."""

    def __init__(self, key: bytes, *, max_age_s: float = MAX_AGE_S, capacity: int = 100_000) -> None:
        if not key:
            raise ValueError("empty cluster key")
        if max_age_s <= 0 or capacity < 1:
            raise ValueError("max_age_s must be > 0 and capacity >= 1")
        self._key = key
        self.max_age_s = max_age_s
        self.capacity = capacity
        #: (replica, nonce) -> signing time (s), oldest first
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def check(
        self, topic: str, payload: bytes, properties: Iterable[tuple[str, str]], now_s: float,
        *, retained: bool = False,
    ) -> Rejection | None:
        props = dict(properties)
        replica, ts, nonce, sig = (props.get(k) for k in (REPLICA, TIMESTAMP, NONCE, SIGNATURE))
        if replica is None or ts is None or nonce is None or sig is None:
            return "unsigned"
        if not ts.isdigit() or len(ts) > 16:
            return "bad_signature"
        expected = _mac(self._key, canonical(topic, payload, replica, int(ts), nonce))
        if not hmac.compare_digest(expected, sig):
            return "bad_signature"
        signed = int(ts) / 1000
        if abs(now_s - signed) > self.max_age_s:
            return "stale"
        if retained:
            return None
        self._forget(now_s)
        key = (replica, nonce)
        if key in self._seen:
            return "replayed"
        self._seen[key] = signed
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return None

    def _forget(self, now_s: float) -> None:
        """Drop seen entries too old to be accepted again anyway (insertion order is
        signing order within a few seconds: stop at the first young one)."""
        horizon = now_s - self.max_age_s
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if oldest >= horizon:
                return
            self._seen.popitem(last=False)

    @property
    def remembered(self) -> int:
        return len(self._seen)
