"""server.security.startup: open mode rules, origins, TLS settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from server.config import Security, ServerConfig
from server.errors import ParleyError
from server.security import TokenConfigError
from server.security.startup import (
    StartupError,
    allowed_origins,
    build_gatekeeper,
    is_loopback,
    ssl_context,
)


def cfg(host: str = "127.0.0.1", **security: object) -> ServerConfig:
    return replace(ServerConfig(), host=host, security=Security(**security))  # type: ignore[arg-type]


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.4", False),
    ("example.com", False), ("", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_no_tokens_on_loopback_is_open_mode() -> None:
    gate = build_gatekeeper(cfg(), {})
    assert gate.store.open
    assert gate.admit(None, "speak", None).principal.id == "open"


def test_no_tokens_on_a_network_address_refuses_unless_open() -> None:
    with pytest.raises(StartupError, match="refusing to serve on 0.0.0.0 without API tokens"):
        build_gatekeeper(cfg("0.0.0.0"), {})
    assert build_gatekeeper(cfg("0.0.0.0", open=True), {}).store.open
    # The address actually bound counts (in-process servers may override the config's).
    with pytest.raises(StartupError):
        build_gatekeeper(cfg(), {}, host="0.0.0.0")


def test_configured_tokens_are_required_even_with_open() -> None:
    env = {"PARLEY_TOKENS": "speak:a-secret-of-16-chars"}
    for c in (cfg(), cfg("0.0.0.0"), cfg("0.0.0.0", open=True)):
        gate = build_gatekeeper(c, env)
        assert not gate.store.open and len(gate.store) == 1


def test_a_bad_token_file_is_an_error_not_open_mode(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError):
        build_gatekeeper(cfg(tokens_file=str(tmp_path / "missing.toml")), {})


def test_the_session_cap_is_the_gatekeepers() -> None:
    c = replace(cfg(), limits=replace(ServerConfig().limits, max_sessions=1))
    gate = build_gatekeeper(c, {})
    gate.admit(None, "speak", None)
    with pytest.raises(Exception, match="limit of 1 sessions"):
        gate.admit(None, "speak", None)


def test_allowed_origins_keep_non_browser_clients() -> None:
    assert allowed_origins(cfg()) is None
    assert allowed_origins(cfg(allowed_origins=("*",))) is None
    assert allowed_origins(cfg(allowed_origins=("https://a.example/", " https://b.example"))) == [
        "https://a.example", "https://b.example", None]


@pytest.mark.parametrize("origin", ["captions.example.com", "https://a.example/app", "https://"])
def test_an_allowed_origin_that_no_browser_sends_is_an_error(origin: str) -> None:
    with pytest.raises(ParleyError, match=r"is not an Origin such as https://captions\.example\.com"):
        allowed_origins(cfg(allowed_origins=(origin,)))


def test_origins_with_ports_and_null_are_accepted() -> None:
    got = allowed_origins(cfg(allowed_origins=("http://localhost:8080", "null")))
    assert got == ["http://localhost:8080", "null", None]


def test_tls_needs_both_files_that_load(tmp_path: Path) -> None:
    assert ssl_context(cfg()) is None
    with pytest.raises(StartupError, match="both"):
        ssl_context(cfg(tls_cert="x.pem"))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(StartupError, match="cannot load TLS certificate"):
        ssl_context(cfg(tls_cert=str(bad), tls_key=str(bad)))
