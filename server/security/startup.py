"""Start-up security decisions: which tokens, open mode or not, TLS, allowed origins.

Open-mode rule (so that `parley serve` works for a newcomer and a network
deployment never runs unprotected by accident):

- tokens configured (--tokens-file, $PARLEY_TOKENS_FILE or $PARLEY_TOKENS):
  they are required, `--open` or not;
- no tokens and `--open`: open mode on any address;
- no tokens, bound to a loopback address: open mode, with a warning;
- no tokens, any other address: refuse to start, saying how to fix it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import ssl
from collections.abc import Mapping

from websockets.typing import Origin

from server.config import ServerConfig
from server.errors import ErrorCode, ParleyError
from server.security import TOKENS_ENV, TOKENS_FILE_ENV, Gatekeeper, TokenStore

log = logging.getLogger(__name__)


class StartupError(ParleyError):
    """The server cannot start with this configuration (the CLI prints it and exits 2)."""

    code: ErrorCode = "bad_message"


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    if host in ("localhost", "ip6-localhost", "ip6-loopback"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tokens_configured(cfg: ServerConfig, environ: Mapping[str, str]) -> bool:
    return bool(
        cfg.security.tokens_file
        or environ.get(TOKENS_FILE_ENV, "").strip()
        or environ.get(TOKENS_ENV, "").strip()
    )


def build_gatekeeper(
    cfg: ServerConfig, environ: Mapping[str, str] | None = None, *, host: str | None = None
) -> Gatekeeper:
    """The token store and admission control for a server bound to `host` (default cfg.host)."""
    env = os.environ if environ is None else environ
    bind = cfg.host if host is None else host
    open_mode = cfg.security.open
    if not open_mode and not tokens_configured(cfg, env):
        if not is_loopback(bind):
            raise StartupError(
                f"refusing to serve on {bind} without API tokens: anyone who can reach the "
                f"port could use it. Set --tokens-file (or {TOKENS_FILE_ENV}, or {TOKENS_ENV}), "
                "or pass --open (PARLEY_OPEN=1) to allow everyone explicitly"
            )
        log.warning("open mode: no tokens (serving on loopback address %s only)", bind)
        open_mode = True
    store = TokenStore.from_env_or_file(env, path=cfg.security.tokens_file, open=open_mode)
    return Gatekeeper(store, max_speakers=cfg.limits.max_sessions)


def ssl_context(cfg: ServerConfig) -> ssl.SSLContext | None:
    """A server TLS context from --tls-cert/--tls-key, or None for plain ws/http."""
    cert, key = cfg.security.tls_cert, cfg.security.tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise StartupError("TLS needs both --tls-cert and --tls-key")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None
    return ctx


_ORIGIN_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s?#]+$", re.IGNORECASE)


def allowed_origins(cfg: ServerConfig) -> list[Origin | None] | None:
    """The `origins` argument of websockets' serve: None accepts any Origin.

    With an allow-list, a handshake without an Origin header (a non-browser
    client) is still accepted: the list guards against hostile web pages.
    """
    origins = [o.strip().rstrip("/") for o in cfg.security.allowed_origins if o.strip()]
    if not origins:
        return None
    if "*" in origins:
        return None
    for origin in origins:
        if origin != "null" and not _ORIGIN_RE.match(origin):
            # A browser's Origin is never a path or a bare host: such an entry would
            # silently refuse every page it was meant to allow.
            raise ParleyError(
                f"--allowed-origins: {origin!r} is not an Origin such as "
                "https://captions.example.com (scheme://host[:port], no path)"
            )
    return [*(Origin(o) for o in origins), None]
