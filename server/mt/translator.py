"""One loaded CTranslate2 translation model (int8) with its SentencePiece model(s).

A `Translator` is loaded once per process and shared by every session and
target language. Invariant: it is called from ONE thread only, the
`TranslationScheduler`'s single worker thread; neither the CTranslate2 object
as we drive it (inter_threads=1) nor the piece memory of `PieceCodec` is meant
for concurrent callers. Parallelism comes from batching and from the OpenMP
threads of one call (`intra_threads`), not from concurrent calls.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ctranslate2

from server.errors import ModelError, UnsupportedError
from server.models.types import MtModelInfo
from server.mt.pieces import (
    SPECIAL_TOKENS,
    PieceCodec,
    load_sentencepiece,
    load_target_vocabulary,
)
from server.mt.requests import TranslationRequest, TranslationResult
from server.mt.sentences import join_text, split_sentences

logger = logging.getLogger(__name__)

EOS = "</s>"
_CLAUSE_PIECES = frozenset({",", "，", "、", ";", "；", ":", "：", "▁,", "▁，"})

__all__ = ["TranslationRequest", "TranslationResult", "Translator", "TranslatorOptions"]


@dataclass(frozen=True)
class TranslatorOptions:
    """How a model is run. Defaults are tuned for latency on a few CPU cores."""

    device: str = "cpu"
    compute_type: str = "int8"
    #: OpenMP threads of one call; 0 = min(4, CPU count).
    threads: int = 0
    #: 1 = greedy. Measured on the zh->en OPUS model (int8, 2 shared cores, 16
    #: sentences): beam 2 takes about 1.3x the time of greedy one sentence at a time
    #: (190 vs 150 ms) and 1.2x in batches of 8, for near-identical text. Latency wins.
    beam_size: int = 1
    #: Output length bound: ratio * source pieces + extra, at most max_decoding_length.
    #: Stops a degenerate repetition loop from running on for hundreds of tokens.
    max_decoding_ratio: float = 2.5
    max_decoding_extra: int = 10
    max_decoding_length: int = 256
    #: Longer sentences are cut (at a comma if possible) into chunks of at most this.
    max_source_pieces: int = 200
    #: Split long inputs into sentences translated side by side in the same batch.
    split_sentences: bool = True


@dataclass(frozen=True)
class _Unit:
    """One sequence given to CTranslate2: a sentence (or chunk) of one request."""

    request: int
    source: list[str]
    prefix: list[str] | None


def _read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


class Translator:
    """Batch translation with one CTranslate2 model.

    Not thread-safe: see the module docstring (single scheduler worker thread).
    """

    def __init__(self, info: MtModelInfo, options: TranslatorOptions | None = None) -> None:
        self.info = info
        self.options = options or TranslatorOptions()
        threads = self.options.threads or min(4, os.cpu_count() or 1)
        model_dir = Path(info.path)
        if not (model_dir / "model.bin").is_file():
            raise ModelError(f"MT model {info.name!r}: no model.bin in {model_dir}")
        try:
            self._model = ctranslate2.Translator(
                str(model_dir),
                device=self.options.device,
                compute_type=self.options.compute_type,
                inter_threads=1,
                intra_threads=threads,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load MT model {info.name!r} from {model_dir}: {exc}") from exc
        sp_source = load_sentencepiece(Path(info.sp_source))
        sp_target = (
            sp_source
            if Path(info.sp_target) == Path(info.sp_source)
            else load_sentencepiece(Path(info.sp_target))
        )
        self._codec = PieceCodec(sp_source, sp_target, load_target_vocabulary(model_dir))
        config = _read_config(model_dir)
        # Transformers-converted models (Marian, NLLB, M2M100) expect "</s>" at the end
        # of the source but CTranslate2 adds it only when the config says so; Argos
        # (OpenNMT-py) models are trained without it.
        self._append_eos = info.kind != "argos" and not bool(config.get("add_source_eos"))
        self._lang_token_values = frozenset(info.lang_tokens.values())
        if info.needs_target_prefix:
            missing = {lang for pair in info.pairs for lang in pair} - set(info.lang_tokens)
            if missing:
                raise ModelError(
                    f"MT model {info.name!r} ({info.kind}) lacks language tokens for "
                    f"{sorted(missing)}"
                )
        logger.info(
            "loaded MT model %s (%s, %d pairs) on %s/%s, %d threads, beam %d",
            info.name,
            info.kind,
            len(info.pairs),
            self.options.device,
            self.options.compute_type,
            threads,
            self.options.beam_size,
        )

    # -- what it can do -----------------------------------------------------------
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def supported_pairs(self) -> tuple[tuple[str, str], ...]:
        return self.info.pairs

    def covers(self, source: str, target: str) -> bool:
        return self.info.covers(source, target)

    # -- translation ----------------------------------------------------------------
    def translate_batch(self, requests: Sequence[TranslationRequest]) -> list[TranslationResult]:
        """Translate every request in ONE CTranslate2 call; results in request order.

        Raises UnsupportedError (code unsupported_pair) for a pair the model does
        not cover, ModelError if CTranslate2 fails.
        """
        if not requests:
            return []
        for req in requests:
            if not self.covers(req.source, req.target):
                raise UnsupportedError(
                    f"MT model {self.name!r} does not translate {req.source}->{req.target}",
                    code="unsupported_pair",
                )
        units: list[_Unit] = []
        for index, req in enumerate(requests):
            units.extend(self._units(index, req))
        if not units:  # only blank texts: nothing for the model to do
            return [TranslationResult(text="", tokens=0) for _ in requests]

        sources = [u.source for u in units]
        prefixes: list[list[str] | None] | None = None
        if any(u.prefix for u in units):
            prefixes = [u.prefix or None for u in units]
        longest = max(len(s) for s in sources)
        max_len = min(
            self.options.max_decoding_length,
            int(self.options.max_decoding_ratio * longest) + self.options.max_decoding_extra,
        )
        if prefixes is not None:
            longest_prefix = max(len(p) for p in prefixes if p is not None)
            max_len = min(self.options.max_decoding_length, max(max_len, longest_prefix + 16))
        try:
            outputs = self._model.translate_batch(
                sources,
                target_prefix=prefixes,
                beam_size=self.options.beam_size,
                max_decoding_length=max_len,
                max_input_length=0,  # sources are already cut to max_source_pieces
                replace_unknowns=True,
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"MT model {self.name!r} failed: {exc}") from exc

        texts: list[list[str]] = [[] for _ in requests]
        tokens = [0] * len(requests)
        for unit, output in zip(units, outputs, strict=True):
            pieces = [
                p
                for p in output.hypotheses[0]
                if p not in SPECIAL_TOKENS and p not in self._lang_token_values
            ]
            text = self._codec.decode_target(pieces)
            self._codec.remember(pieces, text)
            texts[unit.request].append(text)
            tokens[unit.request] += len(pieces)
        return [
            TranslationResult(text=join_text(parts, req.target), tokens=count)
            for req, parts, count in zip(requests, texts, tokens, strict=True)
        ]

    def _units(self, index: int, req: TranslationRequest) -> list[_Unit]:
        text = req.text.strip()
        if not text:
            return []  # blank source -> blank translation, no model call
        prefix_text = (req.target_prefix or "").strip()
        # A prefix belongs to the translation as a whole; which sentence it would
        # cover is unknown, so a request with a prefix is not split into sentences.
        if self.options.split_sentences and not prefix_text:
            sentences = split_sentences(text)
        else:
            sentences = [text]
        units: list[_Unit] = []
        for n, sentence in enumerate(sentences):
            for m, chunk in enumerate(self._chunks(self._codec.encode_source(sentence))):
                prefix: list[str] | None = None
                if prefix_text and n == 0 and m == 0:
                    prefix = self._codec.encode_target_prefix(prefix_text)
                units.append(
                    _Unit(index, self._frame_source(chunk, req), self._frame_prefix(prefix, req))
                )
        return units

    def _chunks(self, pieces: list[str]) -> list[list[str]]:
        limit = max(8, self.options.max_source_pieces)
        if len(pieces) <= limit:
            return [pieces]
        chunks: list[list[str]] = []
        while len(pieces) > limit:
            cut = limit
            for k in range(limit, limit // 2, -1):  # prefer a clause boundary in the 2nd half
                if pieces[k - 1] in _CLAUSE_PIECES:
                    cut = k
                    break
            chunks.append(pieces[:cut])
            pieces = pieces[cut:]
        if pieces:
            chunks.append(pieces)
        return chunks

    def _frame_source(self, pieces: list[str], req: TranslationRequest) -> list[str]:
        framed = list(pieces)
        if self.info.needs_target_prefix:
            framed.insert(0, self.info.lang_tokens[req.source])
        if self._append_eos:
            framed.append(EOS)
        return framed

    def _frame_prefix(self, prefix: list[str] | None, req: TranslationRequest) -> list[str] | None:
        if self.info.needs_target_prefix:
            return [self.info.lang_tokens[req.target], *(prefix or [])]
        return prefix or None
