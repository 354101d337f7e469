"""The one configuration object, built once at the edge (CLI, env, TOML)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from server.asr.whisper import AsrOptions
from server.streaming.policy import PolicyOptions


@dataclass(frozen=True)
class Backlog:
    """Backpressure water marks on undecoded audio per session, in seconds."""

    high_s: float = 6.0
    low_s: float = 3.0


@dataclass(frozen=True)
class Limits:
    max_frame_bytes: int = 256 * 1024
    max_session_s: float = 4 * 3600.0
    idle_timeout_s: float = 60.0
    max_sessions: int = 64
    outbox_events: int = 512


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    asr_model: str = "base"
    mt_models: tuple[str, ...] = ("zh-en",)
    asr: AsrOptions = field(default_factory=AsrOptions)
    mt_compute_type: str = "int8"
    policy: PolicyOptions = field(default_factory=PolicyOptions)
    limits: Limits = field(default_factory=Limits)
    backlog: Backlog = field(default_factory=Backlog)
    log_level: str = "info"
    # [rooms/mqtt, issue 5] broker for room captions and cross-replica rooms (None: no MQTT),
    # e.g. mqtt://127.0.0.1:1883; and this replica's id in topics ("" -> hostname-pid).
    mqtt_url: str | None = None
    replica_id: str = ""

    def limits_dict(self) -> dict[str, Any]:
        return {**asdict(self.limits), "sample_rate": 16000}
