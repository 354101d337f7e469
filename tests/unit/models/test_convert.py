"""`parley models convert` without a model: family detection, languages, names, and the
offline failure (fast, with advice), all without torch or the network."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest

from server.errors import ModelError
from server.models.checkpoint import (
    LLM_LANGUAGES,
    describe_languages,
    family_of,
    marian_name_pairs,
    tokenizer_files,
)
from server.models.cli import add_models_parser, run_models
from server.models.convert import (
    ConvertOptions,
    check_name,
    convert,
    default_name,
    is_checkpoint_dir,
)
from server.models.resolve import resolve_mt


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parley")
    add_models_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("config", "tokenizer_config", "kind"),
    [
        ({"model_type": "marian"}, {}, "marian"),
        ({"model_type": "m2m_100"}, {"tokenizer_class": "M2M100Tokenizer"}, "m2m100"),
        ({"model_type": "m2m_100"}, {"tokenizer_class": "NllbTokenizerFast"}, "nllb"),
        ({"model_type": "m2m_100", "tokenizer_class": "NllbTokenizer"}, {}, "nllb"),
        ({"model_type": "mbart"}, {}, "mbart"),
        ({"model_type": "t5"}, {}, "t5"),
        ({"model_type": "mt5"}, {}, "t5"),
        ({"model_type": "qwen2"}, {}, "llm"),
        ({"model_type": "gemma3_text"}, {}, "llm"),
        ({"model_type": "llama"}, {}, "llm"),  # EuroLLM, Tower
        ({"model_type": "newthing", "architectures": ["NewThingForCausalLM"]}, {}, "llm"),
    ],
)
def test_family_of(config: dict[str, object], tokenizer_config: dict[str, object],
                   kind: str) -> None:
    family = family_of(config, tokenizer_config)
    assert family.kind == kind and family.architecture == config["model_type"]


def test_unknown_family_names_what_is_supported() -> None:
    with pytest.raises(ModelError, match="unsupported model type 'bert'.*NLLB-200"):
        family_of({"model_type": "bert", "architectures": ["BertModel"]}, {})


def test_marian_pairs_from_name_or_tokens() -> None:
    assert marian_name_pairs("Helsinki-NLP/opus-mt-en-de", {}) == (("en", "de"),)
    assert marian_name_pairs("/x/opus-mt-tc-big-en-fr/", {}) == (("en", "fr"),)
    multi = {"fr": ">>fra<<", "es": ">>spa<<", "it": ">>ita<<"}
    assert marian_name_pairs("opus-mt-en-ROMANCE", multi) == (
        ("en", "es"), ("en", "fr"), ("en", "it"))
    assert marian_name_pairs("my-model", {}) is None


def test_describe_languages_per_family() -> None:
    vocab = ["<s>", "▁a", "eng_Latn", "deu_Latn", "fra_Latn"]
    pairs, tokens = describe_languages("nllb", "nllb", vocab, None)
    assert tokens == {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn"}
    assert ("en", "de") in pairs and ("de", "fr") in pairs and len(pairs) == 6
    pairs, _ = describe_languages("nllb", "nllb", vocab, (("en", "de"),))
    assert pairs == (("en", "de"),)
    with pytest.raises(ModelError, match="no language token for ja"):
        describe_languages("nllb", "nllb", vocab, (("en", "ja"),))
    # MADLAD names only the target; any source is fine.
    pairs, tokens = describe_languages("t5", "madlad", ["<2de>", "<2en>"], (("xx", "de"),))
    assert pairs == (("xx", "de"),) and tokens == {"de": "<2de>", "en": "<2en>"}
    with pytest.raises(ModelError, match="no t5 language tokens"):
        describe_languages("t5", "plain-t5", ["▁a"], None)
    _, tokens = describe_languages("mbart", "m", ["de_DE", "en_XX", "▁x"], None)
    assert tokens == {"de": "de_DE", "en": "en_XX"}
    _, tokens = describe_languages("m2m100", "m", ["__de__", "__en__"], None)
    assert tokens == {"de": "__de__", "en": "__en__"}
    pairs, tokens = describe_languages("llm", "qwen", ["a"], None)
    assert tokens == {} and len(pairs) == len(LLM_LANGUAGES) * (len(LLM_LANGUAGES) - 1)
    with pytest.raises(ModelError, match="--pair"):
        describe_languages("marian", "my-marian", ["▁a"], None)


def test_tokenizer_files_keep_sentencepiece(tmp_path: Path) -> None:
    from server.models.checkpoint import Family

    (tmp_path / "source.spm").write_bytes(b"x")
    (tmp_path / "target.spm").write_bytes(b"x")
    (tmp_path / "spiece.model").write_bytes(b"x")
    assert tokenizer_files(tmp_path, Family("marian", "marian"))["sp_target"] == "target.spm"
    assert tokenizer_files(tmp_path, Family("t5", "t5"))["sp_source"] == "spiece.model"
    llm = tokenizer_files(tmp_path, Family("llm", "qwen2"))
    assert llm == {"sp_source": None, "sp_target": None, "tokenizer": "tokenizer.json"}


def test_names(tmp_path: Path) -> None:
    assert default_name("Helsinki-NLP/opus-mt-en-de") == "opus-mt-en-de"
    folder = tmp_path / "my-ckpt"
    folder.mkdir()
    assert default_name(str(folder)) == "my-ckpt"
    assert default_name(str(tmp_path / "gemma.gguf")) == "gemma"
    with pytest.raises(ModelError, match="packaged model"):
        check_name("zh-en")
    with pytest.raises(ModelError, match="bad model name"):
        check_name("../x")
    assert not is_checkpoint_dir(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "marian"}))
    assert is_checkpoint_dir(folder)


@pytest.mark.parametrize(
    "env",
    [{"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9"}],
    ids=["HF_HUB_OFFLINE", "unreachable-endpoint"],
)
def test_offline_repo_id_fails_at_once_with_advice(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    started = time.monotonic()
    with pytest.raises(ModelError) as info:
        convert("Helsinki-NLP/opus-mt-en-de", ConvertOptions(), models_dir=tmp_path)
    assert time.monotonic() - started < 5
    message = info.value.message
    assert "cannot be reached" in message and "parley models convert FOLDER" in message
    assert "On a machine with internet run `parley models convert Helsinki-NLP/opus-mt-en-de`" \
        in message
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".locks")]
    # The CLI says the same and exits 1; `--mt-model ORG/NAME` fails the same way.
    argv = ("models", "--models-dir", str(tmp_path), "convert", "Helsinki-NLP/opus-mt-en-de")
    assert run_models(_parse(*argv)) == 1
    assert "cannot be reached" in capsys.readouterr().err
    with pytest.raises(ModelError, match="cannot be reached"):
        resolve_mt("Helsinki-NLP/opus-mt-en-de", models_dir=tmp_path)


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a Hugging Face repo id"):
        convert(str(tmp_path / "nope"), models_dir=tmp_path / "m")
    with pytest.raises(ModelError, match="not a Transformers checkpoint"):
        convert(str(tmp_path), ConvertOptions(name="x"), models_dir=tmp_path / "m")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ModelError, match="not a .gguf file"):
        convert(str(tmp_path / "f.txt"), models_dir=tmp_path / "m")


def test_cli_parses_convert() -> None:
    args = _parse("models", "convert", "facebook/nllb-200-distilled-600M", "--pair",
                  "en-de,en-fr", "--name", "nllb", "--quantization", "int8_float16", "--force")
    assert args.models_command == "convert" and args.source.startswith("facebook/")
    assert args.pair == "en-de,en-fr" and args.name == "nllb" and args.force
    assert args.quantization == "int8_float16"
    assert _parse("models", "convert", "x").quantization == "int8"
