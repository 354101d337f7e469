"""Real acted English speech with subtitles: the freeware game Drascula (Debian `drascula`).

The package has the English voice clips, `usr/share/scummvm/drascula/en/<prefix><n>.ALS`
(raw unsigned 8-bit mono PCM at 11,025 Hz), and `drascula.dat`, ScummVM's data file, whose
text tables hold every line of the game in six languages. The tables start at byte 7251:

    u16 BE  language count (6: en, es, de, fr, it, ru)
    15 x table:
        u16 BE  number of texts
        per language: u16 BE block length, then the block

Inside a block every text is NUL-terminated and text 0 starts at byte 0; text i + 1 starts
`len` bytes after text i, where `len` is the u16 BE just before text i (for text 0 that
field is bytes 2-3 and counts from byte 4, so text 1 starts at byte 4 + len). This is
how ScummVM's own loader walks it (`DrasculaEngine::loadTexts`). English, Spanish, German,
French and Italian are CP850, Russian CP1251.

A clip's file-name prefix picks the table and its number the line: "" (table 0, the
protagonist), D, B, BJ, E, I, L, P, T, VB (tables 1-9). 742 clips have an English line
(6,877 words, 46 min); the other prefixes (F, S) and numbers past a table's end are not
speech with a line. The text is mostly upper case and close to verbatim (subtitles).

Fetching converts each kept clip to a 16-bit WAV at its own 11,025 Hz (lossless: the samples
are shifted, not resampled), so the clip loads like any other file; the tables are kept as
JSON, <data>/drascula/lines.json ({prefix: {language: [line, ...]}}).
"""

from __future__ import annotations

import json
import logging
import re
import struct
import wave
from pathlib import Path

import numpy as np

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

DEB = "drascula"
TEXT_TABLES_OFFSET = 7251
TABLE_COUNT = 15
LANGUAGES = ("en", "es", "de", "fr", "it", "ru")
ENCODINGS = {"ru": "cp1251"}  # the others: cp850
#: Clip-name prefix -> text table (ScummVM's _text, _textd, _textb, ... in load order).
SPEAKER_TABLES: dict[str, int] = {
    "": 0, "D": 1, "B": 2, "BJ": 3, "E": 4, "I": 5, "L": 6, "P": 7, "T": 8, "VB": 9,
}
ALS_RATE = 11025
_GAME_DIR = Path("usr/share/scummvm/drascula")
_CLIP_NAME = re.compile(r"^([A-Z]*)(\d+)\.ALS$")
_LINES = "lines.json"


def parse_text_tables(
    data: bytes, offset: int = TEXT_TABLES_OFFSET, tables: int = TABLE_COUNT
) -> list[list[list[bytes]]]:
    """drascula.dat's text tables -> [table][language][line] (raw bytes, NUL stripped).

    Raises ValueError when a length runs past the data (the offset or the file is wrong).
    """

    def u16(at: int) -> int:
        if at + 2 > len(data):
            raise ValueError(f"drascula.dat ends at {len(data)}, a length was due at {at}")
        value: int = struct.unpack_from(">H", data, at)[0]
        return value

    languages = u16(offset)
    pos = offset + 2
    out: list[list[list[bytes]]] = []
    for _ in range(tables):
        count = u16(pos)
        pos += 2
        per_language: list[list[bytes]] = []
        for _ in range(languages):
            size = u16(pos)
            block = data[pos + 2 : pos + 2 + size]
            if len(block) != size:
                raise ValueError(f"a text block of {size} bytes at {pos + 2} runs past the data")
            pos += 2 + size
            per_language.append(_block_texts(block, count))
        out.append(per_language)
    return out


def _block_texts(block: bytes, count: int) -> list[bytes]:
    texts: list[bytes] = []
    start, cursor = 0, 4  # text 0 at 0; the first length field (bytes 2-3) counts from 4
    for i in range(count):
        if i > 0:
            if cursor < 2 or cursor > len(block):
                raise ValueError(f"text {i} of {count} lies past its block ({len(block)} bytes)")
            start = cursor + struct.unpack_from(">H", block, cursor - 2)[0]
            cursor = start
        end = block.find(b"\0", start)
        if start > len(block) or end < 0:
            raise ValueError(f"text {i} of {count} lies past its block ({len(block)} bytes)")
        texts.append(block[start:end])
    return texts


