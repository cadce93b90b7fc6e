"""What one installation can read of a payload: a ``pyxmtp client`` home opened read-only.

The home's database (``client.db``, SQLCipher-encrypted when a key is given) is opened with SQLite's read-only
mode and never written: no schema, no pragma that writes, no checkpoint. A database nobody has open (no
``-wal`` file next to it) is opened ``immutable``, so that not even the ``-wal`` and ``-shm`` side files a
read-only WAL reader would otherwise create appear.

Decrypting never changes the installation: a group message is processed by a copy of the group restored from the
database (processing consumes a ratchet key; the copy is dropped, the database still holds the key), a welcome
is opened without joining. :class:`HomeStore` reads only the columns this needs from ``pyxmtp.client.store``'s
schema.
"""

from __future__ import annotations

import hashlib
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.key_packages import KeyPackageBundle

DATABASE = "client.db"


class HomeError(Exception):
    """The home cannot be opened (no database, a wrong or missing key, not a pyxmtp database)."""


@dataclass(frozen=True, slots=True)
class StoredKeyPackage:
    hpke_public_key: bytes
    bundle: KeyPackageBundle
    wrapper_private_key: bytes | None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    message_id: bytes
    sender_inbox_id: str
    sender_installation: bytes
    sent_ns: int
    content: bytes


def _uri(path: Path, immutable: bool) -> str:
    quoted = urllib.parse.quote(str(path.resolve()))
    return f"file:{quoted}?mode=ro" + ("&immutable=1" if immutable else "")


def _connect(path: Path, key: bytes | None) -> Any:
    immutable = not path.with_name(path.name + "-wal").exists()
    uri = _uri(path, immutable)
    if key is None:
        return sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        import sqlcipher3  # the encrypted extra
    except ImportError:
        raise HomeError(
            "an encrypted home needs the encrypted extra: pip install 'pyxmtp[encrypted]'"
        ) from None
    db = sqlcipher3.connect(uri, uri=True, isolation_level=None)
    # a wrong key is reported by our message, not by SQLCipher's log lines on stderr
    db.execute("PRAGMA cipher_log_level = NONE")
    db.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    return db


class HomeStore:
    """A home's database, read-only. Anything wrong with it (a schema it does not have, a damaged row) is a
    :class:`HomeError`."""

    def __init__(self, home: Path, key: bytes | None = None) -> None:
        path = home / DATABASE
        if not path.is_file():
            raise HomeError(f"no {DATABASE} in {home}: not a pyxmtp client home")
        self.home = home
        try:
            self._db = _connect(path, key)
            row = self._db.execute("SELECT inbox_id FROM installation").fetchone()
        except HomeError:
            raise
        except Exception as exc:  # sqlite3 / sqlcipher3 DatabaseError: not a database, or the wrong key
            state = "encrypted with another key" if key is not None else "encrypted (set $PYXMTP_DB_KEY)"
            raise HomeError(f"{path} cannot be read: it is not a pyxmtp database or it is {state}") from exc
        if row is None:
            raise HomeError(f"{path} holds no installation yet")
        self.inbox_id = str(row[0])
        #: the installation's public key, as its key packages carry it (None before the first one)
        self.installation_id: bytes | None = next(
            (kp.bundle.key_package.leaf_node.signature_key for kp in self.key_packages()), None
        )

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return list(self._db.execute(sql, args).fetchall())
        except Exception as exc:  # sqlite3 / sqlcipher3 Error: a schema this does not know
            raise HomeError(
                f"the database of {self.home} cannot be read ({exc}): not a pyxmtp client home?"
            ) from exc

    def key_package(self, hpke_public_key: bytes) -> StoredKeyPackage | None:
        rows = self._rows(
            "SELECT hpke_public_key, bundle, wrapper_private_key FROM key_packages WHERE hpke_public_key = ?",
            (hpke_public_key,),
        )
        return _key_package(rows[0]) if rows else None

    def key_packages(self) -> list[StoredKeyPackage]:
        return [
            _key_package(row)
            for row in self._rows("SELECT hpke_public_key, bundle, wrapper_private_key FROM key_packages")
        ]

    def group_state(self, group_id: bytes) -> bytes | None:
        rows = self._rows("SELECT state FROM conversations WHERE group_id = ?", (group_id,))
        return bytes(rows[0][0]) if rows else None

    def message_by_server_id(self, group_id: bytes, server_id: int) -> StoredMessage | None:
        return self._message("group_id = ? AND server_id = ?", (group_id, server_id))

    def own_message(self, mls_bytes: bytes) -> StoredMessage | None:
        """Our own message whose MLS bytes these are (the client keeps their hash)."""
        return self._message("payload_hash = ?", (hashlib.sha256(mls_bytes).digest(),))

    def _message(self, where: str, args: tuple[Any, ...]) -> StoredMessage | None:
        rows = self._rows(
            "SELECT message_id, sender_inbox_id, sender_installation, sent_ns, content FROM messages "
            f"WHERE {where}",
            args,
        )
        if not rows:
            return None
        row = rows[0]
        return StoredMessage(bytes(row[0]), str(row[1]), bytes(row[2]), int(row[3]), bytes(row[4]))


def _key_package(row: Any) -> StoredKeyPackage:
    try:
        bundle = KeyPackageBundle.from_bytes(bytes(row[1]))
    except MLSError as exc:
        raise HomeError(f"a stored key package does not decode: {exc}") from None
    return StoredKeyPackage(bytes(row[0]), bundle, None if row[2] is None else bytes(row[2]))
