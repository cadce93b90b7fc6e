"""The client database's part for archives: conversations restored from an archive, and the pages of messages an
archive is written from. Mixed into :class:`~.store.ClientStore`.

A restored conversation (:class:`RestoredRecord`) is what an archive tells of a group or DM this installation
holds no MLS state for: its id, kind, name and the like. Its messages are ordinary rows of ``messages``. The row
goes when the real group arrives by welcome (:meth:`~.store.ClientStore.save_conversation` deletes it): the
messages stay and belong to the live conversation from then on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import MessageKind, MessageRecord, message_from_row


@dataclass(frozen=True, slots=True)
class RestoredRecord:
    """A conversation known from an archive only. ``conversation_type``: 1 group, 2 DM (libxmtp's numbers);
    ``attributes``: the mutable metadata libxmtp applies on import (name, description, image URL, app data);
    ``dm_id``: ``dm:<inbox>:<inbox>`` for a DM."""

    group_id: bytes
    conversation_type: int
    created_ns: int
    imported_ns: int
    creator_inbox_id: str = ""
    added_by: str = ""
    dm_id: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    disappear_from_ns: int | None = None
    disappear_in_ns: int | None = None
    last_message_ns: int | None = None


_RESTORED_COLUMNS = (
    "group_id, conversation_type, created_ns, imported_ns, creator_inbox_id, added_by, dm_id, attributes, "
    "disappear_from_ns, disappear_in_ns, last_message_ns"
)


def _restored(row: Any) -> RestoredRecord:
    attributes = json.loads(str(row[7]))
    return RestoredRecord(
        bytes(row[0]),
        int(row[1]),
        int(row[2]),
        int(row[3]),
        str(row[4]),
        str(row[5]),
        None if row[6] is None else str(row[6]),
        {str(k): str(v) for k, v in attributes.items()} if isinstance(attributes, dict) else {},
        row[8],
        row[9],
        row[10],
    )


class ArchiveStoreMixin:
    """The archive's queries (see the module docstring); ``self._db`` is the store's connection."""

    _db: sqlite3.Connection
    _MESSAGE_COLUMNS: str

    # --- restored conversations -----------------------------------------------------------------------------
    def restored(self, group_id: bytes) -> RestoredRecord | None:
        row = self._db.execute(
            f"SELECT {_RESTORED_COLUMNS} FROM restored_conversations WHERE group_id = ?", (group_id,)
        ).fetchone()
        return None if row is None else _restored(row)

    def restored_all(self) -> list[RestoredRecord]:
        """Every restored conversation, oldest first (by ``created_ns``, then id)."""
        rows = self._db.execute(
            f"SELECT {_RESTORED_COLUMNS} FROM restored_conversations ORDER BY created_ns, group_id"
        ).fetchall()
        return [_restored(r) for r in rows]

    def add_restored(self, record: RestoredRecord) -> bool:
        """Store a restored conversation unless its group is held (restored or live); whether it was stored."""
        if self._db.execute("SELECT 1 FROM conversations WHERE group_id = ?", (record.group_id,)).fetchone():
            return False
        cur = self._db.execute(
            f"INSERT INTO restored_conversations ({_RESTORED_COLUMNS}) VALUES ({', '.join('?' * 11)}) "
            "ON CONFLICT (group_id) DO NOTHING",
            (
                record.group_id,
                record.conversation_type,
                record.created_ns,
                record.imported_ns,
                record.creator_inbox_id,
                record.added_by,
                record.dm_id,
                json.dumps(dict(record.attributes), sort_keys=True),
                record.disappear_from_ns,
                record.disappear_in_ns,
                record.last_message_ns,
            ),
        )
        return cur.rowcount == 1

    def raise_restored_last_message(self, group_id: bytes, last_message_ns: int) -> None:
        """Keep the later of the restored conversation's last-message time and ``last_message_ns``."""
        self._db.execute(
            "UPDATE restored_conversations SET last_message_ns = max(COALESCE(last_message_ns, 0), ?) "
            "WHERE group_id = ?",
            (last_message_ns, group_id),
        )

    def forget_restored(self, group_id: bytes) -> None:
        """The live group arrived: the restored row goes (its messages stay)."""
        self._db.execute("DELETE FROM restored_conversations WHERE group_id = ?", (group_id,))

    # --- what an archive is written from --------------------------------------------------------------------
    def application_messages_after(
        self, after_id: bytes, limit: int, start_ns: int | None, end_ns: int | None
    ) -> list[MessageRecord]:
        """Up to ``limit`` application messages (transcript entries left out) with an id above ``after_id``, by
        id, sent after ``start_ns`` (exclusive) and up to ``end_ns`` (inclusive) when given: a page of an
        archive's messages (libxmtp orders them by id)."""
        clauses = ["message_id > ?", "kind = ?"]
        args: list[object] = [after_id, int(MessageKind.APPLICATION)]
        if start_ns is not None:
            clauses.append("sent_ns > ?")
            args.append(start_ns)
        if end_ns is not None:
            clauses.append("sent_ns <= ?")
            args.append(end_ns)
        rows = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(clauses)} "
            f"ORDER BY message_id LIMIT {max(1, int(limit))}",
            args,
        ).fetchall()
        return [message_from_row(r) for r in rows]
