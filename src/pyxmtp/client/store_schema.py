"""The client database's schema, its version (``PRAGMA user_version``) and the migrations from older ones.

A database made by an older pyxmtp is migrated when opened, in one transaction (:func:`migrate`); one made by a
newer pyxmtp is refused. ``MIGRATIONS[v]`` takes a database from version ``v`` to ``v + 1``: SQL statements, or
functions of the connection for what SQL cannot compute (a message's content type is in its protobuf).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .content_fields import MessageKind, content_fields, transcript_entry_id
from .store_welcomes import OWN_WELCOMES_TABLE

#: The version of the schema below; 0 is the unversioned schema of pyxmtp before versions.
SCHEMA_VERSION = 5

#: ``consent.entity_type`` (libxmtp's ``ConsentType``): a conversation (its group id in lowercase hex) or an inbox.
CONSENT_CONVERSATION = 1
CONSENT_INBOX = 2

_RESTORED_TABLE = """CREATE TABLE IF NOT EXISTS restored_conversations (
    group_id BLOB PRIMARY KEY, conversation_type INTEGER NOT NULL, created_ns INTEGER NOT NULL,
    imported_ns INTEGER NOT NULL, creator_inbox_id TEXT NOT NULL, added_by TEXT NOT NULL, dm_id TEXT,
    attributes TEXT NOT NULL, disappear_from_ns INTEGER, disappear_in_ns INTEGER, last_message_ns INTEGER
)"""

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS installation (
    id INTEGER PRIMARY KEY CHECK (id = 1), seed BLOB NOT NULL, inbox_id TEXT NOT NULL, nonce INTEGER NOT NULL,
    hmac_key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS key_packages (
    hpke_public_key BLOB PRIMARY KEY, bundle BLOB NOT NULL, wrapper_private_key BLOB,
    created_ns INTEGER NOT NULL, delete_at_ns INTEGER
);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    group_id BLOB PRIMARY KEY, state BLOB NOT NULL, cursor INTEGER NOT NULL, created_ns INTEGER NOT NULL,
    added_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    message_id BLOB PRIMARY KEY, group_id BLOB NOT NULL, server_id INTEGER, sender_inbox_id TEXT NOT NULL,
    sender_installation BLOB NOT NULL, sent_ns INTEGER NOT NULL, content BLOB NOT NULL,
    delivery_status INTEGER NOT NULL, payload_hash BLOB, payload BLOB, idempotency_key TEXT, should_push INTEGER,
    kind INTEGER NOT NULL DEFAULT 1, content_authority TEXT, content_type TEXT, content_major INTEGER,
    content_minor INTEGER, reference_id BLOB, inserted_ns INTEGER
);
CREATE INDEX IF NOT EXISTS messages_by_group ON messages (group_id, sent_ns);
CREATE INDEX IF NOT EXISTS messages_by_payload ON messages (payload_hash);
CREATE INDEX IF NOT EXISTS messages_unpublished ON messages (group_id) WHERE delivery_status = 0;
CREATE INDEX IF NOT EXISTS messages_by_reference ON messages (group_id, reference_id) WHERE reference_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS consent (
    entity_type INTEGER NOT NULL, entity TEXT NOT NULL, state INTEGER NOT NULL, updated_ns INTEGER NOT NULL,
    PRIMARY KEY (entity_type, entity)
);
CREATE TABLE IF NOT EXISTS pending_removals (
    group_id BLOB NOT NULL, inbox_id TEXT NOT NULL, message_id BLOB NOT NULL, PRIMARY KEY (group_id, inbox_id)
);
CREATE TABLE IF NOT EXISTS leave_requests (
    group_id BLOB PRIMARY KEY, message_id BLOB NOT NULL, requested_ns INTEGER NOT NULL
);
"""
    + OWN_WELCOMES_TABLE
    + ";\n"
    + _RESTORED_TABLE
)


