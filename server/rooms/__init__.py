"""Rooms: listeners follow a speaker in their own language.

- `hub.RoomHub`: fan-out of speaker events to listeners, translation targets per room,
  and the link to other replicas (`RoomBridge`, implemented by server.mqtt.link.MqttLink).
- `listener.serve_listener`: the /v1/listen WebSocket endpoint.
- `demand`, `events`, `query`: the sans-I/O parts.
"""

from server.rooms.hub import Listener, Room, RoomBridge, RoomHub

__all__ = ["Listener", "Room", "RoomBridge", "RoomHub"]
