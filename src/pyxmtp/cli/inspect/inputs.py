"""Reading what to inspect: hex or base64 text on the command line, a file (``@FILE`` or a path), or stdin.

Text is hex when it is only hex digits (``0x`` prefix, whitespace and ``:`` separators allowed), else base64
(standard or URL-safe alphabet, padding optional, whitespace ignored). A file or stdin is read as raw bytes
unless its whole content is such text (a payload saved as hex or base64); ``encoding`` forces one reading.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import BinaryIO

ENCODINGS = ("auto", "hex", "base64", "raw")

_SPACE = re.compile(rb"[\s:]+")
_HEX = re.compile(rb"\A(?:[0-9a-fA-F]{2})+\Z")
_BASE64 = re.compile(rb"\A[A-Za-z0-9+/_-]+={0,2}\Z")
#: Largest input read (a node's message is at most a few MiB).
MAX_INPUT = 64 * 1024 * 1024


class InputError(Exception):
    """The input cannot be read or is not in the encoding it should be."""


def _hex(text: bytes) -> bytes | None:
    compact = _SPACE.sub(b"", text)
    if compact[:2] in (b"0x", b"0X"):
        compact = compact[2:]
    return bytes.fromhex(compact.decode()) if _HEX.match(compact) else None


def _base64(text: bytes) -> bytes | None:
    compact = re.sub(rb"\s+", b"", text)
    if not _BASE64.match(compact):
        return None
    body = compact.rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
    if len(body) % 4 == 1:
        return None
    try:
        return base64.b64decode(body + b"=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_text(text: bytes, encoding: str, where: str) -> bytes:
    """``text`` read as ``encoding`` (``auto``: hex, else base64); :class:`InputError` if it is not that."""
    if encoding in ("auto", "hex"):
        data = _hex(text)
        if data is not None:
            return data
        if encoding == "hex":
            raise InputError(f"{where} is not hex")
    data = _base64(text)
    if data is None:
        raise InputError(
            f"{where} is neither hex nor base64" if encoding == "auto" else f"{where} is not base64"
        )
    return data


def _content(raw: bytes, encoding: str, where: str) -> bytes:
    if encoding == "raw":
        return raw
    if encoding != "auto":
        return decode_text(raw, encoding, where)
    stripped = raw.strip()
    if stripped and stripped.isascii():
        data = _hex(stripped)
        if data is None:
            data = _base64(stripped)
        if data is not None:
            return data
    return raw


def _read(stream: BinaryIO, where: str) -> bytes:
    raw = stream.read(MAX_INPUT + 1)
    if len(raw) > MAX_INPUT:
        raise InputError(f"{where} is larger than {MAX_INPUT} bytes")
    return raw


def _is_file(argument: str) -> bool:
    try:
        return Path(argument).is_file()
    except (OSError, ValueError):  # a name too long for a path, a NUL byte: text, not a file
        return False


def read_input(argument: str | None, encoding: str, stdin: BinaryIO) -> tuple[bytes, str]:
    """``(bytes, where they came from)`` of the INPUT argument (None or ``-``: stdin)."""
    if argument is None or argument == "-":
        return _content(_read(stdin, "stdin"), encoding, "stdin"), "stdin"
    path: Path | None = None
    if argument.startswith("@"):
        path = Path(argument[1:])
    elif _is_file(argument):
        path = Path(argument)
    if path is None:
        if encoding == "raw":
            raise InputError("--encoding raw reads a file or stdin, not the command line")
        return decode_text(os.fsencode(argument), encoding, "the argument"), "the argument"
    try:
        with path.open("rb") as f:
            return _content(_read(f, str(path)), encoding, str(path)), str(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
