from __future__ import annotations

from server.rooms.events import forwarded, is_final, joined_event, wants


def test_listeners_get_transcripts_their_translation_and_end() -> None:
    tr = {"type": "translation", "lang": "de", "final": True}
    assert wants({"type": "transcript"}, None) and wants({"type": "transcript"}, "de")
    assert wants(tr, "de") and not wants(tr, "fr") and not wants(tr, None)
    assert wants({"type": "end"}, "fr")
    assert forwarded({"type": "transcript"}) and forwarded({"type": "end"})
    assert not forwarded({"type": "metrics"}) and not forwarded({"type": "error"})
    assert not forwarded({"type": "ready"})


def test_finals_and_joined() -> None:
    assert is_final({"type": "transcript", "final": True})
    assert not is_final({"type": "translation", "final": False})
    ev = joined_event("r", "de", [], None)
    assert ev["type"] == "joined" and ev["speaker"] is False and ev["room"] == "r"
    assert ev["translation"] is None and ev["route"] is None
    route = {"via": "pivot", "through": "en", "legs": []}
    assert joined_event("r", "de", [], route)["translation"] == "pivot"
