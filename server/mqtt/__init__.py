"""MQTT: room captions published to a broker, and rooms followed across replicas.

- `link.MqttLink`: the replica's connection (publisher with replay, room subscriptions).
- `settings`, `topics`, `messages`, `queue`: configuration and the sans-I/O parts.
"""

from server.mqtt.link import MqttLink
from server.mqtt.settings import MqttSettings

__all__ = ["MqttLink", "MqttSettings"]
