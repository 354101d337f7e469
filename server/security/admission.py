"""Authentication plus admission: the one call the gateway makes per connection.

    gate = Gatekeeper(store, max_speakers=config.limits.max_sessions)
    admission = gate.admit(presented_token, "speak", start.room)   # may raise
    try:
        ...  # the session
    finally:
        admission.release()

Order of checks (each raises a ParleyError the gateway turns into an `error`
event and a close): the token (`unauthorized`), its role and room scope
(`forbidden`), its own session cap `max_sessions` (`forbidden`), then the
server-wide speaker cap (`overloaded`, retry later). `max_sessions` counts a
token's connections of every kind (speakers and listeners); the server-wide cap
counts speakers only (listeners cost no recognition).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Self

from server.security.limits import SessionCounter, SessionLease
from server.security.tokens import OPEN_PRINCIPAL, Principal, Role, TokenStore

log = logging.getLogger(__name__)


@dataclass
class Admission:
    """An admitted connection; `release()` (idempotent) frees its slots."""

    principal: Principal
    role: Role
    leases: list[SessionLease] = field(default_factory=list)

    def release(self) -> None:
        for lease in self.leases:
            lease.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Gatekeeper:
    def __init__(self, store: TokenStore, *, max_speakers: int | None) -> None:
        self.store = store
        self.speakers = SessionCounter(max_total=max_speakers)
        self.per_token = SessionCounter()

    @property
    def active_speakers(self) -> int:
        """Admitted speaker sessions now (the `parley_active_sessions` gauge)."""
        return self.speakers.total

    def admit(self, presented: str | None, role: Role, room: str | None) -> Admission:
        """Authenticate and take the slots a `role` connection needs. Raises ParleyError."""
        principal = self.store.authenticate(presented, role, room)
        admission = Admission(principal, role)
        try:
            if principal is not OPEN_PRINCIPAL:
                admission.leases.append(
                    self.per_token.acquire(principal.id, principal.max_sessions,
                                           label=principal.name)
                )
            if role == "speak":
                admission.leases.append(self.speakers.acquire())
        except BaseException:
            admission.release()
            raise
        log.debug("admitted %s as %s (room %s)", principal.name, role, room)
        return admission
