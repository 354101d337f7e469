"""How the gateway plugs rooms in: the hub (and MQTT link) for a server's lifetime,
and a speaker session attached to its room for the lifetime of its connection."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from server.errors import ParleyError
from server.mqtt.settings import REPLICA_RE
from server.rooms.hub import RoomHub

if TYPE_CHECKING:
    from server.metrics import ServerMetrics
    from server.services import Services

log = logging.getLogger(__name__)


def resolve_replica_id(configured: str) -> str:
    """The configured id, or hostname-pid (unique per process; the pod name in Kubernetes)."""
    if configured:
        if not REPLICA_RE.match(configured):
            raise ParleyError(
                f"replica id {configured!r}: use 1-64 letters, digits, '_', '-', '.'",
                code="bad_message",
            )
        return configured
    host = re.sub(r"[^A-Za-z0-9_.\-]", "-", socket.gethostname())[:40] or "parley"
    return f"{host}-{os.getpid()}"


@contextlib.asynccontextmanager
async def rooms_running(
    services: Services, metrics: ServerMetrics | None = None
) -> AsyncIterator[RoomHub]:
    """A room hub for the server's lifetime, linked to MQTT when `mqtt_url` is set
    (messages from the broker that do not verify are counted in `metrics`)."""
    from server.mqtt.link import MqttLink
    from server.mqtt.settings import MqttSettings

    cfg = services.config
    replica = resolve_replica_id(cfg.replica_id)
    hub = RoomHub.for_services(services, replica)
    link: MqttLink | None = None
    if cfg.mqtt_url:
        settings = MqttSettings.from_url(cfg.mqtt_url)
        key = cfg.security.cluster_key
        link = MqttLink(
            settings, replica, hub,
            cluster_key=key.encode() if key else None,
            on_rejected=(lambda reason: metrics.mqtt_rejected.inc(reason=reason))
            if metrics is not None else None,
        )
        hub.bridge = link
        await link.start()
        log.info("rooms: replica %s publishing to %s", replica, settings.describe())
        if not key:
            log.warning(
                "rooms: no cluster key (--cluster-key-file or PARLEY_CLUSTER_KEY): this replica "
                "publishes unsigned messages and follows no other replica's rooms")
    try:
        yield hub
    finally:
        if link is not None:
            await link.aclose()
