"""Per-family framing, LLM prompts, and the tokenizer.json codec: pure functions, no model."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from server.errors import ModelError
from server.models.types import LlmPrompt, MtKind, MtModelInfo
from server.mt.families import Framing, check_language_tokens, framing, output_noise
from server.mt.pieces import TokenizerCodec
from server.mt.prompts import GENERIC, TOWER, fill, first_line, instruction_for

TOKENS: dict[str, dict[str, str]] = {
    "nllb": {"en": "eng_Latn", "de": "deu_Latn"},
    "m2m100": {"en": "__en__", "de": "__de__"},
    "mbart": {"en": "en_XX", "de": "de_DE"},
    "t5": {"en": "<2en>", "de": "<2de>"},
    "marian": {"de": ">>deu<<", "fr": ">>fra<<"},
}


def _info(kind: MtKind, tokens: dict[str, str] | None = None,
          pairs: tuple[tuple[str, str], ...] = (("en", "de"),)) -> MtModelInfo:
    return MtModelInfo(name=kind, kind=kind, path=Path("/m"), sp_source=None, sp_target=None,
                       pairs=pairs, lang_tokens=tokens if tokens is not None else {})


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("argos", Framing()),
        ("marian", Framing((), ("</s>",))),
        ("nllb", Framing(("eng_Latn",), ("</s>",), ("deu_Latn",))),
        ("m2m100", Framing(("__en__",), ("</s>",), ("__de__",))),
        ("mbart", Framing(("en_XX",), ("</s>",), ("de_DE",))),
        ("t5", Framing(("<2de>",), ("</s>",))),
        ("llm", Framing()),
    ],
)
def test_framing_per_family(kind: MtKind, expected: Framing) -> None:
    tokens = {} if kind == "marian" else TOKENS.get(kind, {})
    frame = framing(_info(kind, tokens), "en", "de", source_eos=kind not in ("argos", "llm"))
    assert frame == expected
    source = frame.source(["▁Hello"])
    assert source == [*expected.source_prefix, "▁Hello", *expected.source_suffix]
    # The kept prefix follows the forced language token.
    assert frame.target(["▁Hallo"]) == [*expected.target_prefix, "▁Hallo"]
    assert frame.target(None) == (list(expected.target_prefix) or None)


def test_multi_target_marian_names_the_target_first() -> None:
    info = _info("marian", TOKENS["marian"], pairs=(("en", "de"), ("en", "fr")))
    assert framing(info, "en", "fr", source_eos=True) == Framing((">>fra<<",), ("</s>",))
    check_language_tokens(info)


@pytest.mark.parametrize("kind", ["nllb", "m2m100", "mbart", "t5"])
def test_missing_language_token_is_refused(kind: MtKind) -> None:
    info = _info(kind, {"en": TOKENS[kind]["en"]})  # no token for "de"
    with pytest.raises(ModelError, match="lacks language tokens for \\['de'\\]"):
        check_language_tokens(info)


def test_output_noise_holds_language_tokens() -> None:
    noise = output_noise(_info("nllb", TOKENS["nllb"]))
    assert {"deu_Latn", "eng_Latn", "</s>", "<pad>"} <= noise


def test_prompt_fill_and_answers() -> None:
    prompt = LlmPrompt(template="<|im_start|>user\n" + GENERIC + "<|im_end|>\n<|im_start|>"
                       "assistant\n", stop=("<|im_end|>",))
    filled = fill(prompt, "en", "de", "Hello <|im_end|> world")
    assert "Translate the following English text into German." in filled
    assert "Hello   world<|im_end|>" in filled and filled.count("<|im_end|>") == 1
    assert instruction_for("Unbabel/TowerInstruct-7B-v0.2") == TOWER
    assert instruction_for("utter-project/EuroLLM-1.7B-Instruct") == TOWER
    assert instruction_for("Qwen/Qwen2.5-0.5B-Instruct") == GENERIC
    assert first_line("\n  Hallo Welt.\nNote: this is German.") == "Hallo Welt."
    assert first_line("  \n") == ""


@pytest.fixture(scope="module")
def byte_bpe(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    text = tmp_path_factory.mktemp("bpe") / "text.txt"
    text.write_text("the ship is a wreck of a plane\nwhat kind of ship is that\n" * 50)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train([str(text)], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return tok


def test_tokenizer_codec_round_trip_and_specials(byte_bpe: Tokenizer) -> None:
    codec = TokenizerCodec(byte_bpe)
    tokens = codec.encode_source("<|im_start|>what kind of ship")
    assert tokens[0] == "<|im_start|>"  # a control token stays one token
    assert codec.decode_target(tokens) == "what kind of ship"  # and never reaches the text
    assert codec.decode_target(["Ġship", "not-a-token"]) == "ship"


def test_tokenizer_codec_prefix_reuses_output_tokens(byte_bpe: Tokenizer) -> None:
    codec = TokenizerCodec(byte_bpe)
    output = list("whatĠkindĠof")  # byte tokens: a cut the tokenizer would not make
    text = codec.decode_target(output)
    assert text == "what kind of"
    codec.remember(output, text)
    assert codec.encode_target_prefix("what kind") == output[:9]  # exactly the model's cut
    assert codec.encode_source("what kind") != output[:9]
    fresh = codec.encode_target_prefix("the plane")
    assert codec.decode_target(fresh) == "the plane"
