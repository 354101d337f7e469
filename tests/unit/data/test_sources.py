"""Parsing the speech packages' transcript formats, and the English-clip rule."""

from __future__ import annotations

import pytest

from benchmarks.data.dutch import parse_dialogs
from benchmarks.data.english import (
    clean_transcript,
    is_english,
    parse_conftest_transcripts,
    parse_sphinx_transcription,
    textgrid_transcript,
)


def test_sphinx_transcription() -> None:
    text = (
        "<s> he was not an ill disposed young man </s> (sense-0880)\n"
        "<s> ten of clubs  </s> (001)\n"
        "garbage line\n"
    )
    assert parse_sphinx_transcription(text) == {
        "sense-0880": "he was not an ill disposed young man",
        "001": "ten of clubs",
    }


TEXTGRID_ONE_TIER = """File type = "ooTextFile"
Object class = "TextGrid"
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        intervals [1]:
            text = "montreal"
        intervals [2]:
            text = ""
        intervals [3]:
            text = "say ""hi""
now"
    item [2]:
        class = "IntervalTier"
        name = "phones"
        intervals [1]:
            text = "m"
"""


def test_textgrid_single_word_tier() -> None:
    assert textgrid_transcript(TEXTGRID_ONE_TIER) == 'montreal say "hi" now'


def test_textgrid_two_speakers_is_not_used() -> None:
    two = TEXTGRID_ONE_TIER.replace('name = "phones"', 'name = "other_speaker"')
    assert textgrid_transcript(two) is None


def test_conftest_fixture_is_read_not_run() -> None:
    source = """
import os
@pytest.fixture
def reference_transcripts():
    os.system("exit 1")
    return {"mfa_a": "montreal forced aligner", "mfa_b": "<cutoff-m> montreal"}
"""
    assert parse_conftest_transcripts(source) == {
        "mfa_a": "montreal forced aligner",
        "mfa_b": "<cutoff-m> montreal",
    }
    assert parse_conftest_transcripts("x = 1") == {}


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("uh i have a cold <VOCNOISE> yeah {CG} ok", "uh i have a cold yeah ok"),
        ("[laughter] montreal [laughter] forced", "montreal forced"),
        ("i’m here", "i'm here"),
        ("<cutoff-montreal> montreal forced", None),
        ("montreal <hes-forced> aligner", None),
        ("montreal forced <unk> aligner", None),
        ("<VOCNOISE>", None),
    ],
)
def test_clean_transcript(raw: str, cleaned: str | None) -> None:
    assert clean_transcript(raw) == cleaned


@pytest.mark.parametrize(
    ("stem", "text", "english"),
    [
        ("61-70968-0000", "HE BEGAN A CONFUSED COMPLAINT", True),
        ("common_voice_en_22058266", "Fire fox", True),
        ("common_voice_ja_24511055", "真っ昼間なのに", False),
        ("se10x016-08071999-1334_u0016001", "tyst under denna inspelning", False),
        ("se10x016-08071999-1334_u0016002", "Testar en två tre", False),
        ("13697_11991_000000", "la sorpresa y el disgusto que produjo la substitución", False),
        ("punctuated", "they love her’ and so", True),
        ("multilingual_ipa_us", "uh with only like four games to go", True),
    ],
)
def test_english_rule(stem: str, text: str, english: bool) -> None:
    assert is_english(stem, text) is english


def test_fillets_dialogs() -> None:
    source = """
-- Init
dialogId("vit-hs-klid1", "font_statue", "Citizens, please remain calm.")
dialogStr("Waarde burgers, blijft  alstublieft rustig.")


dialogId("laser", "", "")

dialogId("q-1", "font_big", "He said \\"no\\".")
dialogStr("Hij zei \\"nee\\".")
dialogId("text0", "font_white",  "mplayer kufrik.ogg")
"""
    assert parse_dialogs(source) == [
        (
            "vit-hs-klid1",
            "Citizens, please remain calm.",
            "Waarde burgers, blijft alstublieft rustig.",
        ),
        ("q-1", 'He said "no".', 'Hij zei "nee".'),
    ]
