from __future__ import annotations

from server.rooms.demand import LanguageDemand, plan_target_changes


def test_local_languages_are_reference_counted() -> None:
    d = LanguageDemand()
    d.add_local("de")
    d.add_local("de")
    d.add_local(None)  # transcript only: wants no translation
    d.add_local("fr")
    assert d.wanted() == {"de", "fr"}
    d.remove_local("de")
    assert d.wanted() == {"de", "fr"}
    d.remove_local("de")
    d.remove_local("de")  # one too many: ignored
    assert d.wanted() == {"fr"}
    d.remove_local("fr")
    d.remove_local(None)
    assert d.wanted() == frozenset() and d.empty


def test_remote_demand_is_kept_until_it_expires_or_is_withdrawn() -> None:
    d = LanguageDemand(ttl_s=90)
    assert d.set_remote("b", frozenset({"de"}), now=0.0)
    assert not d.set_remote("b", frozenset({"de"}), now=10.0)  # a refresh changes nothing
    assert d.set_remote("c", frozenset({"fr"}), now=10.0)
    assert d.wanted() == {"de", "fr"} and d.local_langs() == frozenset()
    assert not d.expire(now=95.0)  # b refreshed at 10
    assert d.expire(now=101.0)
    assert d.wanted() == frozenset()
    assert d.set_remote("b", frozenset({"it"}), now=200.0)
    assert d.set_remote("b", frozenset(), now=201.0)  # withdrawn
    assert d.empty


def test_target_changes_add_wanted_and_remove_only_what_the_room_added() -> None:
    changes = plan_target_changes(
        wanted=frozenset({"de", "fr", "en", "it"}),
        routes=frozenset({"de", "es"}),
        required=frozenset({"es"}),
        added=frozenset({"de", "nl"}),
        refused=frozenset({"it"}),
        source="en",
    )
    # fr is new; en is the source (the transcript serves it); it was refused before.
    assert changes.add == ("fr",)
    # nl is no longer wanted; es is the speaker's own target and stays.
    assert changes.remove == ("nl",)


def test_required_targets_are_never_removed() -> None:
    changes = plan_target_changes(
        wanted=frozenset(), routes=frozenset({"de"}), required=frozenset({"de"}),
        added=frozenset({"de"}), refused=frozenset(), source=None,
    )
    assert changes.remove == ()
