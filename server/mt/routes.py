"""Which route serves a (spoken language, listener language) pair: a pure decision.

A route is one of:
- `Transcript`: the listener's language is the spoken one; the transcript serves it.
- `Direct(model)`: one MT model translates source -> target.
- `WhisperTranslate(model)`: Whisper's `translate` task re-decodes each final
  segment's audio into English (target English only; finals only).
- `Pivot(first, second)`: a pivot through English: the English leg `first` (an
  X->en MT model, or Whisper translate) then the en->target MT model `second`.

Preference, best first (`route_target`):
1. `Transcript` when source == target: nothing to translate.
2. `Direct`: a model trained on the pair makes one hop, so errors do not compound;
   it is incremental (partials that reuse the previous translation as prefix) and
   it costs one MT call per request.
3. `WhisperTranslate` for English: finals only, and each costs a second decode on
   the shared recognizer, but it is the only route to English without an X->en
   model and it hears the audio, not a transcript that may already be wrong.
4. `Pivot`: two hops, so it adds the English leg's lag and its errors to the
   second model's; it is what reaches a language no model translates into from the
   speaker's language. Its English leg is exactly the route English itself would
   take (`route_target(source, "en")`, so X->en MT before Whisper), which is what
   lets a session run that leg once for English listeners and every pivot target.

A route never goes through English twice and never pivots to reach English.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, assert_never

from server.errors import UnsupportedError
from server.models.languages import check_known_target

if TYPE_CHECKING:
    from server.models.types import AsrModelInfo

#: The language every pivot goes through.
PIVOT = "en"
#: A source standing for "any language the recognizer speaks that no MT pair names".
ANY_SOURCE = "*"

Via = Literal["transcript", "mt", "whisper", "pivot"]
#: (source, target) -> name of the first loaded MT model that covers it.
PairModels: TypeAlias = Mapping[tuple[str, str], str]


@dataclass(frozen=True)
class Transcript:
    via: Literal["transcript"] = "transcript"


@dataclass(frozen=True)
class Direct:
    model: str
    source: str
    target: str
    via: Literal["mt"] = "mt"


@dataclass(frozen=True)
class WhisperTranslate:
    model: str  # the recognizer (multilingual Whisper)
    via: Literal["whisper"] = "whisper"


@dataclass(frozen=True)
class Pivot:
    first: Direct | WhisperTranslate  # source -> English
    second: Direct  # English -> target
    via: Literal["pivot"] = "pivot"

    @property
    def target(self) -> str:
        return self.second.target


Route: TypeAlias = Transcript | Direct | WhisperTranslate | Pivot
EnglishLeg: TypeAlias = Direct | WhisperTranslate


def route_target(
    asr: AsrModelInfo, models: PairModels, source: str | None, target: str
) -> Route:
    """The best route from `source` to `target` (preference in the module docstring).

    `models`: every pair the loaded MT models cover, with the model that serves it.
    `source` None: not yet detected. Then the route is the one that serves any
    language (Whisper, or a pivot after Whisper), else a direct model into `target`
    (valid only for its own source): the caller routes again once the language is
    known. Raises `unsupported_language` for a target that is no language and
    `unsupported_pair`, naming what is available, when nothing serves the pair.
    """
    route = _route(asr, models, ANY_SOURCE if source is None else source, target)
    if route is None and source is None:
        route = next(
            (Direct(m, s, t) for (s, t), m in models.items() if t == target), None
        )
    if route is not None:
        return route
    check_known_target(target)
    raise UnsupportedError(
        f"no model translates {source or 'any language'} -> {target}; "
        f"available: {describe_available(asr, models)}",
        code="unsupported_pair",
    )


def _route(asr: AsrModelInfo, models: PairModels, source: str, target: str) -> Route | None:
    if source == target:
        return Transcript()
    model = models.get((source, target))
    if model is not None:
        return Direct(model, source, target)
    if target == PIVOT:
        return WhisperTranslate(asr.name) if asr.can_translate_to_english else None
    second = models.get((PIVOT, target))
    if second is None or source == PIVOT:
        return None
    first = _route(asr, models, source, PIVOT)
    if isinstance(first, Direct | WhisperTranslate):
        return Pivot(first, Direct(second, PIVOT, target))
    return None


def english_leg(route: Route) -> EnglishLeg | None:
    """The route's leg that produces English: all of it for English, the first hop of a pivot."""
    match route:
        case Pivot(first=first):
            return first
        case Direct(target=target) if target == PIVOT:
            return route
        case WhisperTranslate():
            return route
        case Direct() | Transcript():
            return None
        case _:
            assert_never(route)


def route_json(route: Route) -> dict[str, Any]:
    """The wire form of a route (`ready.routes`, `joined.route`, `/v1/models`)."""
    match route:
        case Transcript():
            return {"via": "transcript"}
        case Direct(model=model, source=source, target=target):
            return {"via": "mt", "model": model, "pair": f"{source}-{target}"}
        case WhisperTranslate(model=model):
            return {"via": "whisper", "model": model}
        case Pivot(first=first, second=second):
            return {"via": "pivot", "through": PIVOT,
                    "legs": [route_json(first), route_json(second)]}
        case _:
            assert_never(route)


def route_table(
    asr: AsrModelInfo, models: PairModels
) -> list[tuple[str, str, Route]]:
    """Every (source, target, route) this server can serve: one row per source an MT
    pair names (and English) that the recognizer speaks, and a row for `ANY_SOURCE`,
    every other language the recognizer speaks, where one route serves them all."""
    targets = sorted({t for _, t in models} | ({PIVOT} if asr.can_translate_to_english else set()))
    named = sorted(({s for s, _ in models} | {PIVOT}) & set(asr.languages))
    rows: list[tuple[str, str, Route]] = []
    for target in targets:
        sources: Iterable[str] = [*named, ANY_SOURCE] if asr.multilingual else named
        for source in sources:
            route = _route(asr, models, source, target)
            if route is not None and not isinstance(route, Transcript):
                rows.append((source, target, route))
    return rows


def describe_available(asr: AsrModelInfo, models: PairModels) -> str:
    """What a listener can get, for an `unsupported_pair` message."""
    parts = [f"{s}->{t}" for s, t in models]
    seconds = sorted(t for s, t in models if s == PIVOT)
    if asr.can_translate_to_english:
        parts.append(f"any->en (Whisper translate with {asr.name})")
        if seconds:
            parts.append(f"any->{'/'.join(seconds)} (pivot through en)")
    else:
        for source in sorted({s for s, t in models if t == PIVOT}):
            reached = [t for t in seconds if t != source and (source, t) not in models]
            if reached:
                parts.append(f"{source}->{'/'.join(reached)} (pivot through en)")
    return ", ".join(parts) or "nothing"
