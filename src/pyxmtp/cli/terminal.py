"""Printing what others wrote: a text from a peer must not drive the terminal it is shown on.

A message, a group name or anything else a peer chose may hold escape sequences (``ESC ] 0 ; title BEL``
retitles the window, ``ESC [ 31 m`` recolours what follows, others move the cursor, rewrite earlier lines or, on
some terminals, answer back into the input), a carriage return or newline that forges a line of output, or
format characters that make a text read differently from what it is (U+202E turns the rest of a line around).
:func:`safe_text` writes every such character as a visible escape instead:

- the control characters: C0 (U+0000-U+001F, ``\\n``, ``\\r`` and ``\\t`` included: a received text stays on its
  line), DEL (U+007F) and C1 (U+0080-U+009F, where ``CSI`` and ``OSC`` have one-character forms);
- the format characters (Unicode category Cf: the bidi embeddings, overrides and isolates, the LRM and RLM marks,
  zero-width spaces, the soft hyphen, the invisible tag characters...), except ZERO WIDTH NON-JOINER and ZERO
  WIDTH JOINER, which words in several scripts and emoji sequences need and which cannot move or hide text;
- the line and paragraph separators (U+2028, U+2029) and lone surrogates.

Escapes read as in Python: ``\\x1b``, ``\\u202e``, ``\\U000e0041``, ``\\n``. A backslash is left as it is (a text
that already holds ``\\x1b`` reads the same as an escaped ESC; only the terminal is protected, not the
reader from a look-alike). Anything else, spaces, unassigned and private-use characters included, prints
unchanged.
"""

from __future__ import annotations

import logging
import unicodedata

__all__ = ["SafeFormatter", "safe_text"]

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_JOINERS = frozenset({"\u200c", "\u200d"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _harmful(ch: str) -> bool:
    return unicodedata.category(ch) in _ESCAPED_CATEGORIES and ch not in _JOINERS


def safe_text(text: str) -> str:
    """``text`` with every character that could drive or deceive a terminal escaped (see the module
    docstring)."""
    if text.isprintable():  # no control, format or separator character: the common case
        return text
    return "".join(_escape(ch) if _harmful(ch) else ch for ch in text)


class SafeFormatter(logging.Formatter):
    """A log line escaped with :func:`safe_text` (a log message may quote a peer's bytes); a traceback keeps
    its line breaks, each line escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return safe_text(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return "\n".join(safe_text(line) for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(safe_text(line) for line in super().formatStack(stack_info).splitlines())
