"""The WebSocket close codes Parley sends (RFC 6455, section 7.4.1), defined once.

Which one a connection gets, and with what reason, is documented in
docs/protocol.md; the reason string is the error code where there is one.
"""

from typing import Final

CLOSE_NORMAL: Final = 1000
#: The server is shutting down (after the session's finals and `end`).
CLOSE_AWAY: Final = 1001
#: A policy violation: a fatal error code, a slow consumer, an abusive client.
CLOSE_POLICY: Final = 1008
#: A message over the size limit (websockets sends it itself).
CLOSE_TOO_BIG: Final = 1009
#: A bug in the server (error `internal`).
CLOSE_ERROR: Final = 1011
#: Overloaded: try again later.
CLOSE_RETRY: Final = 1013
