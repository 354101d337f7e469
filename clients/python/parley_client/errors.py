"""The one exception the client raises for server-side and connection problems."""

from __future__ import annotations


class ParleyClientError(Exception):
    """A request the server refused, or a connection that failed.

    `code` is the server's stable error code (e.g. "unsupported_pair",
    "slow_consumer") when there is one, else "connection".
    """

    def __init__(self, message: str, code: str = "connection") -> None:
        super().__init__(message)
        self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code
