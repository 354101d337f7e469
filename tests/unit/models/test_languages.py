"""Language tables for Whisper, NLLB and M2M100."""

from __future__ import annotations

import pytest

from server.errors import UnsupportedError
from server.models.languages import (
    NLLB_CODES,
    all_pairs,
    check_known_target,
    m2m100_token,
    m2m100_tokens_in,
    nllb_tokens_in,
    whisper_language_codes,
)


def test_whisper_codes() -> None:
    codes = whisper_language_codes()
    assert len(codes) == 99 and len(set(codes)) == 99
    assert {"en", "zh", "de", "nl", "haw"} <= set(codes) and "yue" not in codes
    assert set(whisper_language_codes(with_cantonese=True)) - set(codes) == {"yue"}


def test_nllb_map_covers_common_languages() -> None:
    assert len(NLLB_CODES) >= 40
    for iso, tok in {
        "en": "eng_Latn",
        "fr": "fra_Latn",
        "zh": "zho_Hans",
        "nl": "nld_Latn",
        "ar": "arb_Arab",
        "ja": "jpn_Jpan",
    }.items():
        assert NLLB_CODES[iso] == tok
    assert all(len(iso) == 2 for iso in NLLB_CODES)
    assert nllb_tokens_in(["eng_Latn", "x", "nld_Latn"]) == {"en": "eng_Latn", "nl": "nld_Latn"}


def test_m2m100_tokens() -> None:
    assert m2m100_token("fr") == "__fr__"
    found = m2m100_tokens_in(["__en__", "__ast__", "__init__", "__EN__", "__x__", "▁__fr__"])
    assert found == {"en": "__en__", "ast": "__ast__"}


def test_all_pairs() -> None:
    assert all_pairs(["fr", "en", "en"]) == (("en", "fr"), ("fr", "en"))


@pytest.mark.parametrize("code", ["en", "zh", "nl", "yue", "zu"])
def test_a_language_some_model_family_has_is_known(code: str) -> None:
    check_known_target(code)


@pytest.mark.parametrize("code", ["xx", "qq", "eng"])
def test_a_code_no_model_family_has_is_an_unsupported_language(code: str) -> None:
    with pytest.raises(UnsupportedError, match=f"'{code}' is not a language code Parley knows") as exc:
        check_known_target(code)
    assert exc.value.code == "unsupported_language"
