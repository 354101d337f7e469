"""The replica's one MQTT connection: publish room events, follow remote rooms.

`MqttLink` implements the hub's `RoomBridge`. Calls from the hub never wait:
messages go into a bounded `PublishQueue`; a sender task publishes them in
order with up to `window` QoS 1 messages in flight and removes each only once
the broker acknowledged it. When the broker goes away, the connection is
retried with exponential backoff and everything unacknowledged is sent again,
in order. The session is persistent (MQTT 5 session expiry), so the broker
also keeps our subscriptions and queues QoS 1 messages for us while we
reconnect.

Subscriptions: `{prefix}/rooms/+/demand/+` always (other replicas' listener
languages, for our local speakers), plus, per room our listeners follow, its
transcript, status and the translation topics of their languages. We
subscribe with No Local (our own publications are not echoed back) and
Retain Handling 1 (retained messages only for a new subscription).

Authenticity (server.mqtt.signing): with a cluster key every message is signed
as it is sent, and a message from the broker reaches the hub only if it
verifies; the others are dropped and counted (`on_rejected(reason)`). Without
a cluster key the link publishes unsigned messages (for MQTT caption
consumers) and subscribes to nothing: nothing from the broker can be told
apart from a forgery, so no other replica's room is followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from server.mqtt import topics
from server.mqtt.messages import (
    Outgoing,
    demand_message,
    event_message,
    parse_demand,
    parse_event,
    status_message,
)
from server.mqtt.queue import PublishQueue
from server.mqtt.settings import MqttSettings
from server.mqtt.signing import Rejection, Signer, Verifier
from server.protocol.messages import Event

if TYPE_CHECKING:
    from server.rooms.hub import RoomHub

log = logging.getLogger(__name__)


class MqttLink:
    def __init__(
        self,
        settings: MqttSettings,
        replica_id: str,
        hub: RoomHub | None = None,
        *,
        cluster_key: bytes | None = None,
        on_rejected: Callable[[Rejection], None] | None = None,
    ) -> None:
        self.settings = settings
        self.replica_id = replica_id
        self.hub = hub
        self._signer = Signer(cluster_key, replica_id) if cluster_key else None
        self._verifier = Verifier(cluster_key) if cluster_key else None
        self._on_rejected = on_rejected
        #: messages dropped because they did not verify, by reason
        self.rejected: dict[Rejection, int] = {}
        self.queue = PublishQueue(settings.queue_capacity)
        self.connects = 0
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._subs_changed = asyncio.Event()
        #: room -> languages its local listeners want (rooms we follow)
        self._watch: dict[str, frozenset[str]] = {}
        #: room -> the demand we last published (non-empty)
        self._demand: dict[str, frozenset[str]] = {}
        #: (room, session id) -> `speaker` status of a live local speaker (republished)
        self._live: dict[tuple[str, str], Event] = {}
        self._subscribed: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._warned_drops = 0

    # -- RoomBridge (called by the hub; never waits) ---------------------------

    def publish_event(self, room: str, event: Event) -> None:
        msg = event_message(self.settings.prefix, room, event, time.monotonic())
        if msg is not None:
            self._put(msg)

    def publish_status(self, room: str, session_id: str, event: Event) -> None:
        if event.get("type") == "end":
            self._live.pop((room, session_id), None)
        else:
            self._live[(room, session_id)] = event
        self._put(self._status(room, session_id, event))

    def set_interest(self, room: str, langs: frozenset[str] | None) -> None:
        if langs is None:
            self._watch.pop(room, None)
        else:
            self._watch[room] = langs
        demand = langs or None  # no languages: nothing to ask of remote speakers
        if demand != self._demand.get(room):
            if demand is None:
                self._demand.pop(room, None)
            else:
                self._demand[room] = demand
            self._put(self._demand_msg(room, demand))
        self._subs_changed.set()

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="mqtt-link"),
            asyncio.create_task(self._refresh_loop(), name="mqtt-refresh"),
        ]

    async def drain(self, timeout: float) -> bool:
        """Wait until every queued message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while len(self.queue):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def aclose(self, timeout: float = 5.0) -> None:
        """Withdraw our demand, deliver what is queued (up to `timeout`), disconnect."""
        for room in list(self._demand):
            self._put(self._demand_msg(room, None))
        self._demand.clear()
        if not await self.drain(timeout):
            log.warning("MQTT: closing with %d messages not delivered", len(self.queue))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- internals -------------------------------------------------------------

    def _status(self, room: str, session_id: str, event: Event) -> Outgoing:
        return status_message(
            self.settings.prefix, room, session_id, event, time.monotonic(), self.settings.refresh_s
        )

    def _demand_msg(self, room: str, langs: frozenset[str] | None) -> Outgoing:
        return demand_message(
            self.settings.prefix, room, self.replica_id, langs, time.monotonic(),
            self.settings.refresh_s,
        )

    def _put(self, msg: Outgoing) -> None:
        self.queue.put(msg)
        if self.queue.dropped_finals > self._warned_drops:
            log.warning(
                "MQTT: broker unreachable for long; queue full, %d final messages dropped",
                self.queue.dropped_finals,
            )
            self._warned_drops = self.queue.dropped_finals
        self._wake.set()

    def _client(self, first: bool) -> aiomqtt.Client:
        s = self.settings
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = s.session_expiry_s
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=f"parley-{self.replica_id}",
            protocol=aiomqtt.ProtocolVersion.V5,
            # A fresh session when this process starts, then resume it on reconnects.
            clean_start=first,
            properties=props,
            keepalive=s.keepalive_s,
            timeout=s.publish_timeout_s,
            max_inflight_messages=max(20, s.window + 4),
            tls_context=ssl.create_default_context() if s.tls else None,
            # Captions are small packets sent one by one: without this, Nagle's algorithm
            # holds a final back until the previous packet is acknowledged (~10-40 ms).
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )

    async def _run(self) -> None:
        s = self.settings
        backoff, first = s.backoff_min_s, True
        while True:
            try:
                async with self._client(first) as client:
                    first, backoff = False, s.backoff_min_s
                    self.connects += 1
                    self.connected.set()
                    log.info("MQTT: connected to %s (%d queued)", s.describe(), len(self.queue))
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT: %s; retrying in %.1f s", exc, backoff)
            except OSError as exc:
                log.warning("MQTT: %s; retrying in %.1f s", exc, backoff)
            finally:
                self.connected.clear()
                self.queue.rewind()  # unacknowledged messages go again, in order
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, s.backoff_max_s)

    async def _serve(self, client: aiomqtt.Client) -> None:
        tasks = [
            asyncio.create_task(self._send(client)),
            asyncio.create_task(self._read(client)),
            asyncio.create_task(self._subscribe(client)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended the connection
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, client: aiomqtt.Client) -> None:
        inflight: deque[asyncio.Task[None]] = deque()
        try:
            while True:
                self._wake.clear()
                while len(inflight) < self.settings.window:
                    msg = self.queue.take(time.monotonic())
                    if msg is None:
                        break
                    inflight.append(asyncio.create_task(self._publish(client, msg)))
                # Acknowledge in queue order (the broker acknowledges QoS 1 in order too).
                while inflight and inflight[0].done():
                    inflight.popleft().result()
                    self.queue.ack()
                waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
                if inflight:
                    waits.add(inflight[0])
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        if w not in inflight:
                            w.cancel()
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _publish(self, client: aiomqtt.Client, msg: Outgoing) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.MessageExpiryInterval = msg.expiry_s
        if self._signer is not None:
            props.UserProperty = self._signer.sign(msg.topic, msg.payload, time.time())
        await client.publish(
            msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, properties=props,
            timeout=self.settings.publish_timeout_s,
        )

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            user = getattr(message.properties, "UserProperty", None) or []
            try:
                self._on_message(str(message.topic), data, bool(message.retain), user)
            except Exception:
                log.exception("MQTT: failed to handle a message on %s", message.topic)

    def _on_message(
        self, topic: str, payload: bytes, retained: bool, user: list[tuple[str, str]]
    ) -> None:
        hub = self.hub
        parsed = topics.parse(self.settings.prefix, topic)
        if hub is None or parsed is None or self._verifier is None:
            return
        rejection = self._verifier.check(topic, payload, user, time.time(), retained=retained)
        if rejection is not None:
            self._reject(rejection, topic)
            return
        if parsed.kind == "demand":
            if parsed.arg is not None:
                hub.on_remote_demand(parsed.room, parsed.arg, parse_demand(payload))
            return
        event = parse_event(payload)
        if event is not None:  # None: a cleared retained message, or junk
            hub.on_remote_event(parsed.room, event, retained=retained)

    def _reject(self, reason: Rejection, topic: str) -> None:
        count = self.rejected[reason] = self.rejected.get(reason, 0) + 1
        if self._on_rejected is not None:
            self._on_rejected(reason)
        if count & (count - 1) == 0:  # the 1st, 2nd, 4th, 8th...: visible, never a flood
            log.warning("MQTT: dropped a message on %s that does not verify (%s; %d so far)",
                        topic, reason, count)

    def _desired(self) -> set[str]:
        if self._verifier is None:
            return set()  # nothing from the broker could be trusted
        prefix = self.settings.prefix
        wanted = {topics.all_demand(prefix)} if self.hub is not None else set()
        for room, langs in self._watch.items():
            wanted |= topics.watch(prefix, room, langs)
        return wanted

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        options = SubscribeOptions(qos=1, noLocal=True, retainHandling=1)
        # After a reconnect the broker may or may not still have our session:
        # subscribe to everything we want again (idempotent), drop what we no longer want.
        current: set[str] = set()
        while True:
            self._subs_changed.clear()
            desired = self._desired()
            for topic in sorted(desired - current):
                await client.subscribe(topic, options=options)
                current.add(topic)
            for topic in sorted((current | self._subscribed) - desired):
                await client.unsubscribe(topic)
                current.discard(topic)
            self._subscribed = set(current)
            await self._subs_changed.wait()

    async def _refresh_loop(self) -> None:
        """Keep retained status and demand alive (they expire), forget stale remote demand."""
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            if self.connected.is_set():
                for (room, sid), event in list(self._live.items()):
                    self._put(self._status(room, sid, event))
                for room, langs in list(self._demand.items()):
                    self._put(self._demand_msg(room, langs))
            if self.hub is not None:
                self.hub.sweep()
