"""Language codes: Whisper's list and the language tokens of multilingual MT models.

Parley speaks ISO 639-1 codes ("en", "zh", "nl") everywhere; this module maps them to what
each model family wants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from server.errors import UnsupportedError

if TYPE_CHECKING:
    from server.models.types import AsrModelInfo

#: Whisper vocabulary sizes: English-only models have 51864 tokens, multilingual ones 51865,
#: large-v3 (which added Cantonese "yue") 51866. CTranslate2 uses the same threshold.
WHISPER_MULTILINGUAL_MIN_VOCAB = 51865
WHISPER_V3_MIN_VOCAB = 51866


def whisper_language_codes(*, with_cantonese: bool = False) -> tuple[str, ...]:
    """Whisper's language codes (99, or 100 with large-v3's "yue"), as faster-whisper lists them."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    codes = tuple(str(c) for c in _LANGUAGE_CODES)
    if not with_cantonese:
        codes = tuple(c for c in codes if c != "yue")
    return codes


#: ISO 639-1 -> NLLB-200 (FLORES-200) language token.
NLLB_CODES: dict[str, str] = {
    "af": "afr_Latn",
    "am": "amh_Ethi",
    "ar": "arb_Arab",
    "az": "azj_Latn",
    "be": "bel_Cyrl",
    "bg": "bul_Cyrl",
    "bn": "ben_Beng",
    "bs": "bos_Latn",
    "ca": "cat_Latn",
    "cs": "ces_Latn",
    "cy": "cym_Latn",
    "da": "dan_Latn",
    "de": "deu_Latn",
    "el": "ell_Grek",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "et": "est_Latn",
    "eu": "eus_Latn",
    "fa": "pes_Arab",
    "fi": "fin_Latn",
    "fr": "fra_Latn",
    "ga": "gle_Latn",
    "gl": "glg_Latn",
    "gu": "guj_Gujr",
    "ha": "hau_Latn",
    "he": "heb_Hebr",
    "hi": "hin_Deva",
    "hr": "hrv_Latn",
    "hu": "hun_Latn",
    "hy": "hye_Armn",
    "id": "ind_Latn",
    "ig": "ibo_Latn",
    "is": "isl_Latn",
    "it": "ita_Latn",
    "ja": "jpn_Jpan",
    "jv": "jav_Latn",
    "ka": "kat_Geor",
    "kk": "kaz_Cyrl",
    "km": "khm_Khmr",
    "kn": "kan_Knda",
    "ko": "kor_Hang",
    "lb": "ltz_Latn",
    "lo": "lao_Laoo",
    "lt": "lit_Latn",
    "lv": "lvs_Latn",
    "mk": "mkd_Cyrl",
    "ml": "mal_Mlym",
    "mn": "khk_Cyrl",
    "mr": "mar_Deva",
    "ms": "zsm_Latn",
    "mt": "mlt_Latn",
    "my": "mya_Mymr",
    "ne": "npi_Deva",
    "nl": "nld_Latn",
    "no": "nob_Latn",
    "pa": "pan_Guru",
    "pl": "pol_Latn",
    "ps": "pbt_Arab",
    "pt": "por_Latn",
    "ro": "ron_Latn",
    "ru": "rus_Cyrl",
    "si": "sin_Sinh",
    "sk": "slk_Latn",
    "sl": "slv_Latn",
    "so": "som_Latn",
    "sq": "als_Latn",
    "sr": "srp_Cyrl",
    "su": "sun_Latn",
    "sv": "swe_Latn",
    "sw": "swh_Latn",
    "ta": "tam_Taml",
    "te": "tel_Telu",
    "th": "tha_Thai",
    "tl": "tgl_Latn",
    "tr": "tur_Latn",
    "uk": "ukr_Cyrl",
    "ur": "urd_Arab",
    "uz": "uzn_Latn",
    "vi": "vie_Latn",
    "xh": "xho_Latn",
    "yo": "yor_Latn",
    "zh": "zho_Hans",
    "zu": "zul_Latn",
}