def decode_text(raw: bytes, language: str) -> str:
    return " ".join(raw.decode(ENCODINGS.get(language, "cp850")).split())


def lines_by_speaker(tables: list[list[list[bytes]]]) -> dict[str, dict[str, list[str]]]:
    """{clip prefix: {language: [line 0, line 1, ...]}} for the speaker tables."""
    return {
        prefix: {
            lang: [decode_text(raw, lang) for raw in tables[index][k]]
            for k, lang in enumerate(LANGUAGES[: len(tables[index])])
        }
        for prefix, index in SPEAKER_TABLES.items()
    }


def clip_line(name: str) -> tuple[str, int] | None:
    """`BJ12.ALS` -> ("BJ", 12); None for a name that is not a speaker's clip."""
    m = _CLIP_NAME.match(name)
    if m is None or m.group(1) not in SPEAKER_TABLES:
        return None
    return m.group(1), int(m.group(2))


def als_to_wav(src: Path, dest: Path) -> None:
    """Raw unsigned 8-bit PCM -> 16-bit WAV at the same rate (sample - 128, times 256)."""
    u8 = np.frombuffer(src.read_bytes(), dtype=np.uint8)
    pcm = ((u8.astype(np.int16) - 128) * 256).astype("<i2")
    with wave.open(str(dest), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(ALS_RATE)
        wf.writeframes(pcm.tobytes())


def drascula_dir(data: Path | None = None) -> Path:
    return (data or data_dir()) / "drascula"


def fetch_drascula(data: Path | None = None) -> Path:
    """Download and unpack `drascula` (once): WAVs of the English clips and lines.json."""
    target = drascula_dir(data)
    if is_complete(target):
        return target
    log.info("fetching Debian %s into %s", DEB, target)

    def build(work: Path) -> tuple[Path, dict[str, object]]:
        deb = apt_download(DEB, work / "deb")
        dpkg_extract(deb, work / "x")
        game = work / "x" / _GAME_DIR / "en"
        dat = game / "drascula.dat"
        if not dat.is_file():
            raise FetchError(f"{deb.name} has no {_GAME_DIR}/en/drascula.dat")
        try:
            lines = lines_by_speaker(parse_text_tables(dat.read_bytes()))
        except (ValueError, IndexError, struct.error) as exc:
            raise FetchError(f"cannot read the text tables of {dat.name}: {exc}") from exc
        out = work / "drascula"
        (out / "en").mkdir(parents=True)
        for als in sorted(game.glob("*.ALS")):
            if clip_line(als.name) is not None:
                als_to_wav(als, out / "en" / f"{als.stem}.wav")
        (out / _LINES).write_text(json.dumps(lines, ensure_ascii=False, indent=0) + "\n", "utf-8")
        return out, {"deb": deb.name}

    return fetch_once(target, build)


def drascula_clips(*, fetch: bool = True, data: Path | None = None) -> list[Clip]:
    """English clips with an English line, ordered by table then line number.

    `translation_en` is None (the speech is English). Downloads the package first unless
    `fetch` is False (then missing data raises FetchError).
    """
    root = data or data_dir()
    folder = drascula_dir(root)
    if fetch:
        fetch_drascula(root)
    elif not is_complete(folder):
        raise FetchError("Drascula is not fetched; run: python -m benchmarks.data fetch drascula-en")
    lines = json.loads((folder / _LINES).read_text("utf-8"))
    found: list[tuple[int, int, Clip]] = []
    for wav in (folder / "en").glob("*.wav"):
        key = clip_line(wav.stem + ".ALS")
        if key is None:
            continue
        prefix, number = key
        table = lines[prefix]["en"]
        text = table[number] if number < len(table) else ""
        if not text:
            continue
        found.append((SPEAKER_TABLES[prefix], number, Clip(
            id=f"drascula/{wav.stem}", path=wav, text=text, language="en", translation_en=None,
        )))
    return [clip for _, _, clip in sorted(found, key=lambda t: (t[0], t[1]))]
