"""Connection-level helpers of the PostgreSQL store: error classification, redaction, quoting, and the keys of
the advisory locks and notifications that let several node processes share one schema."""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Iterable
from typing import Any

import asyncpg

#: The advisory locks' first key ("pyxp"); the second is a hash of the schema name (session lock) or of a key.
LOCK_CLASS = 0x70797870
#: Transaction-level locks that order the writes of one key (see :mod:`.postgres`).
ORDER_LOCK_CLASS = LOCK_CLASS + 1
#: Transaction-level lock that serializes creating and migrating the schema.
MIGRATION_LOCK_CLASS = LOCK_CLASS + 2

#: What a lock key is made from: the kind of key, then the key.
GROUP_KEY = b"g"
WELCOME_KEY = b"w"
INBOX_KEY = b"i"
COMMIT_LOG_KEY = b"c"

#: A notification's payload stays below PostgreSQL's limit of 8000 bytes.
MAX_NOTE_BYTES = 7900

#: What asyncpg raises when a statement or its connection fails (InternalClientError: a connection that
#: died in the middle of an operation can leave asyncpg's protocol in a state it reports that way).
CLIENT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)

Connection = Any  # asyncpg.Connection (untyped)


class ReadConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection of a read pool: the pool need not reset it when it takes it back (asyncpg's default sends
    four statements, a round trip, after every read), as reads leave no transaction, LISTEN, lock or setting
    behind."""

    __slots__ = ()

    def get_reset_query(self) -> str:
        return ""


def storable(text: str) -> bool:
    """Whether PostgreSQL can hold ``text`` in a text column (no NUL character): a string it cannot hold was
    never stored, so a lookup of one finds nothing (SQLite would have looked, and found nothing too)."""
    return "\x00" not in text


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone (rather than the statement failing on a live one):
    SQLSTATE classes 08 (connection exception) and 57P (the server shutting it down), or asyncpg's errors for a
    broken connection, which it may raise before it has noticed the connection closed."""
    if isinstance(exc, (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError)):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith(("08", "57P"))


def is_closed(conn: Connection) -> bool:
    """Whether a pooled connection is closed; a proxy the pool has already taken back counts as closed."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True


def redacted(dsn: str) -> str:
    """``dsn`` without its password (URI form; a key=value string is reduced to its host, port and dbname)."""
    if "://" not in dsn:
        keep = [part for part in dsn.split() if part.split("=", 1)[0] in ("host", "port", "dbname", "user")]
        return " ".join(keep)
    parts = urllib.parse.urlsplit(dsn)
    netloc = parts.netloc.rsplit("@", 1)
    if len(netloc) == 2:
        user = netloc[0].split(":", 1)[0]
        netloc = [f"{user}@{netloc[1]}"]
    return urllib.parse.urlunsplit((parts.scheme, netloc[0], parts.path, "", ""))


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SchemaKeys:
    """The lock keys and notification channel of one schema (its name salts both, so that nodes on other schemas
    of the same database neither wait for nor wake each other)."""

    def __init__(self, schema: str) -> None:
        self._salt = hashlib.sha256(schema.encode()).digest()[:8]
        #: The channel the writers notify and the listeners LISTEN on.
        self.channel = "pyxmtp_" + self._salt.hex()

    def lock_key(self, kind: bytes, key: bytes) -> int:
        digest = hashlib.blake2b(kind + key, digest_size=4, key=self._salt).digest()
        return int.from_bytes(digest, "big", signed=True)

    def lock_keys(self, kind: bytes, keys: Iterable[bytes]) -> set[int]:
        return {self.lock_key(kind, k) for k in keys}


def notes(kind: bytes, keys: Iterable[bytes]) -> list[str]:
    """The notification payloads that name ``keys`` of ``kind``: ``kind`` then the keys in hex, space-separated,
    each payload within :data:`MAX_NOTE_BYTES`."""
    out: list[str] = []
    head = kind.decode()
    parts: list[str] = [head]
    size = len(head)
    for key in keys:
        text = key.hex()
        if size + 1 + len(text) > MAX_NOTE_BYTES and len(parts) > 1:
            out.append(" ".join(parts))
            parts, size = [head], len(head)
        parts.append(text)
        size += 1 + len(text)
    if len(parts) > 1:
        out.append(" ".join(parts))
    return out


def parse_note(payload: str) -> tuple[bytes, list[bytes]] | None:
    """The kind and keys of a notification (see :func:`notes`); None for one that is not ours."""
    kind, _, rest = payload.partition(" ")
    if kind not in ("g", "w"):
        return None
    try:
        return kind.encode(), [bytes.fromhex(k) for k in rest.split()]
    except ValueError:
        return None
