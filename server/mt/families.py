"""How each translation model family is told which languages to translate between.

Every family wraps the source pieces and starts the output in its own way:

| family | model input | output starts with |
| --- | --- | --- |
| argos (OpenNMT-py) | pieces | - |
| marian (OPUS-MT) | pieces `</s>`; multi-target models: `>>fra<<` first | - |
| nllb | `eng_Latn` pieces `</s>` | `deu_Latn` |
| m2m100 | `__en__` pieces `</s>` | `__de__` |
| mbart (mBART-50) | `en_XX` pieces `</s>` | `de_DE` |
| t5 (MADLAD-400) | `<2de>` pieces `</s>` | - |
| llm | the prompt (server.mt.prompts) | the answer |

The forced start of the output is given to CTranslate2 as the head of the target prefix,
followed by the kept words of the previous partial translation (incremental translation):
the same mechanism serves every family. Pure functions, no model.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.errors import ModelError
from server.models.types import MtModelInfo

EOS = "</s>"


@dataclass(frozen=True)
class Framing:
    """Tokens around one sentence's source pieces, and the forced start of its output."""

    source_prefix: tuple[str, ...] = ()
    source_suffix: tuple[str, ...] = ()
    target_prefix: tuple[str, ...] = ()

    def source(self, pieces: list[str]) -> list[str]:
        return [*self.source_prefix, *pieces, *self.source_suffix]

    def target(self, prefix: list[str] | None) -> list[str] | None:
        """The target prefix given to the model (None: nothing forced)."""
        forced = [*self.target_prefix, *(prefix or [])]
        return forced or None


def check_language_tokens(info: MtModelInfo) -> None:
    """ModelError unless every language of `info.pairs` that its family names by token has one."""
    needed: set[str] = set()
    for source, target in info.pairs:
        if info.kind in ("nllb", "m2m100", "mbart"):
            needed.update((source, target))
        elif info.kind == "t5" or (info.kind == "marian" and info.lang_tokens):
            needed.add(target)
    missing = sorted(needed - info.lang_tokens.keys())
    if missing:
        raise ModelError(
            f"MT model {info.name!r} ({info.kind}) lacks language tokens for {missing}"
        )


def framing(info: MtModelInfo, source: str, target: str, *, source_eos: bool) -> Framing:
    """The framing of a `source` -> `target` request for `info`'s family.

    `source_eos`: append `</s>` to the source (Transformers-converted models expect it;
    CTranslate2 adds it itself only when its config says `add_source_eos`).
    """
    suffix = (EOS,) if source_eos else ()
    tokens = info.lang_tokens
    kind = info.kind
    if kind in ("nllb", "m2m100", "mbart"):
        return Framing((tokens[source],), suffix, (tokens[target],))
    if kind == "t5":
        return Framing((tokens[target],), suffix)
    if kind == "marian" and tokens:
        return Framing((tokens[target],), suffix)
    if kind == "llm":
        return Framing()  # the prompt carries the languages
    return Framing((), suffix)


def output_noise(info: MtModelInfo) -> frozenset[str]:
    """Tokens that may come out of the model but never belong in the text."""
    return frozenset({"<unk>", "<s>", EOS, "<pad>", *info.lang_tokens.values()})
