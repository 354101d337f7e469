"""API tokens: authentication and role / room authorization (see `tokens`)."""

from server.security.admission import Admission, Gatekeeper
from server.security.request import redact_path, token_from_request
from server.security.tokens import (
    GRANTS,
    OPEN_PRINCIPAL,
    ROLES,
    TOKENS_ENV,
    TOKENS_FILE_ENV,
    Principal,
    Role,
    TokenConfigError,
    TokenStore,
)

__all__ = [
    "GRANTS",
    "OPEN_PRINCIPAL",
    "ROLES",
    "TOKENS_ENV",
    "TOKENS_FILE_ENV",
    "Admission",
    "Gatekeeper",
    "Principal",
    "Role",
    "TokenConfigError",
    "TokenStore",
    "redact_path",
    "token_from_request",
]
