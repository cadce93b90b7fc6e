"""The SQLite schema of the node's store (version :data:`SCHEMA_VERSION`), its migrations and its statements.

Tables follow xmtp-node-go's (``pkg/migrations/mls``): group_messages and welcome_messages, installations
(latest key package) plus key_packages (history), inbox_log and address_log, commit_log. The PostgreSQL backend
can use the same column names.

Group messages differ in two respects, both for the hot path. They are stored as *runs* (``group_message_runs``,
see :mod:`.sqlite_runs`): a request's consecutive messages to one group share a row. And there is no unique
SHA-256 column: a unique index on a random key dirties one random index page per inserted row, and since
SQLite's WAL logs whole pages, every commit wrote about a 4 KiB page per message for that index alone (measured:
two thirds of the writer's time). Each message has instead a 64-bit dedupe key (the first 8 bytes of
SHA-256(group_id || data), big-endian, signed), kept in its run, that :mod:`.sqlite_dedupe` indexes in two
tiers: recent keys in the writer's memory (rebuilt from the runs at start-up), older ones in
``group_message_keys``, into which the recent ones move in sorted bulk, one key range at a time. Equal keys are
only candidates: the payloads themselves are compared.
"""

from __future__ import annotations

import functools
import sqlite3

from .sqlite_runs import IS_COMMIT, SHOULD_PUSH

SCHEMA_VERSION = 3

SCHEMA = """
-- Ids of group and welcome messages are assigned by the writer from ``sequences`` (never reused, gaps allowed),
-- which is cheaper than AUTOINCREMENT and lets a whole batch be inserted with one statement.
CREATE TABLE IF NOT EXISTS sequences(
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Consecutive group messages of one group, ids first_id .. first_id + count - 1 (see sqlite_runs for the
-- packed columns). The older ids of group messages lived in group_messages (schema versions 1 and 2).
CREATE TABLE IF NOT EXISTS group_message_runs(
    first_id INTEGER PRIMARY KEY,
    group_id BLOB NOT NULL,
    count INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    sizes BLOB NOT NULL,
    flags BLOB NOT NULL,
    dedupe_keys BLOB NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS group_message_runs_group_id_first_id ON group_message_runs(group_id, first_id);

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

WELCOME_COLUMNS = "id, created_ns, installation_key, data, hpke_public_key, wrapper_algorithm, welcome_metadata, message_type"
WELCOME_INSERT = (
    "welcome_messages",
    "id, created_ns, installation_key, data, installation_key_data_hash, hpke_public_key, wrapper_algorithm, "
    "welcome_metadata, message_type",
    "installation_key_data_hash",
)
#: Rows per multi-row INSERT statement (9 columns x 400 stays far below SQLite's 32766 variables).
ROWS_PER_STATEMENT = 400
#: Sequences kept in ``sequences`` (named after their tables), and how to read the newest id each table holds.
NEWEST_IDS = {
    "group_messages": "SELECT first_id + count - 1 FROM group_message_runs ORDER BY first_id DESC LIMIT 1",
    "welcome_messages": "SELECT id FROM welcome_messages ORDER BY id DESC LIMIT 1",
}


@functools.lru_cache(maxsize=64)
def multi_row_insert(spec: tuple[str, str, str], rows: int) -> str:
    """``INSERT INTO table(columns) VALUES (...), ... ON CONFLICT(unique) DO NOTHING`` for ``rows`` rows."""
    table, columns, unique = spec
    row = "(" + ", ".join("?" * (columns.count(",") + 1)) + ")"
    values = ", ".join([row] * rows)
    return f"INSERT INTO {table}({columns}) VALUES {values} ON CONFLICT({unique}) DO NOTHING"


def dedupe_key(digest: bytes) -> int:
    """The 64-bit dedupe key of a SHA-256 digest of ``group_id || data``."""
    return int.from_bytes(digest[:8], "big", signed=True)


# --- migrations -------------------------------------------------------------------------------------------------
# Each step is frozen as it shipped: later schema changes must not alter what an older step does.
_V1_TO_V2 = """
ALTER TABLE group_messages RENAME TO group_messages_v1;
DROP INDEX IF EXISTS group_messages_group_id_id;
CREATE TABLE group_messages(
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    group_id BLOB NOT NULL,
    data BLOB NOT NULL,
    dedupe_key INTEGER NOT NULL,
    sender_hmac BLOB NOT NULL,
    should_push INTEGER NOT NULL,
    is_commit INTEGER NOT NULL
);
CREATE TABLE group_message_keys(
    dedupe_key INTEGER NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (dedupe_key, id)
) WITHOUT ROWID;
CREATE TABLE group_message_keys_flushed(
    bucket INTEGER PRIMARY KEY,
    id INTEGER NOT NULL
);
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

# One run per stored message (their dedupe keys are in group_message_keys or rebuilt from the runs as before).
_V2_TO_V3 = """
CREATE TABLE group_message_runs(
    first_id INTEGER PRIMARY KEY,
    group_id BLOB NOT NULL,
    count INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    sizes BLOB NOT NULL,
    flags BLOB NOT NULL,
    dedupe_keys BLOB NOT NULL,
    payload BLOB NOT NULL
);
INSERT INTO group_message_runs(first_id, group_id, count, created_ns, sizes, flags, dedupe_keys, payload)
    SELECT id, group_id, 1, created_ns, pyxmtp_run_sizes(data, sender_hmac), pyxmtp_run_flags(should_push, is_commit),
           pyxmtp_run_keys(dedupe_key), pyxmtp_concat(data, sender_hmac)
    FROM group_messages ORDER BY id;
DROP TABLE group_messages;
CREATE INDEX group_message_runs_group_id_first_id ON group_message_runs(group_id, first_id);
"""


def _register_migration_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("pyxmtp_dedupe_key", 1, dedupe_key, deterministic=True)
    conn.create_function(
        "pyxmtp_run_sizes",
        2,
        lambda data, hmac: len(data).to_bytes(4, "little") + len(hmac).to_bytes(4, "little"),
        deterministic=True,
    )
    conn.create_function(
        "pyxmtp_run_flags",
        2,
        lambda push, commit: bytes(((SHOULD_PUSH if push else 0) | (IS_COMMIT if commit else 0),)),
        deterministic=True,
    )
    conn.create_function(
        "pyxmtp_run_keys", 1, lambda key: key.to_bytes(8, "little", signed=True), deterministic=True
    )
    conn.create_function("pyxmtp_concat", 2, lambda a, b: bytes(a) + bytes(b), deterministic=True)


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a database from ``version`` (0: empty) to :data:`SCHEMA_VERSION` in one transaction.

    v1 -> v2: group_messages trades its unique SHA-256 column for ``dedupe_key`` and the two-tier index.
    v2 -> v3: group_messages becomes group_message_runs (a run per message migrated).
    """
    _register_migration_functions(conn)
    steps = {0: SCHEMA, 1: _V1_TO_V2 + _V2_TO_V3 + SCHEMA, 2: _V2_TO_V3 + SCHEMA}[version]
    try:
        conn.executescript(f"BEGIN IMMEDIATE; {steps}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
