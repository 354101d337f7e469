"""OpenAI's `/v1/models` list shape, added to Parley's own `/v1/models` document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.services import Services

#: Model names OpenAI clients send (hard-coded in many tools): each is the served
#: recognizer. Any other name but the served model's own is `model_not_found`.
ALIASES = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")


def model_ids(asr_name: str) -> tuple[str, ...]:
    """The `model` values the audio endpoints accept: the served model first."""
    return (asr_name, *ALIASES)


def openai_models(services: Services, created: int = 0) -> dict[str, Any]:
    """`object: "list"` and `data`, the keys `client.models.list()` reads."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "parley"}
            for name in model_ids(services.asr_info.name)
        ],
    }
