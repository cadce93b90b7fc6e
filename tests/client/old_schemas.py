"""Client databases as older pyxmtp versions made them: a database written by today's code, rewritten to an
older schema (checked to be exactly that schema), to test the migrations from it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: Schema version 0: before delivery status (no version number).
VERSION_0 = """
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
    published INTEGER NOT NULL, payload_hash BLOB
);
CREATE INDEX IF NOT EXISTS messages_by_group ON messages (group_id, sent_ns);
CREATE INDEX IF NOT EXISTS messages_by_payload ON messages (payload_hash);
"""

#: Schema version 1: delivery status and what an unpublished message needs.
VERSION_1 = """
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
    delivery_status INTEGER NOT NULL, payload_hash BLOB, payload BLOB, idempotency_key TEXT, should_push INTEGER
);
CREATE INDEX IF NOT EXISTS messages_by_group ON messages (group_id, sent_ns);
CREATE INDEX IF NOT EXISTS messages_by_payload ON messages (payload_hash);
CREATE INDEX IF NOT EXISTS messages_unpublished ON messages (group_id) WHERE delivery_status = 0
"""

#: Schema version 2: message kinds, content types and references; consent.
VERSION_2 = """
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
)
"""


def _schema(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
    return ["".join(r[0].split()).replace("IFNOTEXISTS", "") for r in rows]


def _expect(db: sqlite3.Connection, script: str) -> None:
    old = sqlite3.connect(":memory:")
    old.executescript(script)
    expected = _schema(old)
    old.close()
    assert _schema(db) == expected


def _rewrite(path: Path, statements: list[str], script: str) -> None:
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute("BEGIN")
        for statement in statements:
            db.execute(statement)
        db.execute("COMMIT")
        _expect(db, script)
    finally:
        db.close()


def to_version_4(path: Path) -> None:
    """Rewrite a client database of today's schema as schema version 4 kept it: no restored conversations."""
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute("DROP TABLE restored_conversations")
        db.execute("PRAGMA user_version = 4")
    finally:
        db.close()


def to_version_2(path: Path) -> None:
    """Rewrite a client database of today's schema as schema version 2 kept it: no leave requests, no owed
    welcomes."""
    to_version_4(path)
    _rewrite(
        path,
        [
            "DROP TABLE pending_removals",
            "DROP TABLE leave_requests",
            "DROP TABLE own_welcomes",
            "PRAGMA user_version = 2",
        ],
        VERSION_2,
    )


def to_version_1(path: Path) -> None:
    """Rewrite a client database of today's schema as schema version 1 kept it."""
    to_version_2(path)
    columns = ("kind", "content_authority", "content_type", "content_major", "content_minor", "reference_id")
    _rewrite(
        path,
        [
            "DROP INDEX messages_by_reference",
            "DROP TABLE consent",
            *(f"ALTER TABLE messages DROP COLUMN {c}" for c in (*columns, "inserted_ns")),
            "PRAGMA user_version = 1",
        ],
        VERSION_1,
    )


def to_version_0(path: Path) -> None:
    """Rewrite a client database of today's schema as the old code kept it: no delivery status or kept bytes, no
    version."""
    to_version_1(path)
    _rewrite(
        path,
        [
            "DROP INDEX messages_unpublished",
            *(f"ALTER TABLE messages DROP COLUMN {c}" for c in ("payload", "idempotency_key", "should_push")),
            "ALTER TABLE messages RENAME COLUMN delivery_status TO published",
            "PRAGMA user_version = 0",
        ],
        VERSION_0,
    )
