"""Keys given as hex text (key files, environment variables), for ``pyxmtp client`` and ``pyxmtp inspect``."""

from __future__ import annotations

import os

#: What a bad ``$PYXMTP_DB_KEY`` is told.
DB_KEY_FORM = "$PYXMTP_DB_KEY must be 64 hex characters (a 32-byte key)"


def hex_bytes(text: str) -> bytes | None:
    """The bytes that hex ``text`` spells (surrounding white space and a ``0x`` prefix ignored); None when it is
    not hex."""
    text = text.strip()
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def env_database_key() -> bytes | None:
    """The 32-byte database key in ``$PYXMTP_DB_KEY``; None when it is unset or empty. ValueError
    (:data:`DB_KEY_FORM`) when it is not 64 hex characters."""
    text = os.environ.get("PYXMTP_DB_KEY")
    if not text:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError(DB_KEY_FORM)
    return key
