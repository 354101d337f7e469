"""Real dubbed speech with English reference translations: Fish Fillets NG's dialogue.

Debian `fillets-ng-data-<lang>` has the recordings of one language, `sound/<level>/<lang>/
<id>.ogg` (Ogg Vorbis, 22.05 kHz stereo); `fillets-ng-data` has the scripts,
`script/<level>/dialogs_<lang>.lua`, where each line is

    dialogId("<id>", "<font>", "<English original>")
    dialogStr("<line in <lang>>")

Both packages are downloaded with `apt-get download` and unpacked with `dpkg -x` into
<data>/fillets (Dutch) or <data>/fillets-<lang> (only that language's audio and dialogue
scripts are kept). A clip is a dialogue line with both a text and a recording. Dutch: 1,528
clips, about 91 minutes (the 1,529th file, barrel/nl/bar_v_fotka.ogg, is a second copy of
bar-v-fotka.ogg). Czech (`cs`, the original voice cast): about 98 minutes. A recording named
with '_' where the script has '-' would also be found.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from benchmarks.data.clips import Clip
from benchmarks.data.packages import (
    FetchError,
    apt_download,
    dpkg_extract,
    fetch_once,
    is_complete,
)
from server.models.paths import data_dir

log = logging.getLogger(__name__)

DEB_SCRIPTS = "fillets-ng-data"
_GAME_DIR = Path("usr/share/games/fillets-ng")
_FETCH_NAMES = {"nl": "Dutch", "cs": "Czech"}

_LUA_STR = r'"((?:[^"\\]|\\.)*)"'
_DIALOG = re.compile(
    r"dialogId\(\s*" + _LUA_STR + r"\s*,\s*" + _LUA_STR + r"\s*,\s*" + _LUA_STR + r"\s*\)"
    r"\s*dialogStr\(\s*" + _LUA_STR + r"\s*\)",
    re.DOTALL,
)
_LUA_ESCAPES = {"n": " ", "t": " ", '"': '"', "'": "'", "\\": "\\", "/": "/"}


def _unescape(text: str) -> str:
    out = re.sub(r"\\(.)", lambda m: _LUA_ESCAPES.get(m.group(1), m.group(1)), text)
    return " ".join(out.split())


def parse_dialogs(source: str) -> list[tuple[str, str, str]]:
    """A dialogs_<lang>.lua file -> [(id, English original, translation)], in file order."""
    return [
        (dialog_id, _unescape(english), _unescape(translated))
        for dialog_id, _font, english, translated in _DIALOG.findall(source)
    ]


def fillets_dir(data: Path | None = None, language: str = "nl") -> Path:
    return (data or data_dir()) / ("fillets" if language == "nl" else f"fillets-{language}")


def fetch_dutch(data: Path | None = None) -> Path:
    """Download and unpack the Dutch packages (once); returns <data>/fillets."""
    return fetch_fillets("nl", data)


def fetch_czech(data: Path | None = None) -> Path:
    """Download and unpack the Czech packages (once); returns <data>/fillets-cs."""
    return fetch_fillets("cs", data)


def fetch_fillets(language: str, data: Path | None = None) -> Path:
    """Download and unpack the two Debian packages of `language` (once)."""
    target = fillets_dir(data or data_dir(), language)
    if is_complete(target):
        return target
    deb_audio = f"fillets-ng-data-{language}"
    log.info("fetching Debian %s and %s into %s", deb_audio, DEB_SCRIPTS, target)

    def build(work: Path) -> tuple[Path, dict[str, object]]:
        debs = [apt_download(name, work / "deb") for name in (deb_audio, DEB_SCRIPTS)]
        for deb in debs:
            dpkg_extract(deb, work / "x")
        game = work / "x" / _GAME_DIR
        out = work / "fillets"
        kept = 0
        for script in sorted((game / "script").glob(f"*/dialogs_{language}.lua")):
            level = script.parent.name
            (out / "script" / level).mkdir(parents=True, exist_ok=True)
            shutil.copy2(script, out / "script" / level / script.name)
            audio = game / "sound" / level / language
            if audio.is_dir():
                shutil.copytree(audio, out / "sound" / level / language)
                kept += 1
        if kept == 0:
            raise FetchError(f"no {language} audio found in {', '.join(d.name for d in debs)}")
        return out, {"debs": [d.name for d in debs]}

    return fetch_once(target, build)


def dutch_clips(
    limit: int | None = None, *, fetch: bool = True, data: Path | None = None
) -> list[Clip]:
    """Dutch clips in a fixed order (levels by name, lines in script order), first `limit`.

    Downloads the packages first unless `fetch` is False (then missing data raises FetchError).
    """
    return fillets_clips("nl", limit, fetch=fetch, data=data)


def czech_clips(
    limit: int | None = None, *, fetch: bool = True, data: Path | None = None
) -> list[Clip]:
    """Czech clips, as `dutch_clips` (ids "fillets-cs/<level>/<dialog id>")."""
    return fillets_clips("cs", limit, fetch=fetch, data=data)


def fillets_clips(
    language: str, limit: int | None = None, *, fetch: bool = True, data: Path | None = None
) -> list[Clip]:
    root = data or data_dir()
    folder = fillets_dir(root, language)
    if fetch:
        fetch_fillets(language, root)
    elif not is_complete(folder):
        name = _FETCH_NAMES.get(language, language)
        raise FetchError(f"{name} speech is not fetched; run: python -m benchmarks.data fetch "
                         f"{name.lower()}")
    prefix = "fillets" if language == "nl" else f"fillets-{language}"
    clips: list[Clip] = []
    seen: set[str] = set()
    for script in sorted((folder / "script").glob(f"*/dialogs_{language}.lua")):
        level = script.parent.name
        sound = folder / "sound" / level / language
        for dialog_id, english, spoken in parse_dialogs(script.read_text("utf-8")):
            if not spoken or not english:
                continue
            clip_id = f"{prefix}/{level}/{dialog_id}"
            path = _recording(sound, dialog_id)
            if path is None or clip_id in seen:
                continue
            seen.add(clip_id)
            clips.append(
                Clip(id=clip_id, path=path, text=spoken, language=language,
                     translation_en=english)
            )
            if limit is not None and len(clips) >= limit:
                return clips
    return clips


def _recording(sound: Path, dialog_id: str) -> Path | None:
    for name in (dialog_id, dialog_id.replace("-", "_")):
        path = sound / f"{name}.ogg"
        if path.is_file():
            return path
    return None
