"""Real read speech with transcripts: Asterisk's core voice prompts (CC-BY-SA-3.0).

Per language two Debian packages, fetched with `apt-get download` and unpacked with `dpkg -x`:
`asterisk-core-sounds-<lang>-g722` has the recordings (G.722, 16 kHz, one file per prompt,
`usr/share/asterisk/sounds/<voice>/<id>.g722`, some ids in subfolders such as `digits/1`) and
`asterisk-core-sounds-<lang>` the transcripts (`usr/share/doc/asterisk-core-sounds-<lang>/
core-sounds-<lang>.txt.gz`, lines `<id>: <text>`, `;` comments, `[...]` notes). Only the
recordings and the transcript file are kept, in <data>/asterisk/<lang>.

The voices: English `en_US_f_Allison`, Spanish `es_MX_f_Allison` (the same speaker), French
`fr_CA_f_June`. Most ids are shared between languages, which gives Spanish and French speech
an English reference translation (the English prompt with the same id).

Reference text: notes in brackets are not speech and are dropped; in English, the keypad signs
are written as the voice says them ("*" -> "star", "#" -> "pound"), so that a recognizer that
writes the word is not charged for it.
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
from pathlib import Path
from typing import Literal

from benchmarks.data.clips import Clip
from benchmarks.data.packages import FetchError, apt_download, dpkg_extract, fetch_once, is_complete
from server.models.paths import data_dir

log = logging.getLogger(__name__)

AsteriskLanguage = Literal["en", "es", "fr"]
VOICES: dict[str, str] = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}
_NOTE = re.compile(r"\[[^\]]*\]")
_KEYPAD_EN = (("*", " star "), ("#", " pound "))


def parse_core_sounds(text: str) -> dict[str, str]:
    """`<id>: <text>` lines -> {id: text} without `[...]` notes; comments and notes-only out."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";") or ":" not in line:
            continue
        prompt_id, _, spoken = line.partition(":")
        spoken = " ".join(_NOTE.sub(" ", spoken).split())
        if prompt_id.strip() and spoken:
            out[prompt_id.strip()] = spoken
    return out


def spoken_text(text: str, language: str) -> str:
    """The reference as spoken: English keypad signs as words (see the module docstring)."""
    if language == "en":
        for sign, word in _KEYPAD_EN:
            text = text.replace(sign, word)
    return " ".join(text.split())


def asterisk_dir(language: str, data: Path | None = None) -> Path:
    return (data or data_dir()) / "asterisk" / language


def _transcript_name(language: str) -> str:
    return f"core-sounds-{language}.txt"


def fetch_asterisk(language: AsteriskLanguage, data: Path | None = None) -> Path:
    """Download and unpack the prompts of `language` (once); returns <data>/asterisk/<lang>."""
    if language not in VOICES:
        raise ValueError(f"no Asterisk prompts for {language!r}; have {', '.join(VOICES)}")
    target = asterisk_dir(language, data or data_dir())
    if is_complete(target):
        return target
    names = (f"asterisk-core-sounds-{language}-g722", f"asterisk-core-sounds-{language}")
    log.info("fetching Debian %s into %s", " and ".join(names), target)

    def build(work: Path) -> tuple[Path, dict[str, object]]:
        debs = [apt_download(name, work / "deb") for name in names]
        for deb in debs:
            dpkg_extract(deb, work / "x")
        sounds = work / "x" / "usr/share/asterisk/sounds" / VOICES[language]
        doc = work / "x" / f"usr/share/doc/asterisk-core-sounds-{language}"
        text_gz = doc / f"{_transcript_name(language)}.gz"
        if not sounds.is_dir() or not text_gz.is_file():
            raise FetchError(f"{', '.join(d.name for d in debs)} lack {sounds.name} or "
                             f"{text_gz.name}")
        out = work / "asterisk"
        out.mkdir()
        shutil.copytree(sounds, out / "sounds")
        with gzip.open(text_gz, "rt", encoding="utf-8", errors="replace") as fh:
            (out / _transcript_name(language)).write_text(fh.read(), "utf-8")
        return out, {"debs": [d.name for d in debs]}

    return fetch_once(target, build)


def prompt_texts(language: str, data: Path | None = None) -> dict[str, str]:
    """{id: transcript} of a fetched language (as the file has them, notes dropped)."""
    path = asterisk_dir(language, data) / _transcript_name(language)
    return parse_core_sounds(path.read_text("utf-8"))


def asterisk_clips(
    language: AsteriskLanguage = "en",
    min_words: int = 1,
    *,
    fetch: bool = True,
    data: Path | None = None,
) -> list[Clip]:
    """Prompts of `language` with a recording and at least `min_words` words, in id order.

    `translation_en` is the English prompt with the same id (Spanish and French; fetches the
    English transcripts too), None for English. Downloads what is missing unless `fetch` is
    False (then missing data raises FetchError).
    """
    root = data or data_dir()
    folder = asterisk_dir(language, root)
    needed: list[AsteriskLanguage] = [language] if language == "en" else [language, "en"]
    for lang in needed:
        if fetch:
            fetch_asterisk(lang, root)
        elif not is_complete(asterisk_dir(lang, root)):
            raise FetchError(f"Asterisk {lang} prompts are not fetched; run: "
                             f"python -m benchmarks.data fetch asterisk-{lang}")
    english = prompt_texts("en", root) if language != "en" else {}
    clips: list[Clip] = []
    for prompt_id, raw in sorted(prompt_texts(language, root).items()):
        text = spoken_text(raw, language)
        path = folder / "sounds" / f"{prompt_id}.g722"
        if len(text.split()) < min_words or not path.is_file():
            continue
        translation = english.get(prompt_id) if language != "en" else None
        if language != "en" and translation is None:
            continue
        clips.append(Clip(
            id=f"asterisk-{language}/{prompt_id}",
            path=path,
            text=text,
            language=language,
            translation_en=spoken_text(translation, "en") if translation else None,
        ))
    return clips
