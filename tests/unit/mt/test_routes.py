"""The pure route decision: every case of (source, target, recognizer, loaded pairs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.errors import UnsupportedError
from server.models.types import AsrModelInfo
from server.mt.routes import (
    ANY_SOURCE,
    Direct,
    PairModels,
    Pivot,
    Transcript,
    WhisperTranslate,
    describe_available,
    english_leg,
    route_json,
    route_table,
    route_target,
)

BASE = AsrModelInfo("base", Path("/m/base"), True, ("en", "nl", "zh", "de", "fr", "es"))
TINY_EN = AsrModelInfo("tiny.en", Path("/m/tiny.en"), False, ("en",))

ZH_EN = {("zh", "en"): "zh-en"}
EN_DE = {("en", "de"): "en-de"}
NL_EN = {("nl", "en"): "nl-en"}
NL_DE = {("nl", "de"): "nl-de"}


def models(*parts: PairModels) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for part in parts:
        out.update(part)
    return out


WHISPER = WhisperTranslate("base")


@pytest.mark.parametrize(("asr", "pairs", "source", "target", "route"), [
    # the spoken language itself: the transcript
    (BASE, {}, "nl", "nl", Transcript()),
    (TINY_EN, {}, "en", "en", Transcript()),
    # a model for the pair: direct, for English too (before Whisper)
    (BASE, NL_DE, "nl", "de", Direct("nl-de", "nl", "de")),
    (BASE, models(ZH_EN), "zh", "en", Direct("zh-en", "zh", "en")),
    (TINY_EN, EN_DE, "en", "de", Direct("en-de", "en", "de")),
    # English without an X->en model: Whisper's translate task (multilingual only)
    (BASE, ZH_EN, "nl", "en", WHISPER),
    # direct beats a pivot even when a pivot exists
    (BASE, models(NL_DE, NL_EN, EN_DE), "nl", "de", Direct("nl-de", "nl", "de")),
    # pivot: English by Whisper, then en->de
    (BASE, EN_DE, "nl", "de", Pivot(WHISPER, Direct("en-de", "en", "de"))),
    # pivot: English by an X->en model (preferred to Whisper), then en->de
    (BASE, models(NL_EN, EN_DE), "nl", "de",
     Pivot(Direct("nl-en", "nl", "en"), Direct("en-de", "en", "de"))),
    # an English-only recognizer: MT both legs still make a pivot
    (TINY_EN, models(NL_EN, EN_DE), "nl", "de",
     Pivot(Direct("nl-en", "nl", "en"), Direct("en-de", "en", "de"))),
    # not yet detected: the route that serves any language...
    (BASE, EN_DE, None, "de", Pivot(WHISPER, Direct("en-de", "en", "de"))),
    (BASE, ZH_EN, None, "en", WHISPER),
    # ... else a model into the target (checked again once the language is known)
    (BASE, NL_DE, None, "de", Direct("nl-de", "nl", "de")),
    (TINY_EN, ZH_EN, None, "en", Direct("zh-en", "zh", "en")),
])
def test_the_best_route(
    asr: AsrModelInfo, pairs: PairModels, source: str | None, target: str, route: object
) -> None:
    assert route_target(asr, pairs, source, target) == route


def test_the_first_model_given_serves_a_pair() -> None:
    pairs = {("en", "de"): "first", ("nl", "en"): "nl-en"}
    route = route_target(BASE, pairs, "nl", "de")
    assert isinstance(route, Pivot) and route.second.model == "first"


@pytest.mark.parametrize(("asr", "pairs", "source", "target", "says"), [
    # English is never a pivot's start: en->fr needs its own model
    (BASE, models(EN_DE, ZH_EN), "en", "fr",
     ("no model translates en -> fr; available: en->de, zh->en, any->en (Whisper translate "
      "with base), any->de (pivot through en)")),
    # no English leg: an English-only recognizer cannot translate Dutch into English
    (TINY_EN, EN_DE, "nl", "de", "no model translates nl -> de; available: en->de"),
    (TINY_EN, {}, "nl", "en", "no model translates nl -> en; available: nothing"),
    (TINY_EN, ZH_EN, None, "de", "no model translates any language -> de"),
    (TINY_EN, models(NL_EN, EN_DE), "zh", "de", "nl->de (pivot through en)"),
])
def test_a_pair_nothing_serves_is_unsupported_and_says_what_is(
    asr: AsrModelInfo, pairs: PairModels, source: str | None, target: str, says: str
) -> None:
    with pytest.raises(UnsupportedError, match=re.escape(says)) as exc:
        route_target(asr, pairs, source, target)
    assert exc.value.code == "unsupported_pair"


def test_a_target_that_is_no_language_is_unsupported_language() -> None:
    with pytest.raises(UnsupportedError) as exc:
        route_target(BASE, EN_DE, "nl", "xx")
    assert exc.value.code == "unsupported_language"


def test_a_pivots_english_leg_is_the_route_english_takes() -> None:
    for pairs in (EN_DE, models(NL_EN, EN_DE)):
        pivot = route_target(BASE, pairs, "nl", "de")
        assert english_leg(pivot) == route_target(BASE, pairs, "nl", "en")
    assert english_leg(WHISPER) == WHISPER
    assert english_leg(Direct("zh-en", "zh", "en")) == Direct("zh-en", "zh", "en")
    assert english_leg(Direct("en-de", "en", "de")) is None
    assert english_leg(Transcript()) is None


def test_routes_on_the_wire() -> None:
    pivot = Pivot(WHISPER, Direct("en-de", "en", "de"))
    assert route_json(pivot) == {
        "via": "pivot", "through": "en",
        "legs": [{"via": "whisper", "model": "base"},
                 {"via": "mt", "model": "en-de", "pair": "en-de"}],
    }
    assert route_json(Transcript()) == {"via": "transcript"}


def test_the_route_table_names_each_source_and_any_other() -> None:
    rows = {(s, t): r for s, t, r in route_table(BASE, models(ZH_EN, EN_DE))}
    assert rows == {
        ("en", "de"): Direct("en-de", "en", "de"),
        ("zh", "de"): Pivot(Direct("zh-en", "zh", "en"), Direct("en-de", "en", "de")),
        (ANY_SOURCE, "de"): Pivot(WHISPER, Direct("en-de", "en", "de")),
        ("zh", "en"): Direct("zh-en", "zh", "en"),
        (ANY_SOURCE, "en"): WHISPER,
    }
    # an English-only recognizer: only what English speech can get
    assert route_table(TINY_EN, models(ZH_EN, EN_DE)) == [("en", "de", Direct("en-de", "en", "de"))]


def test_available_lists_pairs_whisper_and_pivots() -> None:
    assert describe_available(TINY_EN, {}) == "nothing"
    assert describe_available(BASE, EN_DE) == (
        "en->de, any->en (Whisper translate with base), any->de (pivot through en)")