#: ISO 639-1 -> English name, for LLM prompts ("Translate from English into German").
LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "az": "Azerbaijani",
    "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "bs": "Bosnian",
    "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician",
    "gu": "Gujarati", "ha": "Hausa", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian",
    "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "ig": "Igbo",
    "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jv": "Javanese",
    "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean",
    "lb": "Luxembourgish", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian",
    "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi",
    "ms": "Malay", "mt": "Maltese", "my": "Burmese", "ne": "Nepali", "nl": "Dutch",
    "no": "Norwegian", "pa": "Punjabi", "pl": "Polish", "ps": "Pashto",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "si": "Sinhala",
    "sk": "Slovak", "sl": "Slovenian", "so": "Somali", "sq": "Albanian",
    "sr": "Serbian", "su": "Sundanese", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "xh": "Xhosa",
    "yo": "Yoruba", "zh": "Chinese", "zu": "Zulu",
}  # fmt: skip


def language_name(code: str) -> str:
    """English name of an ISO code for a prompt; the code itself where none is known."""
    return LANGUAGE_NAMES.get(code, code)


def check_source_language(info: AsrModelInfo, language: str | None) -> None:
    """`unsupported_language` unless `info` recognizes `language` (None: detect)."""
    if language is None or language in info.languages:
        return
    known = info.languages
    knows = ", ".join(known) if len(known) <= 5 else f"{len(known)} languages (parley models list)"
    raise UnsupportedError(
        f"source language {language!r} is not recognized by model {info.name!r} "
        f"(it knows {knows})",
        code="unsupported_language",
    )


def check_known_target(code: str) -> None:
    """`unsupported_language` unless `code` is a language some model family Parley loads
    has (Whisper's 99, NLLB's map): outside them it is no language, not an unserved pair."""
    if code not in NLLB_CODES and code not in whisper_language_codes(with_cantonese=True):
        raise UnsupportedError(
            f"target language {code!r} is not a language code Parley knows "
            "(ISO 639-1, such as 'de' or 'zh')",
            code="unsupported_language",
        )


def m2m100_token(code: str) -> str:
    """M2M100's language token for an ISO 639-1 code: "fr" -> "__fr__"."""
    return f"__{code}__"


def nllb_tokens_in(vocabulary: Iterable[str]) -> dict[str, str]:
    """ISO 639-1 -> NLLB token for every mapped language whose token is in `vocabulary`."""
    vocab = set(vocabulary)
    return {iso: tok for iso, tok in NLLB_CODES.items() if tok in vocab}


def m2m100_tokens_in(vocabulary: Iterable[str]) -> dict[str, str]:
    """ISO code -> "__xx__" for every such token in `vocabulary` (2- or 3-letter codes)."""
    out: dict[str, str] = {}
    for tok in vocabulary:
        if len(tok) in (6, 7) and tok.startswith("__") and tok.endswith("__"):
            code = tok[2:-2]
            if code.isalpha() and code.islower():
                out[code] = tok
    return out


_MBART_TOKEN = re.compile(r"^([a-z]{2})_[A-Z]{2}$")  # de_DE, en_XX
_T5_TOKEN = re.compile(r"^<2([a-z]{2,3})>$")  # MADLAD-400: <2de>
_MARIAN_TOKEN = re.compile(r"^>>([a-z]{2,3})<<$")  # multi-target OPUS-MT: >>de<< / >>deu<<
_ISO3_TO_1 = {tok.split("_")[0]: iso for iso, tok in NLLB_CODES.items()}


def mbart_tokens_in(vocabulary: Iterable[str]) -> dict[str, str]:
    """ISO 639-1 -> mBART-50 language token ("de" -> "de_DE") found in `vocabulary`."""
    out: dict[str, str] = {}
    for tok in vocabulary:
        m = _MBART_TOKEN.match(tok)
        if m:
            out.setdefault(m.group(1), tok)
    return out


def t5_tokens_in(vocabulary: Iterable[str]) -> dict[str, str]:
    """ISO code -> MADLAD-400 target token ("de" -> "<2de>") found in `vocabulary`."""
    out: dict[str, str] = {}
    for tok in vocabulary:
        m = _T5_TOKEN.match(tok)
        if m:
            out.setdefault(m.group(1), tok)
    return out


def marian_tokens_in(vocabulary: Iterable[str]) -> dict[str, str]:
    """ISO code -> multi-target OPUS-MT token (">>de<<", or ">>deu<<" for "de")."""
    out: dict[str, str] = {}
    for tok in vocabulary:
        m = _MARIAN_TOKEN.match(tok)
        if m:
            code = m.group(1)
            out.setdefault(_ISO3_TO_1.get(code, code) if len(code) == 3 else code, tok)
    return out


def all_pairs(codes: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Every ordered (source, target) pair of distinct codes, sorted."""
    cs = sorted(set(codes))
    return tuple((s, t) for s in cs for t in cs if s != t)
