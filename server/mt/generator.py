"""The two ways a CTranslate2 model is run: encoder-decoder (`Seq2SeqModel`) and
decoder-only LLM (`PromptModel`, ctranslate2.Generator).

Both take a batch of (model input tokens, forced output start) and return, per item, the
output tokens INCLUDING the forced start, so the translator treats every family alike.
For an LLM the input is the filled prompt and the forced start (the kept words of the
previous partial translation) is appended to it: the model continues its own answer.
Greedy decoding (`sampling_topk=1`) for both: the same input gives the same output, which
incremental translation relies on.

Called from the translator's single worker thread only (see server.mt.translator).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import ctranslate2

from server.errors import ModelError

_M = TypeVar("_M", ctranslate2.Translator, ctranslate2.Generator)


@dataclass(frozen=True)
class RunOptions:
    device: str
    compute_type: str
    threads: int
    beam_size: int


@dataclass(frozen=True)
class Item:
    source: list[str]
    prefix: list[str] | None


def _load(kind: type[_M], what: str, name: str, model_dir: Path, options: RunOptions) -> _M:
    """One CTranslate2 model, called from one thread only (inter_threads=1)."""
    try:
        return kind(
            str(model_dir),
            device=options.device,
            compute_type=options.compute_type,
            inter_threads=1,
            intra_threads=options.threads,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"cannot load {what} {name!r} from {model_dir}: {exc}") from exc


class Seq2SeqModel:
    """ctranslate2.Translator: Marian, NLLB, M2M100, mBART, T5, Argos."""

    def __init__(self, name: str, model_dir: Path, options: RunOptions) -> None:
        self.name = name
        self._options = options
        self._model = _load(ctranslate2.Translator, "MT model", name, model_dir, options)

    def run(self, items: Sequence[Item], max_length: int) -> list[list[str]]:
        prefixes: list[list[str] | None] | None = None
        if any(item.prefix for item in items):
            prefixes = [item.prefix or None for item in items]
        try:
            outputs = self._model.translate_batch(
                [item.source for item in items],
                target_prefix=prefixes,
                beam_size=self._options.beam_size,
                max_decoding_length=max_length,
                max_input_length=0,  # sources are already cut to max_source_pieces
                replace_unknowns=True,
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"MT model {self.name!r} failed: {exc}") from exc
        return [list(output.hypotheses[0]) for output in outputs]


class PromptModel:
    """ctranslate2.Generator: a decoder-only LLM answering a translation prompt."""

    def __init__(
        self, name: str, model_dir: Path, options: RunOptions, stop: Sequence[str]
    ) -> None:
        self.name = name
        self._options = options
        self._stop = list(stop)
        self._model = _load(ctranslate2.Generator, "LLM", name, model_dir, options)

    def run(self, items: Sequence[Item], max_length: int) -> list[list[str]]:
        starts = [[*item.source, *(item.prefix or [])] for item in items]
        try:
            outputs = self._model.generate_batch(
                starts,
                max_length=max_length,  # tokens generated, the prompt not counted
                sampling_topk=1,
                beam_size=self._options.beam_size,
                include_prompt_in_result=False,
                end_token=self._stop or None,
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"LLM {self.name!r} failed: {exc}") from exc
        return [
            [*(item.prefix or []), *output.sequences[0]]
            for item, output in zip(items, outputs, strict=True)
        ]
