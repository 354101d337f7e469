"""parley-model.json: round trip, validation, the cheap and the deep check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.errors import ModelError
from server.models.manifest import (
    MANIFEST_NAME,
    Manifest,
    load_valid,
    problems,
    read_manifest,
    scan_files,
    write_manifest,
)


def _model(root: Path) -> Manifest:
    (root / "model").mkdir(parents=True)
    (root / "model" / "model.bin").write_bytes(b"0123456789")
    (root / "sp.model").write_bytes(b"sp")
    manifest = Manifest(
        name="x",
        kind="mt",
        languages=("nl", "en"),
        files=scan_files(root),
        pairs=(("nl", "en"),),
        mt_kind="marian",
        model_subdir="model",
        sp_source="sp.model",
        sp_target="sp.model",
        lang_tokens={"nl": "__nl__"},
        source={"archive": "x.zip"},
    )
    write_manifest(root, manifest)
    return manifest


def test_round_trip(tmp_path: Path) -> None:
    manifest = _model(tmp_path)
    assert read_manifest(tmp_path) == manifest
    assert set(manifest.files) == {"model/model.bin", "sp.model"}  # not the manifest itself
    assert manifest.size == 12
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert data["format"] == 1 and data["kind"] == "mt" and data["pairs"] == [["nl", "en"]]
    assert not list(tmp_path.glob("*.tmp"))


def test_problems_shallow_and_deep(tmp_path: Path) -> None:
    manifest = _model(tmp_path)
    assert problems(tmp_path, manifest) == []
    (tmp_path / "model" / "model.bin").write_bytes(b"9876543210")  # same size
    assert problems(tmp_path, manifest) == []
    assert problems(tmp_path, manifest, deep=True) == ["model/model.bin: sha256 mismatch"]
    assert load_valid(tmp_path) is not None and load_valid(tmp_path, deep=True) is None
    (tmp_path / "sp.model").unlink()
    assert "sp.model: missing" in problems(tmp_path, manifest)
    (tmp_path / "model" / "model.bin").write_bytes(b"short")
    assert "model/model.bin: size 5, expected 10" in problems(tmp_path, manifest)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "not a JSON object"),
        ('{"format": 2}', "unsupported format 2"),
        ('{"format": 1, "kind": "tts"}', "bad kind 'tts'"),
        ('{"format": 1, "kind": "mt", "mt_kind": "bert"}', "bad mt_kind 'bert'"),
        ('{"format": 1, "kind": "asr", "name": "x"}', "'files'"),
        ("{not json", "invalid model manifest"),
    ],
)
def test_malformed_manifests(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(ModelError, match="invalid model manifest") as err:
        read_manifest(tmp_path)
    assert message in err.value.message
    assert load_valid(tmp_path) is None


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no parley-model.json"):
        read_manifest(tmp_path)
