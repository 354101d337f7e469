"""MQTT connection settings, from a URL such as mqtt://user:pass@broker:1883/prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from server.errors import ParleyError

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
#: replica ids appear in topic names and client ids: no '/', '+', '#'
REPLICA_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int = 1883
    #: first topic level(s): topics are {prefix}/rooms/{room}/...
    prefix: str = "parley"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    keepalive_s: int = 15
    #: how long the broker keeps our subscriptions (and queues QoS 1 for us) across a reconnect
    session_expiry_s: int = 300
    #: messages waiting for the broker (finals kept first; see server.mqtt.queue)
    queue_capacity: int = 10_000
    #: QoS 1 messages in flight at once
    window: int = 16
    #: how often retained status and demand are republished (their expiry is 3x this)
    refresh_s: float = 30.0
    #: reconnect backoff bounds, seconds
    backoff_min_s: float = 0.1
    backoff_max_s: float = 5.0
    publish_timeout_s: float = 10.0

    @classmethod
    def from_url(cls, url: str) -> MqttSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ParleyError(
                f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}", code="bad_message"
            )
        if not parts.hostname:
            raise ParleyError(f"MQTT URL has no host: {url!r}", code="bad_message")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise ParleyError(f"MQTT URL has a bad port: {url!r}", code="bad_message") from None
        prefix = parts.path.strip("/") or "parley"
        if not _PREFIX_RE.match(prefix):
            raise ParleyError(f"MQTT topic prefix {prefix!r} is not usable", code="bad_message")
        return cls(
            host=parts.hostname,
            port=port,
            prefix=prefix,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def describe(self) -> str:
        """For logs: no password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}/{self.prefix}"
