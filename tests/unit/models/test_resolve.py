"""resolve_asr / resolve_mt on fake model directories: kinds, languages, pairs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.errors import ModelError
from server.models import resolve as resolve_mod
from server.models.manifest import Manifest, scan_files, write_manifest
from server.models.resolve import resolve_asr, resolve_mt
from tests.unit.models.fakes import (
    argos_package,
    argos_zip_bytes,
    ct2_mt_dir,
    marian_dir,
    whisper_dir,
)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


# ------------------------------------------------------------------ known names and the cache


def test_known_model_not_cached_says_how_to_pull(models: Path) -> None:
    with pytest.raises(ModelError) as err:
        resolve_asr("tiny.en", models_dir=models)
    assert err.value.message == (
        f"model 'tiny.en' is not in the cache ({models}); run: parley models pull tiny.en"
    )
    assert err.value.code == "model_error"


def test_known_mt_model_not_cached(models: Path) -> None:
    with pytest.raises(ModelError, match=r"run: parley models pull zh-en"):
        resolve_mt("zh-en", models_dir=models)


def test_known_model_of_the_other_kind_is_refused(models: Path) -> None:
    with pytest.raises(ModelError, match="is a translation model, not a speech recognition"):
        resolve_asr("zh-en", models_dir=models)
    with pytest.raises(ModelError, match="is a speech recognition model, not a translation"):
        resolve_mt("base", models_dir=models)


def test_unavailable_known_model_says_why(models: Path) -> None:
    with pytest.raises(ModelError, match="not available.*Systran/faster-whisper-small"):
        resolve_asr("small", models_dir=models)


def _cache_asr(models: Path, name: str, *, multilingual: bool) -> Path:
    root = whisper_dir(models / name, multilingual=multilingual)
    write_manifest(
        root,
        Manifest(
            name=name,
            kind="asr",
            languages=("en", "nl", "zh") if multilingual else ("en",),
            files=scan_files(root),
            multilingual=multilingual,
        ),
    )
    return root


def test_cached_known_model_comes_from_its_manifest(models: Path) -> None:
    root = _cache_asr(models, "base", multilingual=True)
    info = resolve_asr("base", models_dir=models)
    assert info.path == root
    assert info.multilingual and info.can_translate_to_english
    assert info.languages == ("en", "nl", "zh")


def test_damaged_cached_model_asks_for_force_pull(models: Path) -> None:
    root = _cache_asr(models, "tiny.en", multilingual=False)
    (root / "model.bin").write_bytes(b"truncated?")
    with pytest.raises(
        ModelError, match=r"incomplete or damaged.*model\.bin.*pull --force tiny\.en"
    ):
        resolve_asr("tiny.en", models_dir=models)


def test_other_cached_model_by_directory_name(models: Path) -> None:
    root = argos_package(models / "argos-0123456789abcdef", "fr", "en")
    write_manifest(
        root,
        Manifest(
            name="argos-0123456789abcdef",
            kind="mt",
            languages=("fr", "en"),
            files=scan_files(root),
            pairs=(("fr", "en"),),
            mt_kind="argos",
            model_subdir="model",
            sp_source="sentencepiece.model",
            sp_target="sentencepiece.model",
        ),
    )
    info = resolve_mt("argos-0123456789abcdef", models_dir=models)
    assert info.kind == "argos" and info.pairs == (("fr", "en"),)
    assert info.path == root / "model"


def test_unknown_name_lists_what_it_tried(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_hub(repo: str) -> Path:
        raise AssertionError("a plain name must not go to the hub")

    monkeypatch.setattr(resolve_mod, "_hub_download", no_hub)
    with pytest.raises(ModelError, match=r"unknown speech recognition model 'huge'.*tiny\.en"):
        resolve_asr("huge", models_dir=models)
    with pytest.raises(ModelError, match=r"unknown translation model 'xx-yy'.*zh-en"):
        resolve_mt("xx-yy", models_dir=models)


def test_empty_spec(models: Path) -> None:
    with pytest.raises(ModelError, match="empty"):
        resolve_asr("  ", models_dir=models)


# ------------------------------------------------------------------ ASR directories


@pytest.mark.parametrize("vocab_file", ["vocabulary.json", "vocabulary.txt", "tokenizer.json"])
def test_asr_dir_multilingual_from_vocabulary(
    tmp_path: Path, models: Path, vocab_file: str
) -> None:
    root = whisper_dir(tmp_path / "m", multilingual=True, vocab_file=vocab_file)
    info = resolve_asr(str(root), models_dir=models)
    assert info.multilingual
    assert info.languages == ("en", "nl", "zh")
    assert info.path == root.resolve()
    assert info.name == str(root)


@pytest.mark.parametrize("vocab_file", ["vocabulary.json", "vocabulary.txt", "tokenizer.json"])
def test_asr_dir_english_only(tmp_path: Path, models: Path, vocab_file: str) -> None:
    root = whisper_dir(tmp_path / "m", multilingual=False, vocab_file=vocab_file)
    info = resolve_asr(str(root), models_dir=models)
    assert not info.multilingual and not info.can_translate_to_english
    assert info.languages == ("en",)


def test_asr_dir_explicit_is_multilingual_wins(tmp_path: Path, models: Path) -> None:
    root = whisper_dir(tmp_path / "m", multilingual=False)
    cfg = json.loads((root / "config.json").read_text())
    cfg["is_multilingual"] = True
    (root / "config.json").write_text(json.dumps(cfg))
    assert resolve_asr(str(root), models_dir=models).multilingual


def test_asr_dir_without_lang_ids_lists_whispers_99(tmp_path: Path, models: Path) -> None:
    root = whisper_dir(tmp_path / "m", multilingual=True)
    (root / "config.json").write_text("{}")
    info = resolve_asr(str(root), models_dir=models)
    assert len(info.languages) == 99
    assert "yue" not in info.languages and {"en", "nl", "zh", "de"} <= set(info.languages)


def test_asr_dir_missing_files(tmp_path: Path, models: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(ModelError, match="not a faster-whisper.*missing model.bin, config.json"):
        resolve_asr(str(root), models_dir=models)


def test_asr_spec_that_is_a_file(tmp_path: Path, models: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_asr(str(f), models_dir=models)


def test_hub_repo_error_is_clear_when_offline(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faster_whisper.utils

    calls: list[str] = []

    def offline(repo_id: str, *args: object, **kwargs: object) -> str:
        calls.append(repo_id)
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(faster_whisper.utils, "download_model", offline)
    with pytest.raises(ModelError, match=r"Hugging Face hub.*offline"):
        resolve_asr("Systran/faster-whisper-small", models_dir=models)
    assert calls == ["Systran/faster-whisper-small"]


# ------------------------------------------------------------------ MT directories


def test_argos_dir_and_nested_dir(tmp_path: Path, models: Path) -> None:
    root = argos_package(tmp_path / "translate-de_en-1_0")
    info = resolve_mt(str(root), models_dir=models)
    assert info.kind == "argos"
    assert info.pairs == (("de", "en"),)
    assert info.path == root.resolve() / "model"
    assert info.sp_source == info.sp_target == root.resolve() / "sentencepiece.model"
    assert not info.needs_target_prefix
    # An unpacked .argosmodel: the package is the only folder inside.
    outer = tmp_path / "outer"
    argos_package(outer / "translate-fr_en-1_0", "fr", "en")
    assert resolve_mt(str(outer), models_dir=models).pairs == (("fr", "en"),)


def test_argos_hint_must_agree_with_metadata(tmp_path: Path, models: Path) -> None:
    root = argos_package(tmp_path / "pkg", "de", "en")
    assert resolve_mt(f"{root}#de-en", models_dir=models).covers("de", "en")
    with pytest.raises(
        ModelError, match="translates de->en, not en-de|translates de->en, not en->de"
    ):
        resolve_mt(f"{root}#en-de", models_dir=models)


def test_argosmodel_file_is_unpacked_into_the_cache_once(tmp_path: Path, models: Path) -> None:
    archive = tmp_path / "translate-de_en.argosmodel"
    archive.write_bytes(argos_zip_bytes("de", "en"))
    info = resolve_mt(str(archive), models_dir=models)
    assert info.kind == "argos" and info.pairs == (("de", "en"),)
    assert info.name == "translate-de_en.argosmodel"
    cached = [p for p in models.iterdir() if p.name.startswith("argos-")]
    assert len(cached) == 1 and info.path == cached[0] / "model"
    assert (cached[0] / "parley-model.json").is_file()
    mtime = (cached[0] / "parley-model.json").stat().st_mtime_ns
    again = resolve_mt(str(archive), models_dir=models)
    assert again.path == info.path
    assert (cached[0] / "parley-model.json").stat().st_mtime_ns == mtime
    assert not [p for p in models.iterdir() if p.name.startswith(".import")]


def test_broken_argosmodel_file(tmp_path: Path, models: Path) -> None:
    archive = tmp_path / "bad.argosmodel"
    archive.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a zip"):
        resolve_mt(str(archive), models_dir=models)


def test_marian_pairs_from_directory_name(tmp_path: Path, models: Path) -> None:
    root = marian_dir(tmp_path / "opus-mt-de-en")
    info = resolve_mt(str(root), models_dir=models)
    assert info.kind == "marian" and info.pairs == (("de", "en"),)
    assert info.sp_source.name == "source.spm" and info.sp_target.name == "target.spm"
    big = marian_dir(tmp_path / "Helsinki-NLP--opus-mt-tc-big-en-fr-ct2")
    assert resolve_mt(str(big), models_dir=models).pairs == (("en", "fr"),)


def test_marian_pairs_from_manifest(tmp_path: Path, models: Path) -> None:
    root = marian_dir(tmp_path / "my-model")
    (root / "parley-model.json").write_text(json.dumps({"pairs": [["nl", "en"]]}))
    assert resolve_mt(str(root), models_dir=models).pairs == (("nl", "en"),)


def test_marian_without_pair_needs_a_hint(tmp_path: Path, models: Path) -> None:
    root = marian_dir(tmp_path / "my-model")
    with pytest.raises(ModelError, match=r"cannot tell the language pair.*#de-en"):
        resolve_mt(str(root), models_dir=models)
    info = resolve_mt(f"{root}#nl-en", models_dir=models)
    assert info.pairs == (("nl", "en"),) and info.kind == "marian"


def test_nllb_dir(tmp_path: Path, models: Path) -> None:
    vocab = ["<s>", "</s>", "eng_Latn", "fra_Latn", "deu_Latn", "zzz_Xxxx", "▁the"]
    root = ct2_mt_dir(tmp_path / "nllb", vocab, "sentencepiece.bpe.model")
    info = resolve_mt(str(root), models_dir=models)
    assert info.kind == "nllb" and info.needs_target_prefix
    assert info.lang_tokens == {"en": "eng_Latn", "fr": "fra_Latn", "de": "deu_Latn"}
    assert len(info.pairs) == 6 and info.covers("fr", "de")
    assert info.sp_source.name == "sentencepiece.bpe.model"
    narrowed = resolve_mt(f"{root}#en-fr,en-de", models_dir=models)
    assert narrowed.pairs == (("en", "fr"), ("en", "de"))
    with pytest.raises(ModelError, match="no language token for nl"):
        resolve_mt(f"{root}#en-nl", models_dir=models)


def test_m2m100_dir(tmp_path: Path, models: Path) -> None:
    vocab = ["<s>", "__en__", "__fr__", "__zh__", "▁a"]
    root = ct2_mt_dir(tmp_path / "m2m", vocab, "sentencepiece.bpe.model", vocab_format="txt")
    info = resolve_mt(str(root), models_dir=models)
    assert info.kind == "m2m100"
    assert info.lang_tokens == {"en": "__en__", "fr": "__fr__", "zh": "__zh__"}
    assert info.covers("zh", "en") and not info.covers("en", "en")


def test_unknown_mt_layout(tmp_path: Path, models: Path) -> None:
    root = ct2_mt_dir(tmp_path / "mystery", ["<s>", "a"], "spm.model")
    with pytest.raises(ModelError, match="unknown translation model layout"):
        resolve_mt(str(root), models_dir=models)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="not a translation model"):
        resolve_mt(str(empty), models_dir=models)


def test_bad_pair_hint_is_part_of_the_path(tmp_path: Path, models: Path) -> None:
    # "#notapair" is not a hint, so the whole spec is taken as a (missing) path.
    with pytest.raises(ModelError, match="unknown translation model"):
        resolve_mt(f"{tmp_path}/x#notapair", models_dir=models)
