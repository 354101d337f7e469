"""API tokens: who may speak, listen or administer, and in which rooms.

A token is a shared secret with a role, an optional room scope and an optional
cap on concurrent sessions. Roles nest: `admin` may do everything, `speak`
may also listen, `listen` may only listen.

Sources (first match wins, see `TokenStore.from_env_or_file`):
- `PARLEY_TOKENS_FILE`: a TOML file (`[[token]]` tables) or a JSON-lines file
  (one object per line), with the fields below.
- `PARLEY_TOKENS`: `role:secret[:rooms[:max_sessions]]`, comma-separated;
  rooms are `|`-separated or `*`. Example: `speak:s3cret:room1|room2,listen:s3cret2`.

Token fields (file forms):
    role          "speak" | "listen" | "admin"                     (required)
    secret        the token itself                                  (one of the two)
    secret_sha256 hex sha256 of the token (keeps plaintext out of the file)
    rooms         ["room1", "room2"] or "*" (default "*": every room)
    max_sessions  concurrent sessions with this token (default: no cap)
    name          a label for logs (default: the token id)

Invariants:
- Plaintext secrets are never stored past parsing and never logged. Each token
  is known by its sha256 digest (compared) and a short id (logged), derived
  with a different prefix so the id reveals nothing usable about the digest.
- `authenticate` compares the presented token's digest with every stored
  digest using `hmac.compare_digest` and never stops early, so its timing
  depends only on the number of tokens, not on which one (if any) matched.
- With no tokens, every request is refused unless the store was built with
  `open=True` (explicit open mode).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from server.errors import ErrorCode, ParleyError

log = logging.getLogger(__name__)

Role = Literal["speak", "listen", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

#: What each role may do.
GRANTS: dict[Role, frozenset[Role]] = {
    "listen": frozenset({"listen"}),
    "speak": frozenset({"speak", "listen"}),
    "admin": frozenset({"speak", "listen", "admin"}),
}

TOKENS_ENV = "PARLEY_TOKENS"
TOKENS_FILE_ENV = "PARLEY_TOKENS_FILE"

#: Same rule as room names in the wire protocol (server.protocol.messages).
ROOM_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
ALL_ROOMS = "*"
#: Secrets shorter than this are accepted with a warning (tests use short ones).
MIN_SECRET_WARN = 16
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_FIELDS = frozenset({"role", "secret", "secret_sha256", "rooms", "max_sessions", "name"})


class TokenConfigError(ParleyError):
    """The token configuration (file or environment) is invalid: a startup error."""

    code: ErrorCode = "unauthorized"


def digest(secret: str) -> bytes:
    """The sha256 digest compared at authentication time."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def token_id(token_digest: bytes) -> str:
    """A short, log-safe id of a token: 10 hex chars of a differently prefixed hash."""
    return hashlib.sha256(b"parley-token-id\0" + token_digest).hexdigest()[:10]


@dataclass(frozen=True)
class Principal:
    """Who a request was authenticated as. Safe to log (no secret inside)."""

    id: str  # short sha256-derived id, or "open" in open mode
    name: str
    role: Role
    rooms: frozenset[str] | None  # None: every room
    max_sessions: int | None

    def may(self, role: Role) -> bool:
        return role in GRANTS[self.role]

    def covers_room(self, room: str | None) -> bool:
        """Whether the scope allows `room`; a scoped token must always name a room."""
        if self.rooms is None:
            return True
        return room is not None and room in self.rooms


OPEN_PRINCIPAL = Principal(id="open", name="open", role="admin", rooms=None, max_sessions=None)


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


