"""Real Dutch speech with English reference translations: Fish Fillets NG's dubbed dialogue.

Debian `fillets-ng-data-nl` has the Dutch recordings, `sound/<level>/nl/<id>.ogg` (Ogg Vorbis,
22.05 kHz stereo); `fillets-ng-data` has the scripts, `script/<level>/dialogs_nl.lua`, where
each line is

    dialogId("<id>", "<font>", "<English original>")
    dialogStr("<Dutch>")

Both packages are downloaded with `apt-get download` and unpacked with `dpkg -x` into
<data>/fillets (only the Dutch audio and the dialogue scripts are kept). A clip is a dialogue
line with both a Dutch text and a recording: 1,528 clips, about 91 minutes (the 1,529th file,
barrel/nl/bar_v_fotka.ogg, is a second copy of bar-v-fotka.ogg). A recording named with '_'
where the script has '-' would also be found.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path

from benchmarks.data.clips import Clip
from benchmarks.data.packages import FetchError, apt_download, dpkg_extract
from server.models.paths import data_dir

log = logging.getLogger(__name__)

DEB_AUDIO = "fillets-ng-data-nl"
DEB_SCRIPTS = "fillets-ng-data"
_GAME_DIR = Path("usr/share/games/fillets-ng")
_COMPLETE = ".complete"

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


def fillets_dir(data: Path | None = None) -> Path:
    return (data or data_dir()) / "fillets"


def fetch_dutch(data: Path | None = None) -> Path:
    """Download and unpack the two Debian packages (once); returns <data>/fillets."""
    root = data or data_dir()
    target = fillets_dir(root)
    if (target / _COMPLETE).is_file():
        return target
    log.info("fetching Debian %s and %s into %s", DEB_AUDIO, DEB_SCRIPTS, target)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fillets-", dir=root))
    try:
        debs = [apt_download(name, work / "deb") for name in (DEB_AUDIO, DEB_SCRIPTS)]
        for deb in debs:
            dpkg_extract(deb, work / "x")
        game = work / "x" / _GAME_DIR
        out = work / "fillets"
        kept = 0
        for script in sorted((game / "script").glob("*/dialogs_nl.lua")):
            level = script.parent.name
            (out / "script" / level).mkdir(parents=True, exist_ok=True)
            shutil.copy2(script, out / "script" / level / script.name)
            audio = game / "sound" / level / "nl"
            if audio.is_dir():
                shutil.copytree(audio, out / "sound" / level / "nl")
                kept += 1
        if kept == 0:
            raise FetchError(f"no Dutch audio found in {', '.join(d.name for d in debs)}")
        (out / _COMPLETE).write_text(json.dumps({"debs": [d.name for d in debs]}) + "\n", "utf-8")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def dutch_clips(
    limit: int | None = None, *, fetch: bool = True, data: Path | None = None
) -> list[Clip]:
    """Dutch clips in a fixed order (levels by name, lines in script order), first `limit`.

    Downloads the packages first unless `fetch` is False (then missing data raises FetchError).
    """
    root = data or data_dir()
    folder = fillets_dir(root)
    if fetch:
        fetch_dutch(root)
    elif not (folder / _COMPLETE).is_file():
        raise FetchError("Dutch speech is not fetched; run: python -m benchmarks.data fetch dutch")
    clips: list[Clip] = []
    seen: set[str] = set()
    for script in sorted((folder / "script").glob("*/dialogs_nl.lua")):
        level = script.parent.name
        sound = folder / "sound" / level / "nl"
        for dialog_id, english, dutch in parse_dialogs(script.read_text("utf-8")):
            if not dutch or not english:
                continue
            clip_id = f"fillets/{level}/{dialog_id}"
            path = _recording(sound, dialog_id)
            if path is None or clip_id in seen:
                continue
            seen.add(clip_id)
            clips.append(
                Clip(id=clip_id, path=path, text=dutch, language="nl", translation_en=english)
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
