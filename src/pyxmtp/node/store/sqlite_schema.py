"""The SQLite schema of the node's store (version :data:`SCHEMA_VERSION`), its migrations and its statements.

Tables follow xmtp-node-go's (``pkg/migrations/mls``): group_messages and welcome_messages, installations
(latest key package) plus key_packages (history), inbox_log and address_log, commit_log. The PostgreSQL backend
can use the same column names.

Deduplication differs in one respect. welcome_messages keeps xmtp-node-go's unique SHA-256 column, but
group_messages, the hot table, does not: a unique index on a random key dirties one random index page per
inserted row, and since SQLite's WAL logs whole pages, every commit wrote about a 4 KiB page per message for
that index alone (measured: two thirds of the writer's time). Group messages carry instead a 64-bit
``dedupe_key`` (the first 8 bytes of SHA-256(group_id || data), big-endian, signed) that
:mod:`.sqlite_dedupe` indexes in two tiers: recent keys in the writer's memory (rebuilt from this table at
start-up), older ones in ``group_message_keys``, into which the recent ones move in sorted bulk, one key range
at a time. Equal keys are only candidates: the payloads themselves are compared.
"""

from __future__ import annotations

import functools
import sqlite3

SCHEMA_VERSION = 2

SCHEMA = """
-- Ids of group and welcome messages are assigned by the writer from ``sequences`` (never reused, gaps allowed),
-- which is cheaper than AUTOINCREMENT and lets a whole batch be inserted with one statement.
CREATE TABLE IF NOT EXISTS sequences(
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS group_messages(
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    group_id BLOB NOT NULL,
    data BLOB NOT NULL,
    dedupe_key INTEGER NOT NULL,  -- SHA-256(group_id || data)[:8], big-endian, signed: not unique
    sender_hmac BLOB NOT NULL,
    should_push INTEGER NOT NULL,
    is_commit INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS group_messages_group_id_id ON group_messages(group_id, id);

-- The older tier of the group-message dedupe index (see sqlite_dedupe), and per key range (bucket: the key's
-- top 8 bits + 128) the id up to which every stored message of that range has its key in it.
CREATE TABLE IF NOT EXISTS group_message_keys(
    dedupe_key INTEGER NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (dedupe_key, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_message_keys_flushed(
    bucket INTEGER PRIMARY KEY,
    id INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS welcome_messages(
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    installation_key BLOB NOT NULL,
    data BLOB NOT NULL,
    installation_key_data_hash BLOB NOT NULL UNIQUE,
    hpke_public_key BLOB NOT NULL,
    wrapper_algorithm INTEGER NOT NULL,
    welcome_metadata BLOB NOT NULL,
    message_type INTEGER NOT NULL  -- 0 = WelcomeMessage.V1, 1 = welcome pointer
);
CREATE INDEX IF NOT EXISTS welcome_messages_installation_key_id ON welcome_messages(installation_key, id);

CREATE TABLE IF NOT EXISTS installations(
    installation_key BLOB PRIMARY KEY,
    key_package BLOB NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS key_packages(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    installation_key BLOB NOT NULL,
    key_package_hash BLOB NOT NULL,
    key_package BLOB NOT NULL,
    created_ns INTEGER NOT NULL,
    UNIQUE(installation_key, key_package_hash)
);

CREATE TABLE IF NOT EXISTS inbox_log(
    sequence_id INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id TEXT NOT NULL,
    server_timestamp_ns INTEGER NOT NULL,
    identity_update BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_log_inbox_id_sequence_id ON inbox_log(inbox_id, sequence_id);

CREATE TABLE IF NOT EXISTS address_log(
    address TEXT NOT NULL,
    inbox_id TEXT NOT NULL,
    association_sequence_id INTEGER NOT NULL,
    revocation_sequence_id INTEGER
);
CREATE INDEX IF NOT EXISTS address_log_address ON address_log(address, association_sequence_id);

CREATE TABLE IF NOT EXISTS commit_log(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ns INTEGER NOT NULL,
    group_id BLOB NOT NULL,
    entry BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS commit_log_group_id_id ON commit_log(group_id, id);
"""

