"""Text <-> tokens for one translation model: SentencePiece, or a Hugging Face tokenizer.json.

Families that ship a SentencePiece model (Marian, NLLB, M2M100, mBART-50, T5/MADLAD, Argos)
are tokenized with it (`PieceCodec`); decoder-only LLMs with their tokenizer.json
(`TokenizerCodec`, the `tokenizers` library that faster-whisper already brings), because
their prompts carry chat control tokens (`<|im_start|>`, `<start_of_turn>`) that only the
tokenizer.json knows as single tokens, and many (byte-level BPE) have no SentencePiece model.

Decoding rule (SOURCES.md): join the output pieces and turn "▁" into spaces.
The source SentencePiece model cannot decode every target piece (an Argos /
OPUS-MT package may ship only the source side's model, while the CTranslate2
vocabulary holds both sides), so `sp_target.decode` is used only when it knows
every piece of the output, and the join rule otherwise.

Encoding a target prefix has the same problem the other way round: the
source-side model cuts English words into odd fragments ("▁G ree ting s").
So the codec (1) remembers the pieces of its recent outputs and reuses them
exactly when a prefix is the start of one of them (the incremental layer's
prefixes are), and (2) otherwise, per word, takes whichever of the
SentencePiece segmentation and a longest-match segmentation over the model's
target vocabulary has fewer pieces. The tokenizer.json codec shares (1); for (2) it
lets the tokenizer cut the words (one tokenizer serves both sides there).

Not thread-safe (the output memory is mutable): used from the translator's
single worker thread only.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import sentencepiece as spm
from tokenizers import Tokenizer

from server.errors import ModelError

logger = logging.getLogger(__name__)

SPACE = "\u2581"  # "▁", SentencePiece's word-boundary mark
UNK = "<unk>"
#: Tokens that never belong in output text.
SPECIAL_TOKENS = frozenset({"<unk>", "<s>", "</s>", "<pad>"})

_MAX_LONGEST_MATCH_WORD = 64  # longer "words" fall back to SentencePiece (bounded O(n^2) scan)
_WS = re.compile(r"\s+")


def load_sentencepiece(path: Path) -> spm.SentencePieceProcessor:
    try:
        return spm.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as exc:
        raise ModelError(f"cannot load SentencePiece model {path}: {exc}") from exc


def load_target_vocabulary(model_dir: Path) -> frozenset[str] | None:
    """The target-side vocabulary of a CTranslate2 model directory, if it is there.

    CTranslate2 writes `shared_vocabulary.{json,txt}` or
    `target_vocabulary.{json,txt}` (JSON list or one token per line).
    """
    for stem in ("target_vocabulary", "shared_vocabulary"):
        for suffix in (".json", ".txt"):
            path = model_dir / f"{stem}{suffix}"
            if not path.is_file():
                continue
            try:
                if suffix == ".json":
                    tokens = json.loads(path.read_text(encoding="utf-8"))
                    if not isinstance(tokens, list):
                        raise ValueError("not a JSON list")
                    return frozenset(str(t) for t in tokens)
                return frozenset(path.read_text(encoding="utf-8").splitlines())
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot read vocabulary {path}: {exc}") from exc
    return None


def join_pieces(pieces: Iterable[str]) -> str:
    """SOURCES.md decoding: join the pieces, "▁" -> space, collapse and strip spaces."""
    return _WS.sub(" ", "".join(pieces).replace(SPACE, " ")).strip()


def load_tokenizer(path: Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust library raises a bare Exception
        raise ModelError(f"cannot load tokenizer {path}: {exc}") from exc


class TokenCodec(Protocol):
    """What the translator needs from a tokenizer."""

    def encode_source(self, text: str) -> list[str]: ...

    def decode_target(self, pieces: Sequence[str]) -> str: ...

    def remember(self, pieces: Sequence[str], text: str) -> None: ...

    def encode_target_prefix(self, text: str) -> list[str]: ...


class _OutputMemory:
    """The pieces of recent outputs, to give a prefix cut from one of them back exactly."""

    def __init__(self, memory: int) -> None:
        # decoded text -> output pieces, most recent last; bounded LRU.
        self._memory: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._memory_size = memory

    def _join(self, pieces: Sequence[str]) -> str:
        raise NotImplementedError

    def remember(self, pieces: Sequence[str], text: str) -> None:
        """Keep `pieces` (whose decoded text is `text`) for exact prefix reuse."""
        if not text:
            return
        self._memory[text] = tuple(pieces)
        self._memory.move_to_end(text)
        while len(self._memory) > self._memory_size:
            self._memory.popitem(last=False)

    def _from_memory(self, text: str) -> list[str] | None:
        for full, pieces in reversed(self._memory.items()):
            if not full.startswith(text):
                continue
            # Find the piece boundary whose joined text is exactly `text`.
            for k in range(1, len(pieces) + 1):
                joined = self._join(pieces[:k])
                if joined == text:
                    # Any piece boundary will do: the model may still continue the
                    # last word ("▁run" + "ning"), as it could after SentencePiece's own cut.
                    self._memory.move_to_end(full)
                    return list(pieces[:k])
                if len(joined) > len(text):
                    break
        return None


class PieceCodec(_OutputMemory):
    """Encodes source text and target prefixes, decodes target pieces (SentencePiece)."""

    def __init__(
        self,
        sp_source: spm.SentencePieceProcessor,
        sp_target: spm.SentencePieceProcessor,
        target_vocabulary: frozenset[str] | None,
        *,
        memory: int = 256,
    ) -> None:
        super().__init__(memory)
        self._sp_source = sp_source
        self._sp_target = sp_target
        self._vocab = target_vocabulary
        self._target_unk = sp_target.unk_id()

    def _join(self, pieces: Sequence[str]) -> str:
        return join_pieces(pieces)

    # -- source -----------------------------------------------------------------
    def encode_source(self, text: str) -> list[str]:
        pieces: list[str] = self._sp_source.encode(text, out_type=str)
        return pieces

    # -- target -----------------------------------------------------------------
    def decode_target(self, pieces: Sequence[str]) -> str:
        """Text of output pieces (specials already removed by the caller or dropped here)."""
        clean = [p for p in pieces if p not in SPECIAL_TOKENS]
        if clean and all(self._target_knows(p) for p in clean):
            text: str = self._sp_target.decode_pieces(clean)
            text = _WS.sub(" ", text).strip()
        else:
            text = join_pieces(clean)
        return text

    def encode_target_prefix(self, text: str) -> list[str]:
        """Pieces for a target prefix: remembered output pieces if possible, else segmented."""
        text = _WS.sub(" ", text).strip()
        if not text:
            return []
        remembered = self._from_memory(text)
        if remembered is not None:
            return remembered
        out: list[str] = []
        for word in text.split(" "):
            sp_pieces: list[str] = self._sp_target.encode(word, out_type=str)
            lm_pieces = self._longest_match(SPACE + word)
            if lm_pieces is not None and len(lm_pieces) < len(sp_pieces):
                out.extend(lm_pieces)
            else:
                out.extend(sp_pieces)
        return out

    # -- helpers ----------------------------------------------------------------
    def _target_knows(self, piece: str) -> bool:
        return bool(self._sp_target.piece_to_id(piece) != self._target_unk)

    def _longest_match(self, word: str) -> list[str] | None:
        vocab = self._vocab
        if vocab is None or len(word) > _MAX_LONGEST_MATCH_WORD:
            return None
        out: list[str] = []
        i = 0
        n = len(word)
        while i < n:
            for j in range(n, i, -1):
                if word[i:j] in vocab:
                    out.append(word[i:j])
                    i = j
                    break
            else:
                return None  # a character the vocabulary lacks: let SentencePiece handle it
        return out


class TokenizerCodec(_OutputMemory):
    """The same interface over a Hugging Face tokenizer.json (one tokenizer for both sides).

    Tokens are the tokenizer's own strings ("Ġthe", "▁the"), which are what CTranslate2's
    converter wrote into the model's vocabulary. Special tokens written in the text (chat
    markup) are recognized as single tokens; decoding skips them.
    """

    def __init__(self, tokenizer: Tokenizer, *, memory: int = 256) -> None:
        super().__init__(memory)
        self._tok = tokenizer

    def _join(self, pieces: Sequence[str]) -> str:
        return self.decode_target(pieces)

    def encode_source(self, text: str) -> list[str]:
        tokens: list[str] = self._tok.encode(text, add_special_tokens=False).tokens
        return tokens

    def decode_target(self, pieces: Sequence[str]) -> str:
        ids = [i for i in (self._tok.token_to_id(p) for p in pieces) if i is not None]
        text: str = self._tok.decode(ids, skip_special_tokens=True)
        return _WS.sub(" ", text).strip()

    def encode_target_prefix(self, text: str) -> list[str]:
        text = _WS.sub(" ", text).strip()
        if not text:
            return []
        remembered = self._from_memory(text)
        if remembered is not None:
            return remembered
        return self.encode_source(text)
