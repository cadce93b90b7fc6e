"""The rows of the client database for leave requests (:mod:`.leave`): a part of :class:`~.store.ClientStore`.

``pending_removals`` holds who asked to leave which group, as every member records it (libxmtp's
``pending_remove``); ``leave_requests`` the groups we asked to leave ourselves (libxmtp's ``PendingRemove``
membership state), kept until we are added again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


class LeaveRequestRows:
    """The :class:`~.store.ClientStore` methods for leave requests (write inside a transaction)."""

    _db: sqlite3.Connection

    def add_pending_removal(self, group_id: bytes, inbox_id: str, message_id: bytes) -> bool:
        """Record that ``inbox_id`` asked to leave the group (its first request kept); whether it is new."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO pending_removals VALUES (?, ?, ?)", (group_id, inbox_id, message_id)
        )
        return cur.rowcount > 0

    def pending_removals(self, group_id: bytes) -> list[str]:
        """The inboxes that asked to leave the group and are not known to be out of it yet."""
        rows = self._db.execute(
            "SELECT inbox_id FROM pending_removals WHERE group_id = ? ORDER BY inbox_id", (group_id,)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def delete_pending_removals(self, group_id: bytes, inbox_ids: Sequence[str]) -> None:
        self._db.executemany(
            "DELETE FROM pending_removals WHERE group_id = ? AND inbox_id = ?",
            [(group_id, i) for i in inbox_ids],
        )

    def set_leave_requested(self, group_id: bytes, message_id: bytes, requested_ns: int) -> None:
        """We asked to leave the group (kept until we are added to it again)."""
        self._db.execute(
            "INSERT OR IGNORE INTO leave_requests VALUES (?, ?, ?)", (group_id, message_id, requested_ns)
        )

    def leave_requested(self, group_id: bytes) -> bool:
        row = self._db.execute("SELECT 1 FROM leave_requests WHERE group_id = ?", (group_id,)).fetchone()
        return row is not None

    def clear_leave_request(self, group_id: bytes) -> bool:
        """Forget our leave request (we were added back); whether there was one."""
        return self._db.execute("DELETE FROM leave_requests WHERE group_id = ?", (group_id,)).rowcount > 0

    def delete_leave_rows(self, group_id: bytes) -> int:
        """Forget every leave request about the group, ours and the members' (the conversation is deleted
        locally); how many rows went."""
        gone = self._db.execute("DELETE FROM pending_removals WHERE group_id = ?", (group_id,)).rowcount
        return gone + self._db.execute("DELETE FROM leave_requests WHERE group_id = ?", (group_id,)).rowcount
