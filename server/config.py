"""The one configuration object, built once at the edge (CLI, env, TOML)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from server.asr.batched import BatchOptions
from server.asr.whisper import AsrOptions
from server.security.limits import Limits
from server.streaming.policy import LatencyMode, PolicyOptions

#: The recognition engines `--asr-engine` chooses from, the default first.
AsrEngine = Literal["batched", "whisper"]


@dataclass(frozen=True)
class Backlog:
    """Backpressure water marks on undecoded audio per session, in seconds."""

    high_s: float = 6.0
    low_s: float = 3.0


@dataclass(frozen=True)
class Admission:
    """When the shared model is saturated, new sessions are refused (`overloaded`)
    rather than making everyone late; the cadence of re-decodes stretches first."""

    #: Refuse new sessions while requests wait longer than this for the model...
    max_queue_wait_s: float = 2.0
    #: ...and the model is busier than this (fraction of time).
    max_load: float = 0.9
    #: Re-decode cadence multiplier at full load (1 = no adaptation).
    max_cadence_stretch: float = 3.0
    retry_after_ms: int = 5000


@dataclass(frozen=True)
class Security:
    """Authentication and transport settings (wired by server.security.startup)."""

    #: Token file (TOML or JSON lines); None: $PARLEY_TOKENS_FILE, then $PARLEY_TOKENS.
    tokens_file: str | None = None
    #: Serve without tokens on any address. Without it, no tokens means open mode on a
    #: loopback address only (a warning) and a refusal to start anywhere else.
    open: bool = False
    #: Origin header values accepted on WebSocket handshakes (empty: any origin).
    #: Clients that send no Origin (non-browsers) are always accepted.
    allowed_origins: tuple[str, ...] = ()
    #: PEM certificate chain and key: serve https/wss (both or neither).
    tls_cert: str | None = None
    tls_key: str | None = None
    #: The secret replicas sign their MQTT messages with (server.mqtt.signing), from
    #: --cluster-key-file or $PARLEY_CLUSTER_KEY. None: this replica follows no other
    #: replica's rooms (nothing from the broker could be told from a forgery).
    cluster_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    asr_model: str = "base"
    #: "batched": `server.asr.batched` (many sessions' requests per call, encoder windows
    #: sized to their audio); "whisper": faster-whisper's transcribe, one request per call.
    #: Batched is the default because through the server it was both faster and at least as
    #: accurate for tiny.en and base on 2 cores (docs/benchmarks-log.md, 2026-12-06).
    asr_engine: AsrEngine = "batched"
    #: The batched engine's options (encoder windows...); unused by "whisper".
    batch: BatchOptions = field(default_factory=BatchOptions)
    mt_models: tuple[str, ...] = ("zh-en",)
    asr: AsrOptions = field(default_factory=AsrOptions)
    mt_compute_type: str = "int8"
    policy: PolicyOptions = field(default_factory=PolicyOptions)
    #: Latency mode of sessions whose `start` names none (server/streaming/policy.py).
    latency: LatencyMode = "fast"
    limits: Limits = field(default_factory=Limits)
    backlog: Backlog = field(default_factory=Backlog)
    admission: Admission = field(default_factory=Admission)
    log_level: str = "info"
    # The broker for room captions and cross-replica rooms (None: no MQTT),
    # e.g. mqtt://127.0.0.1:1883; and this replica's id in topics ("" -> hostname-pid).
    mqtt_url: str | None = None
    replica_id: str = ""
    security: Security = field(default_factory=Security)
    #: After SIGTERM: how long live sessions get to deliver their pending finals before
    #: they are cut (deploy/ builds the pods' grace period from it: keep them in step).
    drain_timeout_s: float = 30.0
    #: How long a speaker whose connection dropped may come back and resume (0: never).
    resume_grace_s: float = 30.0
    #: Largest request body of the OpenAI audio endpoints (/v1/audio/*), in bytes: the
    #: multipart upload whole (OpenAI's own limit is 25 MB). Larger: 413.
    max_upload_bytes: int = 25 * 1024 * 1024

    def limits_dict(self) -> dict[str, Any]:
        return {**asdict(self.limits), "sample_rate": 16000}
