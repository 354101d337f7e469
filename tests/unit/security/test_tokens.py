"""TokenStore: parsing every source, role/room checks, secrets kept out of logs."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from server.errors import ParleyError
from server.security import tokens as tokens_mod
from server.security.tokens import (
    OPEN_PRINCIPAL,
    ROOM_PATTERN,
    TokenConfigError,
    TokenStore,
    digest,
    token_id,
)

SPEAK = "speak-secret-0123456789"
LISTEN = "listen-secret-0123456789"
ADMIN = "admin-secret-0123456789"


def store() -> TokenStore:
    return TokenStore.from_spec(
        f"speak:{SPEAK}:room1|room2:2,listen:{LISTEN},admin:{ADMIN}:*"
    )


def code_of(exc: pytest.ExceptionInfo[ParleyError]) -> str:
    return exc.value.code


def test_spec_parses_roles_rooms_and_max_sessions() -> None:
    by_role = {p.role: p for p in store().principals}
    assert by_role["speak"].rooms == frozenset({"room1", "room2"})
    assert by_role["speak"].max_sessions == 2
    assert by_role["listen"].rooms is None and by_role["listen"].max_sessions is None
    assert by_role["admin"].rooms is None


def test_authenticate_returns_the_matching_principal() -> None:
    s = store()
    p = s.authenticate(SPEAK, "speak", "room1")
    assert p.role == "speak" and p.id == token_id(digest(SPEAK))
    assert s.authenticate(LISTEN, "listen", "anything").role == "listen"
    assert s.authenticate(ADMIN, "speak", None).role == "admin"


@pytest.mark.parametrize("presented", [None, ""])
def test_missing_token_is_unauthorized(presented: str | None) -> None:
    with pytest.raises(ParleyError) as exc:
        store().authenticate(presented, "listen", "room1")
    assert code_of(exc) == "unauthorized"


@pytest.mark.parametrize("presented", ["nope", SPEAK + "x", SPEAK[:-1], SPEAK.upper(), " " + SPEAK])
def test_wrong_token_is_unauthorized(presented: str) -> None:
    with pytest.raises(ParleyError) as exc:
        store().authenticate(presented, "listen", "room1")
    assert code_of(exc) == "unauthorized"


@pytest.mark.parametrize(
    ("secret", "role", "room"),
    [
        (LISTEN, "speak", "room1"),  # listen may not speak
        (SPEAK, "admin", "room1"),  # speak is not admin
        (SPEAK, "speak", "room3"),  # outside its rooms
        (SPEAK, "listen", "room3"),
        (SPEAK, "speak", None),  # a scoped token must name one of its rooms
    ],
)
def test_role_and_room_scope_are_forbidden(secret: str, role: str, room: str | None) -> None:
    with pytest.raises(ParleyError) as exc:
        store().authenticate(secret, role, room)  # type: ignore[arg-type]
    assert code_of(exc) == "forbidden"


def test_speak_token_may_listen_in_its_rooms() -> None:
    assert store().authenticate(SPEAK, "listen", "room2").role == "speak"


def test_no_tokens_and_not_open_refuses_to_build() -> None:
    with pytest.raises(TokenConfigError, match="no API tokens"):
        TokenStore.from_env_or_file({})


def test_open_mode_must_be_explicit_and_lets_anyone_in() -> None:
    s = TokenStore.from_env_or_file({}, open=True)
    assert s.open
    assert s.authenticate(None, "admin", None) is OPEN_PRINCIPAL
    assert s.authenticate("whatever", "speak", "room9") is OPEN_PRINCIPAL


def test_open_is_ignored_when_tokens_exist() -> None:
    s = TokenStore.from_env_or_file({"PARLEY_TOKENS": f"listen:{LISTEN}"}, open=True)
    assert not s.open
    with pytest.raises(ParleyError):
        s.authenticate(None, "listen", "r")


def test_env_file_wins_over_env_spec(tmp_path: Path) -> None:
    f = tmp_path / "tokens.jsonl"
    f.write_text(f'{{"role": "admin", "secret": "{ADMIN}"}}\n')
    s = TokenStore.from_env_or_file(
        {"PARLEY_TOKENS_FILE": str(f), "PARLEY_TOKENS": f"listen:{LISTEN}"}
    )
    assert [p.role for p in s.principals] == ["admin"]


def test_path_argument_wins_over_env(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text(f'[[token]]\nrole = "listen"\nsecret = "{LISTEN}"\n')
    s = TokenStore.from_env_or_file({"PARLEY_TOKENS": f"admin:{ADMIN}"}, path=f)
    assert [p.role for p in s.principals] == ["listen"]


def test_toml_file(tmp_path: Path) -> None:
    f = tmp_path / "tokens.toml"
    hashed = hashlib.sha256(ADMIN.encode()).hexdigest()
    f.write_text(
        "# Parley tokens\n"
        "[[token]]\n"
        'name = "studio-a"\nrole = "speak"\n'
        f'secret = "{SPEAK}"\nrooms = ["main", "side"]\nmax_sessions = 3\n\n'
        "[[token]]\n"
        f'role = "admin"\nsecret_sha256 = "{hashed}"\n'
    )
    s = TokenStore.from_file(f)
    p = s.authenticate(SPEAK, "speak", "side")
    assert (p.name, p.rooms, p.max_sessions) == ("studio-a", frozenset({"main", "side"}), 3)
    assert s.authenticate(ADMIN, "admin", None).role == "admin"  # hashed form works


def test_jsonl_file_with_comments(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    f.write_text(
        f'{{"role": "speak", "secret": "{SPEAK}", "rooms": "*"}}\n'
        "# a comment\n\n"
        f'{{"role": "listen", "secret": "{LISTEN}", "rooms": ["lobby"]}}\n'
    )
    s = TokenStore.from_file(f)
    assert s.authenticate(SPEAK, "speak", None).rooms is None
    assert s.authenticate(LISTEN, "listen", "lobby").rooms == frozenset({"lobby"})


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("speaker:abc", "role must be one of"),
        ("speak", "expected role:secret"),
        ("speak:a:b:c:d", "expected role:secret"),
        ("speak:", "non-empty string"),
        ("speak:abc:room with space", "is not 1-64"),
        ("speak:abc:r1:zero", "integer"),
        ("speak:abc:r1:0", "positive integer"),
        ("speak:abc,listen:abc", "configured twice"),
    ],
)
def test_bad_spec_is_a_config_error(spec: str, match: str) -> None:
    with pytest.raises(TokenConfigError, match=match):
        TokenStore.from_spec(spec)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"role": "speak"}', "exactly one of secret"),
        ('{"role": "speak", "secret": "a", "secret_sha256": "' + "0" * 64 + '"}', "exactly one"),
        ('{"role": "speak", "secret_sha256": "xyz"}', "64 hex"),
        ('{"role": "speak", "secret": "abc", "room": "x"}', "unknown field"),
        ('{"role": "speak", "secret": "abc", "rooms": []}', "non-empty list"),
        ('{"role": "speak", "secret": "abc", "max_sessions": true}', "positive integer"),
        ("[1, 2]", "must be a JSON object"),
        ('{"role": "speak", "secret": "hunter2-leak', "not valid JSON"),
    ],
)
def test_bad_jsonl_is_a_config_error(tmp_path: Path, line: str, match: str) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(TokenConfigError, match=match) as exc:
        TokenStore.from_file(f)
    assert "hunter2" not in exc.value.message  # a secret on a bad line is not echoed


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text("[tokens]\nrole = 'x'\n")
    with pytest.raises(TokenConfigError, match="unknown table"):
        TokenStore.from_file(f)
    f.write_text("[[token]\n")
    with pytest.raises(TokenConfigError, match="not valid TOML"):
        TokenStore.from_file(f)
    with pytest.raises(TokenConfigError, match="cannot read"):
        TokenStore.from_file(tmp_path / "absent.toml")


def test_secrets_never_reach_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = TokenStore.from_env_or_file({"PARLEY_TOKENS": f"speak:{SPEAK}:r1,listen:short"})
    for presented in (SPEAK, "wrong-guess-secret", None):
        try:
            s.authenticate(presented, "admin", "r1")
        except ParleyError as exc:
            assert SPEAK not in exc.message and "wrong-guess" not in exc.message
    text = caplog.text + repr(s) + repr(s.principals)
    assert SPEAK not in text and "short" not in text.replace("shorter", "")
    assert token_id(digest(SPEAK)) in repr(s)
    assert "shorter than" in caplog.text  # the short secret was warned about


def test_token_id_is_short_and_not_a_digest_prefix() -> None:
    d = digest(SPEAK)
    tid = token_id(d)
    assert len(tid) == 10 and not d.hex().startswith(tid)


def test_every_token_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the comparison count does not depend on which token matched."""
    calls: list[int] = []
    real = tokens_mod.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(tokens_mod.hmac, "compare_digest", counting)
    s = store()
    for presented in (SPEAK, LISTEN, ADMIN, "no-such-token"):
        calls.clear()
        try:
            s.identify(presented)
        except ParleyError:
            pass
        assert len(calls) == 3


def test_room_pattern_matches_the_protocol() -> None:
    from server.protocol import messages

    assert ROOM_PATTERN.pattern == messages._ROOM_RE.pattern
