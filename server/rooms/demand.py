"""Which translation languages a room needs, and what to change to get them (sans-I/O).

A room's speaker translates each wanted language once, however many listeners
want it. "Wanted" = the languages of the room's local listeners plus the
languages other replicas ask for on behalf of their listeners (remote demand,
refreshed over MQTT and forgotten after `ttl_s` without a refresh, so a
replica that dies does not keep a translation running forever).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LanguageDemand:
    """Reference counts of listener languages, local and remote, for one room."""

    ttl_s: float = 90.0
    _local: Counter[str] = field(default_factory=Counter)
    #: replica id -> (languages, time of the last refresh)
    _remote: dict[str, tuple[frozenset[str], float]] = field(default_factory=dict)

    def add_local(self, lang: str | None) -> None:
        if lang is not None:
            self._local[lang] += 1

    def remove_local(self, lang: str | None) -> None:
        if lang is not None and self._local[lang] > 0:
            self._local[lang] -= 1
            if self._local[lang] == 0:
                del self._local[lang]

    def set_remote(self, replica: str, langs: frozenset[str], now: float) -> bool:
        """Record a replica's demand; returns whether the wanted set may have changed."""
        old = self._remote.get(replica)
        if not langs:
            return self._remote.pop(replica, None) is not None
        self._remote[replica] = (langs, now)
        return old is None or old[0] != langs

    def expire(self, now: float) -> bool:
        """Forget remote demand not refreshed within `ttl_s`; returns whether any was."""
        stale = [r for r, (_, seen) in self._remote.items() if now - seen > self.ttl_s]
        for replica in stale:
            del self._remote[replica]
        return bool(stale)

    def local_langs(self) -> frozenset[str]:
        return frozenset(self._local)

    def wanted(self) -> frozenset[str]:
        langs = set(self._local)
        for remote, _ in self._remote.values():
            langs |= remote
        return frozenset(langs)

    @property
    def empty(self) -> bool:
        return not self._local and not self._remote


@dataclass(frozen=True)
class TargetChanges:
    add: tuple[str, ...]
    remove: tuple[str, ...]


def plan_target_changes(
    *,
    wanted: frozenset[str],
    routes: frozenset[str],
    required: frozenset[str],
    added: frozenset[str],
    refused: frozenset[str],
    source: str | None,
) -> TargetChanges:
    """What a speaker must start and stop translating so it produces `wanted`.

    - `routes`: languages it translates now; `required`: those its own `start`
      asked for (never removed); `added`: those the room added (the only ones
      the room may remove); `refused`: those that failed before (not retried
      for this speaker); `source`: its language, if known (served by the
      transcript, nothing to add).
    """
    add = sorted(
        lang for lang in wanted if lang not in routes and lang not in refused and lang != source
    )
    remove = sorted(lang for lang in added if lang not in wanted and lang not in required)
    return TargetChanges(tuple(add), tuple(remove))
