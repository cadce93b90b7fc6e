"""What ``pyxmtp client`` prints: readable lines by default, JSON with ``--json``; notices on stderr.

Every string another person chose (a message, a group name, an inbox id a peer or the node sent, an error
quoting their bytes) goes through :func:`~pyxmtp.cli.terminal.safe_text` before it reaches a text line; JSON is
``ensure_ascii`` (every control, format and non-ASCII character as a ``\\u`` escape), one object per line.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from ..terminal import safe_text

__all__ = ["Output", "iso_time", "local_time", "plural", "safe_text"]


class Output:
    """Prints records to stdout as text or JSON lines (``json_mode``) and notices to stderr."""

    def __init__(self, json_mode: bool) -> None:
        self.json = json_mode

    def record(self, obj: dict[str, Any], text: str | None, *, flush: bool = False) -> None:
        """One record: ``obj`` as a JSON line with ``--json``, else ``text`` (already escaped; None: nothing
        to print in text form)."""
        if self.json:
            print(json.dumps(obj, ensure_ascii=True), flush=flush)
        elif text is not None:
            print(text, flush=flush)

    def text(self, text: str) -> None:
        """A line of text output only (nothing with ``--json``)."""
        if not self.json:
            print(text)

    @staticmethod
    def notice(text: str) -> None:
        """A status line on stderr (``connecting…``), whatever the output form."""
        print(f"pyxmtp client: {text}", file=sys.stderr, flush=True)


def local_time(ns: int) -> str:
    """A message time as the user reads it: local, to the second."""
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def iso_time(ns: int) -> str:
    """A message time for scripts: ISO 8601 in UTC, to the microsecond."""
    when = dt.datetime.fromtimestamp(ns // 1000 / 1e6, tz=dt.UTC)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 message``, ``2 messages``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