GROUP_COLUMNS = "id, created_ns, group_id, data, sender_hmac, should_push, is_commit"
WELCOME_COLUMNS = "id, created_ns, installation_key, data, hpke_public_key, wrapper_algorithm, welcome_metadata, message_type"
WELCOME_INSERT = (
    "welcome_messages",
    "id, created_ns, installation_key, data, installation_key_data_hash, hpke_public_key, wrapper_algorithm, "
    "welcome_metadata, message_type",
    "installation_key_data_hash",
)
#: Rows per multi-row INSERT statement (9 columns x 400 stays far below SQLite's 32766 variables).
ROWS_PER_STATEMENT = 400
SEQUENCED_TABLES = ("group_messages", "welcome_messages")

#: The columns of a group message the caller supplies, in this order, per row of a flat parameter list.
GROUP_ROW_WIDTH = 6  # group_id, data, dedupe_key, sender_hmac, should_push, is_commit
GROUP_MESSAGE_INSERT_ONE = (
    "INSERT INTO group_messages(id, created_ns, group_id, data, dedupe_key, sender_hmac, should_push, is_commit) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@functools.lru_cache(maxsize=64)
def multi_row_insert(spec: tuple[str, str, str], rows: int) -> str:
    """``INSERT INTO table(columns) VALUES (...), ... ON CONFLICT(unique) DO NOTHING`` for ``rows`` rows."""
    table, columns, unique = spec
    row = "(" + ", ".join("?" * (columns.count(",") + 1)) + ")"
    values = ", ".join([row] * rows)
    return f"INSERT INTO {table}({columns}) VALUES {values} ON CONFLICT({unique}) DO NOTHING"


@functools.lru_cache(maxsize=128)
def group_messages_insert(rows: int) -> str:
    """Insert ``rows`` group messages with consecutive ids: parameters ``[first_id, created_ns, *flat_rows]``.

    One multi-row statement rather than executemany: SQLite then does all the rows in a single ``sqlite3_step``
    (one release of the GIL instead of one per row, and no per-row Python).
    """
    values = ", ".join(
        f"(?1 + {i}, ?2, ?, ?, ?, ?, ?, ?)" if i else "(?1, ?2, ?, ?, ?, ?, ?, ?)" for i in range(rows)
    )
    return (
        "INSERT INTO group_messages(id, created_ns, group_id, data, dedupe_key, sender_hmac, should_push, "
        f"is_commit) VALUES {values}"
    )


def dedupe_key(digest: bytes) -> int:
    """The 64-bit dedupe key of a SHA-256 digest of ``group_id || data``."""
    return int.from_bytes(digest[:8], "big", signed=True)


_V1_TO_V2 = (
    """
ALTER TABLE group_messages RENAME TO group_messages_v1;
DROP INDEX IF EXISTS group_messages_group_id_id;
"""
    + SCHEMA
    + """
INSERT INTO group_messages(id, created_ns, group_id, data, dedupe_key, sender_hmac, should_push, is_commit)
    SELECT id, created_ns, group_id, data, pyxmtp_dedupe_key(group_id_data_hash), sender_hmac, should_push,
           is_commit
    FROM group_messages_v1 ORDER BY id;
DROP TABLE group_messages_v1;
INSERT INTO group_message_keys(dedupe_key, id) SELECT dedupe_key, id FROM group_messages ORDER BY dedupe_key, id;
-- every key range is complete up to the newest id
WITH RECURSIVE buckets(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM buckets WHERE n < 255)
INSERT INTO group_message_keys_flushed(bucket, id)
    SELECT n, (SELECT COALESCE(MAX(id), 0) FROM group_messages) FROM buckets;
"""
)


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a database from ``version`` (0: empty) to :data:`SCHEMA_VERSION` in one transaction.

    v1 -> v2: group_messages trades its unique SHA-256 column for ``dedupe_key`` and the two-tier index.
    """
    conn.create_function("pyxmtp_dedupe_key", 1, dedupe_key, deterministic=True)
    steps = {0: SCHEMA, 1: _V1_TO_V2}[version]
    try:
        conn.executescript(f"BEGIN IMMEDIATE; {steps}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
