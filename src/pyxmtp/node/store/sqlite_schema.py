"""The SQLite schema of the node's store (version :data:`SCHEMA_VERSION`) and its multi-row insert statements.

Tables follow xmtp-node-go's (``pkg/migrations/mls``): group_messages and welcome_messages with a unique
hash for deduplication, installations (latest key package) plus key_packages (history), inbox_log and
address_log, commit_log. The PostgreSQL backend can use the same column names.
"""

from __future__ import annotations

import functools

SCHEMA_VERSION = 1

SCHEMA = """
-- Ids of group and welcome messages are assigned by the writer from ``sequences`` (never reused, gaps allowed),
-- which is cheaper than AUTOINCREMENT and lets a whole batch be inserted with one executemany.
CREATE TABLE IF NOT EXISTS sequences(
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS group_messages(
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    group_id BLOB NOT NULL,
    data BLOB NOT NULL,
    group_id_data_hash BLOB NOT NULL UNIQUE,
    sender_hmac BLOB NOT NULL,
    should_push INTEGER NOT NULL,
    is_commit INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS group_messages_group_id_id ON group_messages(group_id, id);

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
GROUP_MESSAGE_INSERT = (
    "group_messages",
    "id, created_ns, group_id, data, group_id_data_hash, sender_hmac, should_push, is_commit",
    "group_id_data_hash",
)
WELCOME_INSERT = (
    "welcome_messages",
    "id, created_ns, installation_key, data, installation_key_data_hash, hpke_public_key, wrapper_algorithm, "
    "welcome_metadata, message_type",
    "installation_key_data_hash",
)
#: Rows per multi-row INSERT statement (9 columns x 400 stays far below SQLite's 32766 variables).
ROWS_PER_STATEMENT = 400
SEQUENCED_TABLES = ("group_messages", "welcome_messages")


@functools.lru_cache(maxsize=64)
def multi_row_insert(spec: tuple[str, str, str], rows: int) -> str:
    """``INSERT INTO table(columns) VALUES (...), ... ON CONFLICT(unique) DO NOTHING`` for ``rows`` rows."""
    table, columns, unique = spec
    row = "(" + ", ".join("?" * (columns.count(",") + 1)) + ")"
    values = ", ".join([row] * rows)
    return f"INSERT INTO {table}({columns}) VALUES {values} ON CONFLICT({unique}) DO NOTHING"