def _fill_messages_v2(db: Any) -> None:
    """Each stored message's kind, content type and referenced message (version 1 kept none), and the consent
    libxmtp would have recorded for the conversations already held: allowed for one we created, or one where
    this installation sent a message (own messages are the ones with a payload hash); no record (unknown) for
    the others."""
    rows = db.execute("SELECT message_id, group_id, server_id, content, sent_ns FROM messages").fetchall()
    for message_id, group_id, server_id, content, sent_ns in rows:
        fields = content_fields(bytes(content))
        entry = server_id is not None and bytes(message_id) == transcript_entry_id(bytes(group_id), server_id)
        kind = MessageKind.MEMBERSHIP_CHANGE if entry else MessageKind.APPLICATION
        ctype = fields.content_type
        db.execute(
            "UPDATE messages SET kind = ?, content_authority = ?, content_type = ?, content_major = ?, "
            "content_minor = ?, reference_id = ?, inserted_ns = ? WHERE message_id = ?",
            (
                int(kind),
                None if ctype is None else ctype.authority_id,
                None if ctype is None else ctype.type_id,
                None if ctype is None else ctype.version_major,
                None if ctype is None else ctype.version_minor,
                fields.reference_id,
                sent_ns,
                message_id,
            ),
        )
    db.execute(
        "INSERT INTO consent (entity_type, entity, state, updated_ns) "
        f"SELECT {CONSENT_CONVERSATION}, lower(hex(c.group_id)), 1, c.created_ns FROM conversations c "
        "WHERE c.added_by = (SELECT inbox_id FROM installation) OR EXISTS ("
        "SELECT 1 FROM messages m WHERE m.group_id = c.group_id AND m.payload_hash IS NOT NULL)"
    )


Step = str | Callable[[Any], None]

MIGRATIONS: tuple[tuple[Step, ...], ...] = (
    # 0 -> 1: delivery status (published 0/1 becomes 0/1/2), and what an unpublished message needs to be published
    # again. Messages left unpublished by the old code have no bytes kept: they are encrypted again, with the
    # idempotency key the old code used (the send time), so they keep their message id.
    (
        "ALTER TABLE messages RENAME COLUMN published TO delivery_status",
        "ALTER TABLE messages ADD COLUMN payload BLOB",
        "ALTER TABLE messages ADD COLUMN idempotency_key TEXT",
        "ALTER TABLE messages ADD COLUMN should_push INTEGER",
        "UPDATE messages SET idempotency_key = CAST(sent_ns AS TEXT), should_push = 1 "
        "WHERE delivery_status = 0 AND payload_hash IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS messages_unpublished ON messages (group_id) WHERE delivery_status = 0",
    ),
    # 1 -> 2: a message's kind, content type, referenced message (replies, reactions) and insertion time, for
    # filtered and enriched lists; consent per conversation and per inbox.
    (
        "ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE messages ADD COLUMN content_authority TEXT",
        "ALTER TABLE messages ADD COLUMN content_type TEXT",
        "ALTER TABLE messages ADD COLUMN content_major INTEGER",
        "ALTER TABLE messages ADD COLUMN content_minor INTEGER",
        "ALTER TABLE messages ADD COLUMN reference_id BLOB",
        "ALTER TABLE messages ADD COLUMN inserted_ns INTEGER",
        "CREATE INDEX IF NOT EXISTS messages_by_reference ON messages (group_id, reference_id) "
        "WHERE reference_id IS NOT NULL",
        "CREATE TABLE IF NOT EXISTS consent (entity_type INTEGER NOT NULL, entity TEXT NOT NULL, "
        "state INTEGER NOT NULL, updated_ns INTEGER NOT NULL, PRIMARY KEY (entity_type, entity))",
        _fill_messages_v2,
    ),
    # 2 -> 3: leave requests (libxmtp's ``pending_remove`` table: who asked to leave which group, as every member
    # records it; and the groups we asked to leave ourselves, libxmtp's ``PendingRemove`` membership state)
    (
        "CREATE TABLE IF NOT EXISTS pending_removals (group_id BLOB NOT NULL, inbox_id TEXT NOT NULL, "
        "message_id BLOB NOT NULL, PRIMARY KEY (group_id, inbox_id))",
        "CREATE TABLE IF NOT EXISTS leave_requests (group_id BLOB PRIMARY KEY, message_id BLOB NOT NULL, "
        "requested_ns INTEGER NOT NULL)",
    ),
    # 3 -> 4: the welcomes our own commits owe, until the node has them
    (OWN_WELCOMES_TABLE,),
    # 4 -> 5: conversations restored from an archive (no MLS state: read-only until a welcome brings them)
    (_RESTORED_TABLE,),
)
assert len(MIGRATIONS) == SCHEMA_VERSION


class SchemaError(Exception):
    """The database's schema version is newer than this pyxmtp reads."""


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def migrate(db: Any) -> None:
    """Create the schema in a new database, or bring an older one up to :data:`SCHEMA_VERSION`, in one transaction
    (``executescript`` would commit on its own, so the statements run one by one). :class:`SchemaError` for a
    database of a newer version."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"the database has schema version {version}, made by a newer pyxmtp (this one reads up to "
                f"{SCHEMA_VERSION})"
            )
        made = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'").fetchone()
        steps: list[Step] = (
            list(_statements(SCHEMA))
            if made is None
            else [s for steps in MIGRATIONS[version:] for s in steps]
        )
        for step in steps:
            if isinstance(step, str):
                db.execute(step)
            else:
                step(db)
        if steps:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
