"""Live captions in a terminal: the partial line is rewritten in place, finals are printed.

On a terminal (tty) the current partial transcript occupies the last line and
is overwritten by each new partial; a final replaces it and moves on. When the
output is not a terminal (a pipe, a file) only finals are written, one a line.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from typing import Any, TextIO

_CLEAR = "\r\x1b[2K"


class LiveCaptions:
    def __init__(self, out: TextIO | None = None, *, tty: bool | None = None,
                 show_translations: bool = True) -> None:
        self.out = out if out is not None else sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.show_translations = show_translations
        self._partial = False

    def show(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "transcript":
            text = str(event.get("text") or "")
            if event.get("final"):
                self._final(text)
            elif self.tty:
                self._overwrite(text)
        elif kind == "translation" and event.get("final") and self.show_translations:
            self._final(f"  [{event.get('lang')}] {event.get('text') or ''}")
        elif kind == "speaker":
            self._final(f"-- speaker {event.get('session_id')} "
                        f"({event.get('source_language') or 'auto'})")
        elif kind == "end":
            self._final(f"-- end ({event.get('reason')})")
        elif kind == "error":
            self._final(f"!! {event.get('code')}: {event.get('message')}")

    def _overwrite(self, text: str) -> None:
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        shown = text if len(text) <= width else "..." + text[-(width - 3):]
        self.out.write(_CLEAR + shown)
        self.out.flush()
        self._partial = True

    def _final(self, text: str) -> None:
        if self._partial and self.tty:
            self.out.write(_CLEAR)
        self.out.write(text + "\n")
        self.out.flush()
        self._partial = False

    def close(self) -> None:
        if self._partial and self.tty:
            self.out.write(_CLEAR)
            self.out.flush()
        self._partial = False