class TokenStore:
    """The configured tokens; `authenticate` answers who a presented token is."""

    def __init__(self, entries: Iterable[_Entry] = (), *, open: bool = False) -> None:
        self._entries: tuple[_Entry, ...] = tuple(entries)
        seen: set[bytes] = set()
        for entry in self._entries:
            if entry.digest in seen:
                raise TokenConfigError(f"token {entry.principal.id} is configured twice")
            seen.add(entry.digest)
        if open and self._entries:
            log.warning("open mode requested but %d token(s) are configured: tokens are "
                        "required", len(self._entries))
        self.open = open and not self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        ids = ", ".join(e.principal.id for e in self._entries)
        return f"TokenStore(open={self.open}, tokens=[{ids}])"

    @property
    def principals(self) -> tuple[Principal, ...]:
        return tuple(e.principal for e in self._entries)

    # -- building ---------------------------------------------------------------

    @classmethod
    def from_env_or_file(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        open: bool = False,
    ) -> TokenStore:
        """Tokens from `path`, else $PARLEY_TOKENS_FILE, else $PARLEY_TOKENS.

        No tokens anywhere: an open store if `open`, else TokenConfigError (so a
        server never runs unprotected by accident).
        """
        env = os.environ if environ is None else environ
        file = path if path is not None else (env.get(TOKENS_FILE_ENV, "").strip() or None)
        if file is not None:
            store = cls.from_file(file, open=open)
        elif env.get(TOKENS_ENV, "").strip():
            store = cls.from_spec(env[TOKENS_ENV], open=open)
        else:
            store = cls(open=open)
        if not store.open and not len(store):
            raise TokenConfigError(
                f"no API tokens configured: set {TOKENS_FILE_ENV} or {TOKENS_ENV}, "
                "or run in open mode (anyone may connect) explicitly"
            )
        if store.open:
            log.warning("authentication is OFF (open mode): anyone who can reach the port "
                        "may speak and listen")
        else:
            log.info("loaded %d API token(s): %s", len(store),
                     ", ".join(f"{p.name}({p.role})" for p in store.principals))
        return store

    @classmethod
    def from_spec(cls, spec: str, *, open: bool = False) -> TokenStore:
        """`role:secret[:rooms[:max_sessions]]`, comma-separated (the PARLEY_TOKENS form)."""
        entries: list[_Entry] = []
        for n, item in enumerate((s.strip() for s in spec.split(",")), start=1):
            if not item:
                continue
            parts = item.split(":")
            if not 2 <= len(parts) <= 4:
                raise TokenConfigError(
                    f"{TOKENS_ENV} item {n}: expected role:secret[:rooms[:max_sessions]]"
                )
            record: dict[str, Any] = {"role": parts[0].strip(), "secret": parts[1]}
            if len(parts) >= 3 and parts[2].strip():
                rooms = parts[2].strip()
                record["rooms"] = ALL_ROOMS if rooms == ALL_ROOMS else rooms.split("|")
            if len(parts) == 4 and parts[3].strip():
                try:
                    record["max_sessions"] = int(parts[3])
                except ValueError:
                    raise TokenConfigError(
                        f"{TOKENS_ENV} item {n}: max_sessions must be an integer"
                    ) from None
            entries.append(_entry(record, f"{TOKENS_ENV} item {n}"))
        return cls(entries, open=open)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, open: bool = False) -> TokenStore:
        """A TOML (`[[token]]`) or JSON-lines token file; the suffix or content decides."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenConfigError(f"cannot read token file {p}: {exc.strerror}") from None
        if p.suffix in (".jsonl", ".json", ".ndjson") or text.lstrip().startswith("{"):
            records = _jsonl_records(text, p)
        else:
            records = _toml_records(text, p)
        return cls((_entry(r, w) for r, w in records), open=open)

    # -- checking ---------------------------------------------------------------

    def identify(self, presented: str | None) -> Principal:
        """The principal a token belongs to (no role/room check). Raises 'unauthorized'."""
        if self.open:
            return OPEN_PRINCIPAL
        if not presented:
            raise ParleyError(
                "an API token is required (Authorization: Bearer, ?token=, or start.token)",
                code="unauthorized",
            )
        candidate = digest(presented)
        found: Principal | None = None
        # Every entry is compared; no early exit (timing must not tell which matched).
        for entry in self._entries:
            if hmac.compare_digest(candidate, entry.digest):
                found = entry.principal
        if found is None:
            raise ParleyError("invalid API token", code="unauthorized")
        return found

    def authenticate(self, presented: str | None, role: Role, room: str | None) -> Principal:
        """Who may do `role` in `room`. Raises ParleyError 'unauthorized' or 'forbidden'."""
        principal = self.identify(presented)
        if not principal.may(role):
            raise ParleyError(
                f"token {principal.name} ({principal.role}) may not {role}", code="forbidden"
            )
        if not principal.covers_room(room):
            where = f"room {room!r}" if room is not None else "without a room"
            raise ParleyError(f"token {principal.name} may not {role} {where}", code="forbidden")
        return principal


# -- parsing helpers ------------------------------------------------------------


def _entry(record: Mapping[str, Any], where: str) -> _Entry:
    unknown = sorted(set(record) - _FIELDS)
    if unknown:
        raise TokenConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    role = record.get("role")
    if role not in ROLES:
        raise TokenConfigError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
    secret, hashed = record.get("secret"), record.get("secret_sha256")
    if (secret is None) == (hashed is None):
        raise TokenConfigError(f"{where}: give exactly one of secret, secret_sha256")
    if secret is not None:
        if not isinstance(secret, str) or not secret or secret != secret.strip():
            raise TokenConfigError(f"{where}: secret must be a non-empty string without "
                                   "surrounding spaces")
        if len(secret) < MIN_SECRET_WARN:
            log.warning("%s: secret is shorter than %d characters", where, MIN_SECRET_WARN)
        token_digest = digest(secret)
    else:
        if not isinstance(hashed, str) or not _HEX64.match(hashed):
            raise TokenConfigError(f"{where}: secret_sha256 must be 64 hex characters")
        token_digest = bytes.fromhex(hashed)
    rooms = _rooms(record.get("rooms", ALL_ROOMS), where)
    max_sessions = record.get("max_sessions")
    if max_sessions is not None and (
        not isinstance(max_sessions, int) or isinstance(max_sessions, bool) or max_sessions < 1
    ):
        raise TokenConfigError(f"{where}: max_sessions must be a positive integer")
    tid = token_id(token_digest)
    name = record.get("name", tid)
    if not isinstance(name, str) or not name:
        raise TokenConfigError(f"{where}: name must be a non-empty string")
    return _Entry(token_digest, Principal(tid, name, role, rooms, max_sessions))


def _rooms(value: object, where: str) -> frozenset[str] | None:
    if value == ALL_ROOMS:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise TokenConfigError(f"{where}: rooms must be \"*\" or a non-empty list of names")
    rooms: set[str] = set()
    for room in value:
        if room == ALL_ROOMS:
            return None
        if not isinstance(room, str) or not ROOM_PATTERN.match(room):
            raise TokenConfigError(
                f"{where}: room {room!r} is not 1-64 letters, digits, '_', '-', '.'"
            )
        rooms.add(room)
    return frozenset(rooms)


def _jsonl_records(text: str, path: Path) -> list[tuple[dict[str, Any], str]]:
    out: list[tuple[dict[str, Any], str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            # exc.msg only: the line itself may hold a secret.
            raise TokenConfigError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise TokenConfigError(f"{where}: each line must be a JSON object")
        out.append((obj, where))
    return out


def _toml_records(text: str, path: Path) -> list[tuple[dict[str, Any], str]]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TokenConfigError(f"{path}: not valid TOML ({exc})") from None
    extra = sorted(set(doc) - {"token"})
    if extra:
        raise TokenConfigError(f"{path}: unknown table(s) {', '.join(extra)}; use [[token]]")
    tables = doc.get("token", [])
    if not isinstance(tables, list):
        raise TokenConfigError(f"{path}: use [[token]] (an array of tables)")
    return [(t, f"{path} [[token]] #{i}") for i, t in enumerate(tables, start=1)]
