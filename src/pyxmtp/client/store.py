"""The client's local database: SQLite, one file per installation (or in memory).

What it keeps, all as opaque bytes the layers above produce:

- the installation: its Ed25519 seed, inbox id and sender-HMAC key (secrets: whoever has the file is this installation);
- key packages we published, by the HPKE public key a welcome names (the key-package bundle and, for X-Wing
  wrapping, the wrapper's private key): deleted a grace period after a newer one replaced them;
- conversations: each group's serialized MLS state and the id of the last group message processed;
- the welcome cursor, and the decoded messages of every conversation; our own messages with their delivery
  status (:class:`DeliveryStatus`) and, until the node has them, their MLS bytes (ciphertext) to publish again.

A group's new state, its cursor and the messages that produced them are written in one transaction
(:meth:`ClientStore.transaction`), so a crash leaves either all or none of them: never a cursor past a message
whose keys were already deleted.

Forward secrecy at rest. Nearly every transaction drops secrets (a used ratchet key, an ended epoch's secrets,
a replaced key package), and they must leave the files, not only the tables:

- the database file and its ``-wal``, ``-shm`` and ``-journal`` files are owner-only (0600) whatever the umask:
  the database is created 0600 before SQLite opens it (SQLite gives its side files the database's mode), and
  looser files left by an older version are tightened on open;
- ``secure_delete``: a deleted or rewritten row is overwritten with zeros in its page, and freed pages too;
- the write-ahead log is emptied after every transaction (:meth:`ClientStore.transaction` ends with a
  ``wal_checkpoint(TRUNCATE)``): a WAL frame is a whole page as it was written, so without this the state an
  old epoch had stays in the log, frame after frame, until SQLite happens to reuse that part of the file.
  The commit itself is durable before the checkpoint starts (``synchronous=FULL``); the checkpoint copies the
  pages into the database, syncs it and truncates the log. A checkpoint that another connection's open read
  blocks is not waited for: the next transaction (or :meth:`ClientStore.close`) empties the log then;
- temporary tables and statement journals stay in memory (``temp_store=MEMORY``), never in a temporary file.

In memory the store keeps no copy of what it reads or writes (Python and SQLite do not zero the memory they
free; nothing here can).

The schema has a version (``PRAGMA user_version``, :data:`~.store_schema.SCHEMA_VERSION`); a database made by an
older pyxmtp is migrated when opened, in one transaction (:mod:`.store_schema`), and one made by a newer pyxmtp is
refused.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from .content_fields import content_fields
from .records import (
    CONSENT_CONVERSATION,
    CONSENT_INBOX,
    MESSAGE_FIELDS,
    ConsentRecord,
    ConversationRecord,
    DeliveryStatus,
    KeyPackageRecord,
    MessageKind,
    MessageQuery,
    MessageRecord,
    Outgoing,
    message_from_row,
    optional_bytes,
)
from .store_archive import ArchiveStoreMixin, RestoredRecord
from .store_leave import LeaveRequestRows
from .store_schema import SCHEMA_VERSION, SchemaError, migrate
from .store_welcomes import OwnWelcomeRows

__all__ = [
    "CONSENT_CONVERSATION",
    "CONSENT_INBOX",
    "SCHEMA_VERSION",
    "ClientStore",
    "ClientStoreError",
    "ConsentRecord",
    "ConversationRecord",
    "DeliveryStatus",
    "KeyPackageRecord",
    "MessageKind",
    "MessageQuery",
    "MessageRecord",
    "Outgoing",
    "RestoredRecord",
]

log = logging.getLogger("pyxmtp.client")


class ClientStoreError(Exception):
    """The database cannot be opened as asked (a wrong or missing encryption key, the extra not installed, a
    file that cannot be opened)."""


#: How long a statement waits for another connection's lock (Python's default), except the log's scrub.
_BUSY_TIMEOUT_MS = 5000

#: An encrypted database's key: 32 bytes (SQLCipher's raw key, no passphrase derivation).
ENCRYPTION_KEY_LENGTH = 32


#: The database's own files: SQLite's side files are named after it.
_SIDE_FILES = ("-wal", "-shm", "-journal")
_OWNER_ONLY = 0o600


def _owner_only(path: Path) -> None:
    """Create the database file 0600 if it is new (SQLite would make it 0644, and its ``-wal`` and ``-shm``
    take the database's mode); make an existing database and its side files 0600 if anyone else could read
    them."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, _OWNER_ONLY)
        try:
            if os.fstat(fd).st_mode & 0o777 != _OWNER_ONLY:
                os.fchmod(fd, _OWNER_ONLY)
        finally:
            os.close(fd)
        for suffix in _SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.exists() and side.stat().st_mode & 0o777 != _OWNER_ONLY:
                side.chmod(_OWNER_ONLY)
    except OSError as exc:
        raise ClientStoreError(f"{path} cannot be opened (owner-only): {exc.strerror}") from exc


def _connect(path: Path | None, encryption_key: bytes | None) -> sqlite3.Connection:
    target = ":memory:" if path is None else str(path)
    if encryption_key is None:
        if path is not None:
            _owner_only(path)
        db = sqlite3.connect(target, isolation_level=None)
    else:
        if len(encryption_key) != ENCRYPTION_KEY_LENGTH:
            raise ValueError(f"an encryption key is {ENCRYPTION_KEY_LENGTH} bytes, got {len(encryption_key)}")
        try:
            import sqlcipher3  # the encrypted extra
        except ImportError:
            raise ClientStoreError(
                "an encrypted database needs the encrypted extra: pip install 'pyxmtp[encrypted]'"
            ) from None
        if path is not None:
            _owner_only(path)
        db = sqlcipher3.connect(target, isolation_level=None)
        db.execute(f"PRAGMA key = \"x'{encryption_key.hex()}'\"")
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except Exception as exc:  # sqlite3 / sqlcipher3 DatabaseError: "file is not a database"
        db.close()
        state = "encrypted with another key" if encryption_key is not None else "encrypted (give its key)"
        raise ClientStoreError(
            f"{target} cannot be read: it is not a pyxmtp database or it is {state}"
        ) from exc
    return db


class ClientStore(OwnWelcomeRows, LeaveRequestRows, ArchiveStoreMixin):
    """The local database at ``path`` (``None``: in memory, gone when closed), encrypted with SQLCipher (AES-256,
    every page) when an ``encryption_key`` is given: then the file holds no key or message in the clear."""

    def __init__(self, path: str | Path | None = None, *, encryption_key: bytes | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.encrypted = encryption_key is not None
        self._db = _connect(self.path, encryption_key)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")  # deleted keys are overwritten, not left in free pages
        self._db.execute("PRAGMA temp_store=MEMORY")
        try:
            migrate(self._db)
        except SchemaError as exc:
            self._db.close()
            raise ClientStoreError(str(exc)) from exc
        self._depth = 0
        self._open = True
        self.scrub()  # a log left by a crash, or by a version that did not empty it

    def close(self) -> None:
        if self._open:
            self.scrub()
            self._open = False
        self._db.close()

    def scrub(self) -> bool:
        """Empty the write-ahead log into the database (see the module docstring); false if another connection
        is reading and the log could not be emptied now (the next transaction tries again)."""
        if self.path is None or self._depth:
            return True
        db = self._db
        try:
            # another connection reading: do not wait for it, the next transaction tries again
            db.execute("PRAGMA busy_timeout = 0")
            try:
                busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        except Exception as exc:  # sqlite3's or sqlcipher3's Error: the commit is durable all the same
            log.warning("the write-ahead log of %s could not be emptied: %s", self.path, exc)
            return False
        return not busy

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside commits together (nested uses join the outer transaction); once the
        outermost one has committed, the write-ahead log is emptied (:meth:`scrub`). Write inside one: a
        statement outside it is a transaction of its own, whose log is emptied only by the next one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0
        self.scrub()  # what the transaction deleted leaves the log too

    # --- installation -------------------------------------------------------------------------------------
    def installation(self) -> tuple[bytes, str, int, bytes] | None:
        """``(installation seed, inbox id, inbox nonce, sender-HMAC key)``, or None for a new database."""
        row = self._db.execute("SELECT seed, inbox_id, nonce, hmac_key FROM installation").fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]), int(row[2]), bytes(row[3]))

    def set_installation(self, seed: bytes, inbox_id: str, nonce: int, hmac_key: bytes) -> None:
        self._db.execute("INSERT INTO installation VALUES (1, ?, ?, ?, ?)", (seed, inbox_id, nonce, hmac_key))

    def set_hmac_key(self, hmac_key: bytes) -> None:
        """Replace the inbox's sender-HMAC key (device sync: the one the inbox's installations agree on)."""
        self._db.execute("UPDATE installation SET hmac_key = ?", (hmac_key,))

    # --- key packages -------------------------------------------------------------------------------------
    def add_key_package(self, record: KeyPackageRecord) -> None:
        self._db.execute(
            "INSERT INTO key_packages VALUES (?, ?, ?, ?, ?)",
            (
                record.hpke_public_key,
                record.bundle,
                record.wrapper_private_key,
                record.created_ns,
                record.delete_at_ns,
            ),
        )

    def key_package(self, hpke_public_key: bytes) -> KeyPackageRecord | None:
        row = self._db.execute(
            "SELECT * FROM key_packages WHERE hpke_public_key = ?", (hpke_public_key,)
        ).fetchone()
        return (
            None
            if row is None
            else KeyPackageRecord(bytes(row[0]), bytes(row[1]), optional_bytes(row[2]), row[3], row[4])
        )

    def retire_key_packages(self, keep: bytes, delete_at_ns: int) -> None:
        """Schedule every key package but ``keep`` for deletion at ``delete_at_ns`` (if not scheduled earlier)."""
        self._db.execute(
            "UPDATE key_packages SET delete_at_ns = ? WHERE hpke_public_key != ? AND delete_at_ns IS NULL",
            (delete_at_ns, keep),
        )

    def delete_expired_key_packages(self, now_ns: int) -> int:
        cur = self._db.execute(
            "DELETE FROM key_packages WHERE delete_at_ns IS NOT NULL AND delete_at_ns <= ?", (now_ns,)
        )
        return cur.rowcount

    def newest_key_package_ns(self) -> int | None:
        """When the current key package was made (None: there is none)."""
        row = self._db.execute(
            "SELECT max(created_ns) FROM key_packages WHERE delete_at_ns IS NULL"
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def key_package_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM key_packages").fetchone()[0])

    # --- cursors ------------------------------------------------------------------------------------------
    def cursor(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def set_cursor(self, name: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO cursors VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def delete_cursor(self, name: str, value: int | None = None) -> None:
        """Forget a cursor (only if it still holds ``value``, when given)."""
        if value is None:
            self._db.execute("DELETE FROM cursors WHERE name = ?", (name,))
        else:
            self._db.execute("DELETE FROM cursors WHERE name = ? AND value = ?", (name, value))

    def cursors_with_prefix(self, prefix: str) -> dict[str, int]:
        """The cursors whose names start with ``prefix``, by the rest of their names."""
        rows = self._db.execute(
            "SELECT name, value FROM cursors WHERE substr(name, 1, ?) = ?", (len(prefix), prefix)
        ).fetchall()
        return {str(r[0])[len(prefix) :]: int(r[1]) for r in rows}

    # --- conversations ------------------------------------------------------------------------------------
    def conversation(self, group_id: bytes) -> ConversationRecord | None:
        row = self._db.execute("SELECT * FROM conversations WHERE group_id = ?", (group_id,)).fetchone()
        return (
            None if row is None else ConversationRecord(bytes(row[0]), bytes(row[1]), row[2], row[3], row[4])
        )

    def conversations(self) -> list[ConversationRecord]:
        rows = self._db.execute("SELECT * FROM conversations ORDER BY created_ns").fetchall()
        return [ConversationRecord(bytes(r[0]), bytes(r[1]), r[2], r[3], r[4]) for r in rows]

    def conversation_ids(self) -> list[bytes]:
        """Every conversation's group id, oldest first (by ``created_ns``)."""
        rows = self._db.execute("SELECT group_id FROM conversations ORDER BY created_ns").fetchall()
        return [bytes(r[0]) for r in rows]

    def save_conversation(self, record: ConversationRecord) -> None:
        """Insert a new conversation; never overwrites one (``sqlite3.IntegrityError`` if its group is held). A
        conversation restored from an archive with its id is live from now on: its restored row goes."""
        self.forget_restored(record.group_id)
        self._db.execute(
            "INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
            (record.group_id, record.state, record.cursor, record.created_ns, record.added_by),
        )

    def replace_conversation(self, record: ConversationRecord) -> None:
        """Overwrite a held conversation's state, cursor, creation time and adder (we were added back to a group
        that removed us: its messages stay)."""
        self._db.execute(
            "UPDATE conversations SET state = ?, cursor = ?, created_ns = ?, added_by = ? WHERE group_id = ?",
            (record.state, record.cursor, record.created_ns, record.added_by, record.group_id),
        )

    def update_conversation(self, group_id: bytes, state: bytes, cursor: int) -> None:
        self._db.execute(
            "UPDATE conversations SET state = ?, cursor = ? WHERE group_id = ?", (state, cursor, group_id)
        )

    # --- messages -----------------------------------------------------------------------------------------
    def add_message(
        self, record: MessageRecord, payload_hash: bytes | None = None, outgoing: Outgoing | None = None
    ) -> bool:
        """Store a message (ours with the hash of its MLS bytes and, until published, ``outgoing``); false if one
        with its id is already there (a replay or a duplicate). Its content type and referenced message are read
        from its content here."""
        return self.insert_message(record, payload_hash, outgoing) is not None

    def insert_message(
        self, record: MessageRecord, payload_hash: bytes | None = None, outgoing: Outgoing | None = None
    ) -> MessageRecord | None:
        """:meth:`add_message`, answering the record as stored (with the content type and referenced message read
        from its content, as :meth:`message` would give it), or None if one with its id is already there."""
        fields = content_fields(record.content)
        ctype = fields.content_type
        cur = self._db.execute(
            f"INSERT INTO messages ({self._INSERT_COLUMNS}) VALUES ({', '.join('?' * 19)}) "
            "ON CONFLICT (message_id) DO NOTHING",
            (
                record.message_id,
                record.group_id,
                record.server_id,
                record.sender_inbox_id,
                record.sender_installation,
                record.sent_ns,
                record.content,
                int(record.delivery_status),
                payload_hash,
                None if outgoing is None else outgoing.payload,
                None if outgoing is None else outgoing.idempotency_key,
                None if outgoing is None else int(outgoing.should_push),
                int(record.kind),
                None if ctype is None else ctype.authority_id,
                None if ctype is None else ctype.type_id,
                None if ctype is None else ctype.version_major,
                None if ctype is None else ctype.version_minor,
                fields.reference_id,
                record.sent_ns if record.inserted_ns is None else record.inserted_ns,
            ),
        )
        if cur.rowcount != 1:
            return None
        return replace(
            record,
            content_type=ctype,
            reference_id=fields.reference_id,
            inserted_ns=record.sent_ns if record.inserted_ns is None else record.inserted_ns,
        )

    def mark_published(self, payload_hash: bytes, server_id: int, sent_ns: int) -> bool:
        """Our own message came back from the node: record its id and the node's time, and drop the bytes kept to
        publish it again. False if not ours or already published (a message marked failed that turns up on the
        node after all is published: the node has it)."""
        cur = self._db.execute(
            "UPDATE messages SET delivery_status = 1, server_id = ?, sent_ns = ?, payload = NULL "
            "WHERE payload_hash = ? AND delivery_status != 1",
            (server_id, sent_ns, payload_hash),
        )
        return cur.rowcount == 1

    def unpublished(self, group_id: bytes) -> list[tuple[MessageRecord, Outgoing]]:
        """The group's own messages not yet published, in the order they were stored."""
        rows = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS}, payload, idempotency_key, should_push FROM messages "
            "WHERE group_id = ? AND delivery_status = 0 AND idempotency_key IS NOT NULL ORDER BY rowid",
            (group_id,),
        ).fetchall()
        n = MESSAGE_FIELDS
        return [
            (
                message_from_row(r),
                Outgoing(optional_bytes(r[n]), str(r[n + 1]), r[n + 2] is None or bool(r[n + 2])),
            )
            for r in rows
        ]

    def groups_with_unpublished(self) -> list[bytes]:
        """The groups that have own messages not yet published."""
        rows = self._db.execute(
            "SELECT DISTINCT group_id FROM messages WHERE delivery_status = 0 AND idempotency_key IS NOT NULL"
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def replace_payload(self, message_id: bytes, payload: bytes, payload_hash: bytes) -> None:
        """An unpublished message of ours was encrypted again (for a later epoch): these bytes are the ones to
        publish now."""
        self._db.execute(
            "UPDATE messages SET payload = ?, payload_hash = ? WHERE message_id = ? AND delivery_status = 0",
            (payload, payload_hash, message_id),
        )

    def mark_failed(self, message_id: bytes) -> None:
        """An own message can never be published: keep it, marked failed, without its MLS bytes."""
        self._db.execute(
            "UPDATE messages SET delivery_status = 2, payload = NULL WHERE message_id = ? AND delivery_status = 0",
            (message_id,),
        )

    def is_own_payload(self, payload_hash: bytes) -> bool:
        row = self._db.execute("SELECT 1 FROM messages WHERE payload_hash = ?", (payload_hash,)).fetchone()
        return row is not None

    _INSERT_COLUMNS = (
        "message_id, group_id, server_id, sender_inbox_id, sender_installation, sent_ns, content, delivery_status, "
        "payload_hash, payload, idempotency_key, should_push, kind, content_authority, content_type, "
        "content_major, content_minor, reference_id, inserted_ns"
    )
    _MESSAGE_COLUMNS = (
        "message_id, group_id, server_id, sender_inbox_id, sender_installation, sent_ns, content, delivery_status, "
        "kind, content_authority, content_type, content_major, content_minor, reference_id, inserted_ns"
    )

    def messages(self, group_id: bytes) -> list[MessageRecord]:
        rows = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE group_id = ? ORDER BY sent_ns, rowid",
            (group_id,),
        ).fetchall()
        return [message_from_row(r) for r in rows]

    def delete_messages(self, group_id: bytes) -> int:
        """Delete every message of the group (one whose creation failed); how many."""
        return self._db.execute("DELETE FROM messages WHERE group_id = ?", (group_id,)).rowcount

    def delete_local_conversation_rows(self, group_id: bytes) -> int:
        """Delete, in one transaction, the group's messages and its leave-request rows (a conversation whose
        creation failed, or dropped locally): nothing about it is left to act on later; how many rows went."""
        with self.transaction():
            return self.delete_messages(group_id) + self.delete_leave_rows(group_id)

    def delete_messages_sent_between(self, group_id: bytes, start_ns: int, end_ns: int) -> int:
        """Delete the group's messages sent in ``[start_ns, end_ns)``; how many (disappearing messages)."""
        cur = self._db.execute(
            "DELETE FROM messages WHERE group_id = ? AND sent_ns >= ? AND sent_ns < ?",
            (group_id, start_ns, end_ns),
        )
        return cur.rowcount

    def message_by_server_id(self, group_id: bytes, server_id: int) -> MessageRecord | None:
        row = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE group_id = ? AND server_id = ?",
            (group_id, server_id),
        ).fetchone()
        return None if row is None else message_from_row(row)

    def messages_in_server_range(self, group_id: bytes, after: int, upto: int) -> list[MessageRecord]:
        """The group's stored messages the node numbered above ``after`` and up to ``upto``, in the node's order."""
        rows = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE group_id = ? AND server_id > ? AND server_id <= ? "
            "ORDER BY server_id",
            (group_id, after, upto),
        ).fetchall()
        return [message_from_row(r) for r in rows]

    def message_by_payload(self, payload_hash: bytes) -> MessageRecord | None:
        """Our own message whose MLS bytes hash to ``payload_hash``."""
        row = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE payload_hash = ?", (payload_hash,)
        ).fetchone()
        return None if row is None else message_from_row(row)

    def message(self, message_id: bytes) -> MessageRecord | None:
        row = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)
        ).fetchone()
        return None if row is None else message_from_row(row)

    def query_messages(self, group_id: bytes, query: MessageQuery) -> list[MessageRecord]:
        """The group's messages that ``query`` selects, by send time (then storage order)."""
        where, args = query.where()
        order = "DESC" if query.descending else "ASC"
        limit = "" if query.limit is None else f" LIMIT {max(0, int(query.limit))}"
        rows = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE group_id = ?{where} "
            f"ORDER BY sent_ns {order}, rowid {order}{limit}",
            (group_id, *args),
        ).fetchall()
        return [message_from_row(r) for r in rows]

    def count_messages(self, group_id: bytes, query: MessageQuery) -> int:
        """How many of the group's messages ``query`` selects (its order and limit aside)."""
        where, args = query.where()
        row = self._db.execute(f"SELECT count(*) FROM messages WHERE group_id = ?{where}", (group_id, *args))
        return int(row.fetchone()[0])

    def referring(
        self, group_id: bytes, message_ids: Sequence[bytes], content_type: tuple[str, str]
    ) -> dict[bytes, list[MessageRecord]]:
        """The group's messages of ``content_type`` (``(authority, type id)``) that refer to each of
        ``message_ids`` (reactions, replies), in send order."""
        out: dict[bytes, list[MessageRecord]] = {}
        for start in range(0, len(message_ids), _IN_BATCH):
            batch = list(message_ids[start : start + _IN_BATCH])
            rows = self._db.execute(
                f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE group_id = ? AND content_authority = ? "
                f"AND content_type = ? AND reference_id IN ({', '.join('?' for _ in batch)}) "
                "ORDER BY sent_ns, rowid",
                (group_id, *content_type, *batch),
            ).fetchall()
            for row in rows:
                record = message_from_row(row)
                assert record.reference_id is not None
                out.setdefault(record.reference_id, []).append(record)
        return out

    def messages_by_ids(self, group_id: bytes, message_ids: Sequence[bytes]) -> dict[bytes, MessageRecord]:
        """Those of ``message_ids`` the group has."""
        out: dict[bytes, MessageRecord] = {}
        for start in range(0, len(message_ids), _IN_BATCH):
            batch = list(message_ids[start : start + _IN_BATCH])
            rows = self._db.execute(
                f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE group_id = ? "
                f"AND message_id IN ({', '.join('?' for _ in batch)})",
                (group_id, *batch),
            ).fetchall()
            out.update((bytes(r[0]), message_from_row(r)) for r in rows)
        return out

    def last_message_ns(self) -> dict[bytes, int]:
        """Each group's newest message time (application messages and transcript entries alike)."""
        rows = self._db.execute("SELECT group_id, max(sent_ns) FROM messages GROUP BY group_id").fetchall()
        return {bytes(r[0]): int(r[1]) for r in rows}

    def latest_by_sender(self, group_id: bytes, content_type: tuple[str, str]) -> dict[str, int]:
        """Each sender's newest message time among the group's messages of ``content_type``."""
        rows = self._db.execute(
            "SELECT sender_inbox_id, max(sent_ns) FROM messages WHERE group_id = ? AND content_authority = ? "
            "AND content_type = ? GROUP BY sender_inbox_id",
            (group_id, *content_type),
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    # --- consent ------------------------------------------------------------------------------------------
    def consent(self, entity_type: int, entity: str) -> ConsentRecord | None:
        row = self._db.execute(
            "SELECT entity_type, entity, state, updated_ns FROM consent WHERE entity_type = ? AND entity = ?",
            (entity_type, entity),
        ).fetchone()
        return None if row is None else ConsentRecord(int(row[0]), str(row[1]), int(row[2]), int(row[3]))

    def consents(self, entity_type: int | None = None) -> list[ConsentRecord]:
        """Every consent record (of one entity type)."""
        sql = "SELECT entity_type, entity, state, updated_ns FROM consent"
        rows = (
            self._db.execute(sql).fetchall()
            if entity_type is None
            else self._db.execute(sql + " WHERE entity_type = ?", (entity_type,)).fetchall()
        )
        return [ConsentRecord(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]

    def set_consent(self, record: ConsentRecord) -> bool:
        """Record a consent decision (replacing the entity's earlier one); whether the state changed."""
        old = self.consent(record.entity_type, record.entity)
        self._db.execute(
            "INSERT INTO consent VALUES (?, ?, ?, ?) ON CONFLICT (entity_type, entity) "
            "DO UPDATE SET state = excluded.state, updated_ns = excluded.updated_ns",
            (record.entity_type, record.entity, record.state, record.updated_ns),
        )
        return old is None or old.state != record.state


#: At most this many ids in one ``IN (...)`` (SQLite's default limit on parameters is far above).
_IN_BATCH = 500
