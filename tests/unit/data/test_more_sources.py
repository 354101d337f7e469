"""Asterisk transcripts, Drascula's text tables (on bytes built here), the dev-set layout."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from benchmarks.data.__main__ import expand
from benchmarks.data.asterisk import parse_core_sounds, spoken_text
from benchmarks.data.clips import Clip, StreamPart
from benchmarks.data.devset import TimedWord, assign_words, chunk_clips, score_clips
from benchmarks.data.drascula import (
    als_to_wav,
    clip_line,
    decode_text,
    lines_by_speaker,
    parse_text_tables,
)


def test_core_sounds_lines_comments_and_notes() -> None:
    text = (
        "; Core Asterisk Sounds in English\n"
        "\n"
        "agent-pass: Please enter your password followed by the pound key.\n"
        "beep: [this is a simple beep tone]\n"
        "letters/at: at [@]\n"
        "dictate/both_help: press * to toggle pause, press # to enter a new name\n"
        "no colon here\n"
    )
    assert parse_core_sounds(text) == {
        "agent-pass": "Please enter your password followed by the pound key.",
        "letters/at": "at",
        "dictate/both_help": "press * to toggle pause, press # to enter a new name",
    }


def test_keypad_signs_are_spoken_in_english_only() -> None:
    text = "press * to toggle pause, press # to enter"
    assert spoken_text(text, "en") == "press star to toggle pause, press pound to enter"
    assert spoken_text("pulse *", "es") == "pulse *"


def _block(texts: list[bytes]) -> bytes:
    """A text block as drascula.dat lays it out: text 0 empty at byte 0, its length field
    (bytes 2-3) counting from byte 4, then each text after a u16 BE length that reaches from
    it to the next text (padding included)."""
    assert texts[0] == b""
    buf = bytearray(b"\0\0") + struct.pack(">H", 2)
    for text in texts[1:]:
        slot = text + b"\0" * (1 + len(text) % 2)  # NUL-terminated, padded to even
        buf += struct.pack(">H", len(slot) + 2) + slot
    return bytes(buf)


def _tables(per_table: list[list[list[bytes]]], offset: int) -> bytes:
    languages = len(per_table[0])
    data = bytearray(b"x" * offset) + struct.pack(">H", languages)
    for table in per_table:
        data += struct.pack(">H", len(table[0]))
        for texts in table:
            block = _block(texts)
            data += struct.pack(">H", len(block)) + block
    return bytes(data)


def test_text_tables_parse_bytes_built_here() -> None:
    en = [b"", b"THAT'S THE SECOND BIGGEST DOOR", b"NOT REALLY", b"HI"]
    fr = [b"", b"C'EST LA DEUXI\x8aME PORTE", b"PAS VRAIMENT", b"SALUT!"]
    other = [[b"", b"YES"], [b"", b"OUI"]]
    data = _tables([[en, fr], other], offset=10)
    tables = parse_text_tables(data, offset=10, tables=2)
    assert tables == [[en, fr], other]
    assert decode_text(tables[0][1][1], "fr") == "C'EST LA DEUXIèME PORTE"  # CP850, as the file has it


def test_text_tables_past_the_end_raise() -> None:
    data = _tables([[[b"", b"ONE", b"TWO"]]], offset=0)
    with pytest.raises(ValueError):
        parse_text_tables(data[:-6], offset=0, tables=1)
    with pytest.raises(ValueError):
        parse_text_tables(data, offset=0, tables=2)


def test_speaker_tables_by_clip_prefix() -> None:
    tables = [[[b"", *(f"T{t}L{i}".encode() for i in range(1, 3))]] for t in range(10)]
    lines = lines_by_speaker(tables)
    assert lines[""]["en"] == ["", "T0L1", "T0L2"]
    assert lines["VB"]["en"][2] == "T9L2"
    assert clip_line("BJ12.ALS") == ("BJ", 12)
    assert clip_line("104.ALS") == ("", 104)
    assert clip_line("S3.ALS") is None and clip_line("13.ALD") is None


def test_als_is_shifted_to_16_bit_at_its_own_rate(tmp_path: Path) -> None:
    src = tmp_path / "1.ALS"
    src.write_bytes(bytes([128, 255, 0, 128]))
    als_to_wav(src, tmp_path / "1.wav")
    with wave.open(str(tmp_path / "1.wav")) as wf:
        assert wf.getframerate() == 11025 and wf.getsampwidth() == 2
        pcm = np.frombuffer(wf.readframes(4), dtype="<i2")
    assert pcm.tolist() == [0, 127 * 256, -128 * 256, 0]


def _clip(name: str) -> Clip:
    return Clip(id=name, path=Path(name), text=name, language="en", translation_en=None)


def test_chunks_keep_order_and_never_split_a_clip() -> None:
    clips = [_clip(c) for c in "abcde"]
    groups = chunk_clips(clips, [2.0, 2.0, 5.0, 9.0, 1.0], chunk_s=6.0, pause_s=0.5)
    assert [[c.id for c in g] for g in groups] == [["a", "b"], ["c"], ["d"], ["e"]]


def test_words_go_to_the_clip_they_lie_in_or_the_nearest() -> None:
    parts = [StreamPart("a", 0.0, 2.0, "one two", None), StreamPart("b", 3.0, 5.0, "three", None)]
    words = [TimedWord("one", 0.1, 0.5), TimedWord("two", 1.9, 2.3),  # runs into the pause
             TimedWord("three", 2.6, 3.2), TimedWord("four", 5.5, 6.0)]
    assert assign_words(words, parts) == ["one two", "three four"]
    scores = score_clips(words, parts)
    assert [(s.clip_id, s.errors, s.words) for s in scores] == [("a", 0, 2), ("b", 1, 1)]


def test_fetch_names_expand_aliases_once() -> None:
    assert expand(["english-dev", "english"]) == ["asterisk-en", "drascula-en", "english"]
    assert set(expand(["all"])) >= {"czech", "asterisk-es", "asterisk-fr", "dutch"}


def test_info_refuses_an_unknown_set(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.data.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["info", "klingon"])
    assert exc.value.code == 2
    assert "unknown set klingon" in capsys.readouterr().err
