"""Parley for LiveKit Agents: an `stt.STT` that streams a participant's audio to Parley.

    pip install 'parley[livekit]'

    from clients.livekit.parley_livekit import STT
    session = AgentSession(stt=STT(url="ws://parley:8765", token="..."), ...)

See `stt.py` (and docs/compatibility.md) for what maps to what.
"""

from clients.livekit.parley_livekit.events import END_OF_SPEECH_HANGOVER_S, Translation
from clients.livekit.parley_livekit.stt import (
    STT,
    LatencyMode,
    ParleySTTOptions,
    SpeechStream,
    api_error,
)

__all__ = [
    "END_OF_SPEECH_HANGOVER_S",
    "STT",
    "LatencyMode",
    "ParleySTTOptions",
    "SpeechStream",
    "Translation",
    "api_error",
]
