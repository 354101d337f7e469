"""One loaded CTranslate2 translation model (int8) with its tokenizer, of any family.

Encoder-decoder families (Argos, Marian, NLLB, M2M100, mBART-50, T5/MADLAD) run on
ctranslate2.Translator, decoder-only LLMs on ctranslate2.Generator with a prompt
(server.mt.generator); how each family names its languages is in server.mt.families.
Every family gets the same incremental behaviour: a request's `target_prefix` (the kept
words of the previous partial translation) is forced as the start of the output.

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

from server.errors import ModelError, UnsupportedError
from server.models.types import MtModelInfo
from server.mt.families import Framing, check_language_tokens, framing, output_noise
from server.mt.generator import Item, PromptModel, RunOptions, Seq2SeqModel
from server.mt.pieces import (
    PieceCodec,
    TokenCodec,
    TokenizerCodec,
    load_sentencepiece,
    load_target_vocabulary,
    load_tokenizer,
)
from server.mt.prompts import fill, first_line
from server.mt.requests import TranslationRequest, TranslationResult
from server.mt.sentences import join_text, split_sentences

logger = logging.getLogger(__name__)

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
    #: Tokens of the text itself (an LLM's `source` is the whole prompt): bounds the output.
    length: int


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
        check_language_tokens(info)
        run = RunOptions(
            self.options.device, self.options.compute_type, threads, self.options.beam_size
        )
        self._model: Seq2SeqModel | PromptModel
        if info.kind == "llm":
            if info.prompt is None:
                raise ModelError(f"LLM {info.name!r} has no prompt template")
            self._model = PromptModel(info.name, model_dir, run, info.prompt.stop)
        else:
            self._model = Seq2SeqModel(info.name, model_dir, run)
        self._codec = _load_codec(info, model_dir)
        config = _read_config(model_dir)
        # Transformers-converted models expect "</s>" at the end of the source but
        # CTranslate2 adds it only when the config says so; Argos (OpenNMT-py) models are
        # trained without it.
        self._source_eos = info.kind not in ("argos", "llm") and not bool(
            config.get("add_source_eos")
        )
        self._noise = output_noise(info)
        self._framings: dict[tuple[str, str], Framing] = {}
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

        longest = max(u.length for u in units)
        max_len = min(
            self.options.max_decoding_length,
            int(self.options.max_decoding_ratio * longest) + self.options.max_decoding_extra,
        )
        prefixed = [len(u.prefix) for u in units if u.prefix]
        if prefixed:
            max_len = min(self.options.max_decoding_length, max(max_len, max(prefixed) + 16))
        outputs = self._model.run([Item(u.source, u.prefix) for u in units], max_len)

        texts: list[list[str]] = [[] for _ in requests]
        tokens = [0] * len(requests)
        for unit, output in zip(units, outputs, strict=True):
            pieces = [p for p in output if p not in self._noise]
            text = self._codec.decode_target(pieces)
            if self.info.kind == "llm":
                text = first_line(text)
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
        frame = self._framing(req.source, req.target)
        units: list[_Unit] = []
        for n, sentence in enumerate(sentences):
            for m, chunk in enumerate(self._chunks(self._codec.encode_source(sentence))):
                prefix: list[str] | None = None
                if prefix_text and n == 0 and m == 0:
                    prefix = self._codec.encode_target_prefix(prefix_text)
                units.append(
                    _Unit(index, self._model_input(frame, chunk, req), frame.target(prefix),
                          len(chunk))
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

    def _framing(self, source: str, target: str) -> Framing:
        key = (source, target)
        if key not in self._framings:
            self._framings[key] = framing(self.info, source, target, source_eos=self._source_eos)
        return self._framings[key]

    def _model_input(self, frame: Framing, pieces: list[str], req: TranslationRequest) -> list[str]:
        prompt = self.info.prompt
        if prompt is None:
            return frame.source(pieces)
        text = self._codec.decode_target(pieces)  # a chunk of the sentence, as text
        return self._codec.encode_source(fill(prompt, req.source, req.target, text))


def _load_codec(info: MtModelInfo, model_dir: Path) -> TokenCodec:
    """SentencePiece where the model has it, else its tokenizer.json."""
    if info.sp_source is not None:
        sp_source = load_sentencepiece(Path(info.sp_source))
        sp_target = (
            sp_source
            if info.sp_target is None or Path(info.sp_target) == Path(info.sp_source)
            else load_sentencepiece(Path(info.sp_target))
        )
        return PieceCodec(sp_source, sp_target, load_target_vocabulary(model_dir))
    if info.tokenizer is not None:
        return TokenizerCodec(load_tokenizer(Path(info.tokenizer)))
    raise ModelError(f"MT model {info.name!r} has neither a SentencePiece model nor a tokenizer")
