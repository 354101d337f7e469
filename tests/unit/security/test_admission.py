"""Gatekeeper: authentication, per-token caps and the speaker cap, and their release."""

from __future__ import annotations

import pytest

from server.errors import OverloadedError, ParleyError
from server.security.admission import Gatekeeper
from server.security.tokens import TokenStore

SPEAK = "speak-secret-0123456789"
LISTEN = "listen-secret-0123456789"


def gate(max_speakers: int | None = 2) -> Gatekeeper:
    store = TokenStore.from_spec(f"speak:{SPEAK}:main:2,listen:{LISTEN}:*:1")
    return Gatekeeper(store, max_speakers=max_speakers)


def test_speakers_count_against_both_caps_and_release() -> None:
    g = gate()
    a = g.admit(SPEAK, "speak", "main")
    assert g.active_speakers == 1 and a.principal.role == "speak"
    b = g.admit(SPEAK, "speak", "main")
    with pytest.raises(ParleyError) as exc:
        g.admit(SPEAK, "speak", "main")
    assert exc.value.code == "forbidden"  # the token's own cap (2) comes first
    a.release()
    a.release()
    assert g.active_speakers == 1
    with b:
        pass
    assert g.active_speakers == 0 and g.per_token.total == 0


def test_server_cap_is_overloaded_and_leaves_no_token_slot_behind() -> None:
    g = gate(max_speakers=1)
    g.admit(SPEAK, "speak", "main")
    with pytest.raises(OverloadedError):
        g.admit(SPEAK, "speak", "main")
    assert g.per_token.count(g.store.principals[0].id) == 1  # the refused one was undone


def test_listeners_do_not_take_speaker_slots_but_count_for_their_token() -> None:
    g = gate(max_speakers=1)
    g.admit(LISTEN, "listen", "lobby")
    assert g.active_speakers == 0
    with pytest.raises(ParleyError) as exc:
        g.admit(LISTEN, "listen", "other")
    assert exc.value.code == "forbidden"
    g.admit(SPEAK, "listen", "main")  # a speak token may listen in its room


@pytest.mark.parametrize(
    ("token", "role", "room", "code"),
    [(None, "speak", "main", "unauthorized"), ("bad", "listen", "x", "unauthorized"),
     (LISTEN, "speak", "main", "forbidden"), (SPEAK, "speak", "elsewhere", "forbidden")],
)
def test_refusals_take_no_slot(token: str | None, role: str, room: str, code: str) -> None:
    g = gate()
    with pytest.raises(ParleyError) as exc:
        g.admit(token, role, room)  # type: ignore[arg-type]
    assert exc.value.code == code
    assert g.active_speakers == 0 and g.per_token.total == 0


def test_open_mode_has_only_the_server_cap() -> None:
    g = Gatekeeper(TokenStore(open=True), max_speakers=1)
    g.admit(None, "speak", None)
    g.admit(None, "listen", "r")
    with pytest.raises(OverloadedError):
        g.admit(None, "speak", None)
    assert g.per_token.total == 0
