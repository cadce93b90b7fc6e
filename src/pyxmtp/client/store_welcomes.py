"""The rows of the client database for the welcomes our own commits owe (:mod:`.own_welcomes`): a part of
:class:`~.store.ClientStore`.

One row per commit of ours that adds installations, by the SHA-256 of the commit's bytes: while the commit is
pending, its Welcome and the key packages it welcomes (``welcome``, ``key_packages``); once it is merged, the
welcome messages to send instead (``messages``, serialized ``WelcomeMessageInput``s; the other two cleared). The
row is deleted once the node has them, or when the commit is dropped.
"""

from __future__ import annotations

import sqlite3

#: The table (in the schema, and in the migration that adds it).
OWN_WELCOMES_TABLE = (
    "CREATE TABLE IF NOT EXISTS own_welcomes (commit_hash BLOB PRIMARY KEY, group_id BLOB NOT NULL, "
    "welcome BLOB, key_packages BLOB, messages BLOB)"
)


class OwnWelcomeRows:
    """The :class:`~.store.ClientStore` methods for the ``own_welcomes`` table (write inside a transaction)."""

    _db: sqlite3.Connection

    def add_own_welcome(
        self, group_id: bytes, commit_hash: bytes, welcome: bytes, key_packages: bytes
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO own_welcomes VALUES (?, ?, ?, ?, NULL)",
            (commit_hash, group_id, welcome, key_packages),
        )

    def own_welcome(self, commit_hash: bytes) -> tuple[bytes, bytes] | None:
        """``(welcome, key packages)`` of a pending commit of ours (None if it welcomes nobody, or is merged)."""
        row = self._db.execute(
            "SELECT welcome, key_packages FROM own_welcomes WHERE commit_hash = ? AND messages IS NULL",
            (commit_hash,),
        ).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def set_own_welcome_messages(self, commit_hash: bytes, messages: bytes) -> None:
        self._db.execute(
            "UPDATE own_welcomes SET messages = ?, welcome = NULL, key_packages = NULL WHERE commit_hash = ?",
            (messages, commit_hash),
        )

    def own_welcome_messages(self, group_id: bytes) -> list[tuple[bytes, bytes]]:
        """``(commit hash, messages)`` of the group's merged commits whose welcomes are not sent yet, oldest first."""
        rows = self._db.execute(
            "SELECT commit_hash, messages FROM own_welcomes WHERE group_id = ? AND messages IS NOT NULL "
            "ORDER BY rowid",
            (group_id,),
        ).fetchall()
        return [(bytes(r[0]), bytes(r[1])) for r in rows]

    def has_own_welcomes(self, group_id: bytes) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM own_welcomes WHERE group_id = ? LIMIT 1", (group_id,)
        ).fetchone()
        return row is not None

    def groups_owing_welcomes(self) -> list[bytes]:
        """The groups with a commit of ours that adds installations and whose welcomes are not sent yet (merged
        or still pending)."""
        rows = self._db.execute("SELECT DISTINCT group_id FROM own_welcomes").fetchall()
        return [bytes(r[0]) for r in rows]

    def drop_own_welcome(self, commit_hash: bytes) -> None:
        self._db.execute("DELETE FROM own_welcomes WHERE commit_hash = ?", (commit_hash,))

    def drop_unmerged_own_welcomes(self, group_id: bytes) -> None:
        self._db.execute("DELETE FROM own_welcomes WHERE group_id = ? AND messages IS NULL", (group_id,))
