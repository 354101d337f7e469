"""The values that travel between the translation layers: one request, one result."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TranslationRequest:
    """Translate `text` from `source` to `target` (ISO 639-1 codes).

    `target_prefix`, when given, is text the translation must start with; the
    model continues it. The incremental layer uses it to keep a partial
    translation stable while the source sentence grows.
    """

    text: str
    source: str
    target: str
    target_prefix: str | None = None


@dataclass(frozen=True)
class TranslationResult:
    """A translation and what it cost.

    `tokens` counts the target pieces the model produced (prefix included,
    special tokens excluded). `queue_ms` / `mt_ms` are filled in by the
    scheduler (time waiting for a batch / time of the batched model call);
    they are 0 when the translator is called directly.
    """

    text: str
    tokens: int
    queue_ms: float = 0.0
    mt_ms: float = 0.0
