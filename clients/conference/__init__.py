"""Conference bridge: call audio from a network source into a Parley room, captions out.

    python -m clients.conference call.sdp --url ws://127.0.0.1:8765 --room standup \\
        --source en --zoom-url 'https://wmcc.zoom.us/closedcaption?id=...' --vtt standup.vtt

See docs/conference.md.
"""

from clients.conference.bridge import BridgeConfig, BridgeResult, run_bridge
from clients.conference.ingest import open_options, source_chunks
from clients.conference.sinks import (
    Caption,
    CaptionSink,
    VttFileSink,
    WebhookSink,
    ZoomCaptionSink,
)

__all__ = [
    "BridgeConfig",
    "BridgeResult",
    "Caption",
    "CaptionSink",
    "VttFileSink",
    "WebhookSink",
    "ZoomCaptionSink",
    "open_options",
    "run_bridge",
    "source_chunks",
]
