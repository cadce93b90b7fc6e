"""The PostgreSQL schema of the node's store (version :data:`SCHEMA_VERSION`) and its statements.

The tables are xmtp-node-go's (``pkg/migrations/mls``), with the column names of the SQLite backend: one row per
group message, deduplicated by a unique ``group_id_data_hash`` that PostgreSQL computes itself
(``sha256(group_id || data)``, a stored generated column), so neither hashing nor the unique index costs the
node's event loop anything. Ids are identity columns. Several node processes may write at once; each write that
draws ids first takes a transaction-level advisory lock per key it writes to (group, installation, inbox), so
that within a key ids are drawn, and become visible, in commit order (see :mod:`.postgres`).
"""

from __future__ import annotations

from .base import RECORD_OVERHEAD

SCHEMA_VERSION = 1

#: Created first, so that the version can be read before anything else exists.
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS pyxmtp_schema(version INTEGER NOT NULL)"

SCHEMA_V1 = """
CREATE TABLE group_messages(
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_ns BIGINT NOT NULL,
    group_id BYTEA NOT NULL,
    data BYTEA NOT NULL,
    group_id_data_hash BYTEA GENERATED ALWAYS AS (sha256(group_id || data)) STORED UNIQUE,
    sender_hmac BYTEA NOT NULL,
    should_push BOOLEAN NOT NULL,
    is_commit BOOLEAN NOT NULL
);
CREATE INDEX group_messages_group_id_id ON group_messages(group_id, id);

CREATE TABLE welcome_messages(
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_ns BIGINT NOT NULL,
    installation_key BYTEA NOT NULL,
    data BYTEA NOT NULL,
    installation_key_data_hash BYTEA GENERATED ALWAYS AS (sha256(installation_key || data)) STORED UNIQUE,
    hpke_public_key BYTEA NOT NULL,
    wrapper_algorithm INTEGER NOT NULL,
    welcome_metadata BYTEA NOT NULL,
    message_type SMALLINT NOT NULL  -- 0 = WelcomeMessage.V1, 1 = welcome pointer
);
CREATE INDEX welcome_messages_installation_key_id ON welcome_messages(installation_key, id);

CREATE TABLE installations(
    installation_key BYTEA PRIMARY KEY,
    key_package BYTEA NOT NULL,
    created_ns BIGINT NOT NULL,
    updated_ns BIGINT NOT NULL
);

CREATE TABLE key_packages(
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    installation_key BYTEA NOT NULL,
    key_package_hash BYTEA GENERATED ALWAYS AS (sha256(key_package)) STORED,
    key_package BYTEA NOT NULL,
    created_ns BIGINT NOT NULL,
    UNIQUE(installation_key, key_package_hash)
);

CREATE TABLE inbox_log(
    sequence_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbox_id TEXT NOT NULL,
    server_timestamp_ns BIGINT NOT NULL,
    identity_update BYTEA NOT NULL
);
CREATE INDEX inbox_log_inbox_id_sequence_id ON inbox_log(inbox_id, sequence_id);

CREATE TABLE address_log(
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address TEXT NOT NULL,
    inbox_id TEXT NOT NULL,
    association_sequence_id BIGINT NOT NULL,
    revocation_sequence_id BIGINT
);
CREATE INDEX address_log_address ON address_log(address, association_sequence_id);

CREATE TABLE commit_log(
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_ns BIGINT NOT NULL,
    group_id BYTEA NOT NULL,
    entry BYTEA NOT NULL,
    signature BYTEA NOT NULL
);
CREATE INDEX commit_log_group_id_id ON commit_log(group_id, id);
"""

#: What each version adds on top of the one before (index 0: from an empty schema to version 1).
MIGRATIONS = (SCHEMA_V1,)

# --- statements ---------------------------------------------------------------------------------------------------
#: Takes the transaction-level ordering locks $2 (sorted: every writer takes its locks in the same order, so
#: two writers never wait for each other in a cycle) of lock class $1, and sends the notifications $4 on the
#: channel $3 (delivered at commit, and only then). As the first CTE of an insert, joined to its rows, it runs
#: before the insert draws its first id.
_ORDERED = """
WITH ordered AS MATERIALIZED (
    SELECT (SELECT count(pg_advisory_xact_lock({cls}::int4, k)) FROM unnest({keys}::int4[]) AS k)
         + (SELECT count(pg_notify({channel}, p)) FROM unnest({notes}::text[]) AS p) AS n
)"""
LOCK_KEYS = "SELECT count(pg_advisory_xact_lock($1::int4, k)) FROM unnest($2::int4[]) AS k"

#: All the group messages of a batch in one statement, after its ordering locks; every input row draws one id,
#: in input order (a skipped duplicate leaves a gap), which is how the store maps the returned rows back to the
#: inputs.
INSERT_GROUP_MESSAGES = (
    _ORDERED.format(cls="$7", keys="$8", channel="$9", notes="$10")
    + """
INSERT INTO group_messages(created_ns, group_id, data, sender_hmac, should_push, is_commit)
SELECT $1, m.g, m.d, m.h, m.p, m.c
FROM ordered, unnest($2::bytea[], $3::bytea[], $4::bytea[], $5::bool[], $6::bool[])
    WITH ORDINALITY AS m(g, d, h, p, c, n)
ORDER BY m.n
ON CONFLICT (group_id_data_hash) DO NOTHING
RETURNING id, group_id_data_hash
"""
)

GROUP_MESSAGE_COLUMNS = "id, created_ns, group_id, data, sender_hmac, should_push, is_commit"
#: The cursor is cast: compared with the literal 0 alone, PostgreSQL would type it int4.
_GROUP_MESSAGES_ASC = "group_id = $1 AND id > $2::bigint"
_GROUP_MESSAGES_DESC = "group_id = $1 AND ($2::bigint = 0 OR id < $2::bigint)"
QUERY_GROUP_MESSAGES_ASC = (
    f"SELECT {GROUP_MESSAGE_COLUMNS} FROM group_messages WHERE {_GROUP_MESSAGES_ASC} ORDER BY id LIMIT $3"
)
QUERY_GROUP_MESSAGES_DESC = f"SELECT {GROUP_MESSAGE_COLUMNS} FROM group_messages WHERE {_GROUP_MESSAGES_DESC} ORDER BY id DESC LIMIT $3"
_GROUP_MESSAGE_SIZE = (
    f"octet_length(group_id) + octet_length(data) + octet_length(sender_hmac) + {RECORD_OVERHEAD}"
)


def page_query(columns: str, table: str, where: str, order: str, size: str) -> str:
    """A page of at most $3 rows of ``table`` (``where`` over $1 and $2) that stops before the row that would take
    the running total of ``size`` past $4, but always holds the first. Each row ends with how many rows the
    page would have held without the byte budget, which tells whether the budget cut it. Sizes come from the
    values' headers (``octet_length`` does not read a TOASTed value), and only the rows kept are read out."""
    return f"""
SELECT {columns}, found FROM (
    SELECT {columns}, row_number() OVER w AS n, sum(size) OVER w AS upto, count(*) OVER () AS found
    FROM (SELECT {columns}, {size} AS size FROM {table} WHERE {where} ORDER BY id {order} LIMIT $3) lim
    WINDOW w AS (ORDER BY id {order})
) page WHERE n = 1 OR upto <= $4 ORDER BY id {order}
"""


PAGE_GROUP_MESSAGES_ASC = page_query(
    GROUP_MESSAGE_COLUMNS, "group_messages", _GROUP_MESSAGES_ASC, "ASC", _GROUP_MESSAGE_SIZE
)
PAGE_GROUP_MESSAGES_DESC = page_query(
    GROUP_MESSAGE_COLUMNS, "group_messages", _GROUP_MESSAGES_DESC, "DESC", _GROUP_MESSAGE_SIZE
)
_NEWEST = """
FROM unnest($1::bytea[]) WITH ORDINALITY AS q(group_id, n)
CROSS JOIN LATERAL (
    SELECT {columns} FROM group_messages m WHERE m.group_id = q.group_id ORDER BY m.id DESC LIMIT 1
) g
"""
NEWEST_GROUP_MESSAGES = "SELECT q.n, g.*" + _NEWEST.format(columns=GROUP_MESSAGE_COLUMNS)
#: The newest messages while their running total stays within $2, and the first that takes it past (the row's
#: last column, the running total, tells).
NEWEST_GROUP_MESSAGES_WITHIN = f"""
SELECT n, {GROUP_MESSAGE_COLUMNS}, upto FROM (
    SELECT *, sum(size) OVER (ORDER BY n) AS upto FROM (
        SELECT q.n, g.*,
            octet_length(g.group_id) + octet_length(g.data) + octet_length(g.sender_hmac) + {RECORD_OVERHEAD} AS size
        {_NEWEST.format(columns=GROUP_MESSAGE_COLUMNS)}
    ) found
) newest WHERE upto - size <= $2 ORDER BY n
"""
#: The newest messages' metadata: no payload is read.
NEWEST_GROUP_MESSAGES_METADATA = "SELECT q.n, g.*" + _NEWEST.format(
    columns="id, created_ns, group_id, should_push, is_commit"
)

INSERT_WELCOMES = (
    _ORDERED.format(cls="$8", keys="$9", channel="$10", notes="$11")
    + """
INSERT INTO welcome_messages(created_ns, installation_key, data, hpke_public_key, wrapper_algorithm,
                             welcome_metadata, message_type)
SELECT $1, w.k, w.d, w.h, w.a, w.m, w.t
FROM ordered, unnest($2::bytea[], $3::bytea[], $4::bytea[], $5::int[], $6::bytea[], $7::smallint[])
    WITH ORDINALITY AS w(k, d, h, a, m, t, n)
ORDER BY w.n
ON CONFLICT (installation_key_data_hash) DO NOTHING
RETURNING id, installation_key_data_hash
"""
)
WELCOME_COLUMNS = (
    "id, created_ns, installation_key, data, hpke_public_key, wrapper_algorithm, welcome_metadata, "
    "message_type = 1"
)
_WELCOMES_ASC = "installation_key = $1 AND id > $2::bigint"
_WELCOMES_DESC = "installation_key = $1 AND ($2::bigint = 0 OR id < $2::bigint)"
QUERY_WELCOMES_ASC = (
    f"SELECT {WELCOME_COLUMNS} FROM welcome_messages WHERE {_WELCOMES_ASC} ORDER BY id LIMIT $3"
)
QUERY_WELCOMES_DESC = (
    f"SELECT {WELCOME_COLUMNS} FROM welcome_messages WHERE {_WELCOMES_DESC} ORDER BY id DESC LIMIT $3"
)
#: The page query selects from a subquery, so the computed column is named there.
_WELCOME_PAGE_COLUMNS = (
    "id, created_ns, installation_key, data, hpke_public_key, wrapper_algorithm, welcome_metadata, is_pointer"
)
_WELCOME_SIZE = (
    "octet_length(installation_key) + octet_length(data) + octet_length(hpke_public_key) "
    f"+ octet_length(welcome_metadata) + {RECORD_OVERHEAD}"
)
_WELCOME_TABLE = "(SELECT *, message_type = 1 AS is_pointer FROM welcome_messages) w"
PAGE_WELCOMES_ASC = page_query(_WELCOME_PAGE_COLUMNS, _WELCOME_TABLE, _WELCOMES_ASC, "ASC", _WELCOME_SIZE)
PAGE_WELCOMES_DESC = page_query(_WELCOME_PAGE_COLUMNS, _WELCOME_TABLE, _WELCOMES_DESC, "DESC", _WELCOME_SIZE)

PUT_INSTALLATION = """
INSERT INTO installations(installation_key, key_package, created_ns, updated_ns) VALUES ($1, $2, $3, $3)
ON CONFLICT (installation_key) DO UPDATE SET key_package = excluded.key_package, updated_ns = excluded.updated_ns
"""
PUT_KEY_PACKAGE = """
INSERT INTO key_packages(installation_key, key_package, created_ns) VALUES ($1, $2, $3)
ON CONFLICT (installation_key, key_package_hash) DO NOTHING
"""
FETCH_KEY_PACKAGES = (
    "SELECT installation_key, key_package FROM installations WHERE installation_key = ANY($1::bytea[])"
)
#: Per requested key (its position n) its key package, while their running total stays within $2, and the first
#: that takes it past (the row's last column, the running total, tells).
FETCH_KEY_PACKAGES_WITHIN = """
SELECT n, key_package, upto FROM (
    SELECT k.n, i.key_package, octet_length(i.key_package) AS size,
        sum(octet_length(i.key_package)) OVER (ORDER BY k.n) AS upto
    FROM unnest($1::bytea[]) WITH ORDINALITY AS k(installation_key, n)
    JOIN installations i ON i.installation_key = k.installation_key
) kp WHERE upto - size <= $2 ORDER BY n
"""
KEY_PACKAGE_HISTORY = "SELECT key_package FROM key_packages WHERE installation_key = $1 ORDER BY id"

INBOX_LOG_COLUMNS = "sequence_id, inbox_id, server_timestamp_ns, identity_update"
INBOX_LOG = f"SELECT {INBOX_LOG_COLUMNS} FROM inbox_log WHERE inbox_id = $1 ORDER BY sequence_id"
INBOX_LOG_AFTER = (
    f"SELECT {INBOX_LOG_COLUMNS} FROM inbox_log WHERE inbox_id = $1 AND sequence_id > $2 ORDER BY sequence_id"
)
INBOX_LOG_LENGTH = "SELECT COUNT(*) FROM inbox_log WHERE inbox_id = $1"
APPEND_INBOX_LOG = (
    "INSERT INTO inbox_log(inbox_id, server_timestamp_ns, identity_update) VALUES ($1, $2, $3) "
    "RETURNING sequence_id"
)
ASSOCIATE_ADDRESS = "INSERT INTO address_log(address, inbox_id, association_sequence_id) SELECT a, $2, $3 FROM unnest($1::text[]) a"
REVOKE_ADDRESS = """
UPDATE address_log SET revocation_sequence_id = $1 WHERE id = (
    SELECT id FROM address_log WHERE address = $2 AND inbox_id = $3 ORDER BY association_sequence_id DESC LIMIT 1
)
"""
INBOX_IDS_FOR_ADDRESSES = """
SELECT DISTINCT ON (address) address, inbox_id FROM address_log
WHERE address = ANY($1::text[]) AND revocation_sequence_id IS NULL
ORDER BY address, association_sequence_id DESC
"""

INSERT_COMMIT_LOG = """
INSERT INTO commit_log(created_ns, group_id, entry, signature)
SELECT $1, e.g, e.e, e.s FROM unnest($2::bytea[], $3::bytea[], $4::bytea[]) WITH ORDINALITY AS e(g, e, s, n)
ORDER BY e.n
RETURNING id
"""
_COMMIT_LOG_COLUMNS = "id, group_id, entry, signature"
_COMMIT_LOG_AFTER = "group_id = $1 AND id > $2::bigint"
QUERY_COMMIT_LOG = (
    f"SELECT {_COMMIT_LOG_COLUMNS} FROM commit_log WHERE {_COMMIT_LOG_AFTER} ORDER BY id LIMIT $3"
)
PAGE_COMMIT_LOG = page_query(
    _COMMIT_LOG_COLUMNS,
    "commit_log",
    _COMMIT_LOG_AFTER,
    "ASC",
    f"octet_length(entry) + octet_length(signature) + {RECORD_OVERHEAD}",
)


# --- live delivery across node processes (see .postgres_feed) -----------------------------------------------------
#: The newest id of each key (0 if none), in request order.
NEWEST_GROUP_MESSAGE_IDS = """
SELECT q.n, COALESCE((SELECT max(id) FROM group_messages m WHERE m.group_id = q.k), 0)
FROM unnest($1::bytea[]) WITH ORDINALITY AS q(k, n) ORDER BY q.n
"""
NEWEST_WELCOME_IDS = """
SELECT q.n, COALESCE((SELECT max(id) FROM welcome_messages w WHERE w.installation_key = q.k), 0)
FROM unnest($1::bytea[]) WITH ORDINALITY AS q(k, n) ORDER BY q.n
"""


def _after_cursors(columns: str, table: str, key: str, size: str) -> str:
    """For each key $1[i]: its rows with an id above $2[i], at most $3 of them; of all those, ascending by id, the
    ones within a running total of ``size`` of $4 (but at least the first). Each row ends with how many rows
    there were before the byte budget (whether it cut the read short)."""
    return f"""
SELECT {columns}, found FROM (
    SELECT r.*, row_number() OVER w AS n, sum(r.size) OVER w AS upto, count(*) OVER () AS found
    FROM unnest($1::bytea[], $2::bigint[]) AS q(k, c)
    CROSS JOIN LATERAL (
        SELECT {columns}, {size} AS size FROM {table} WHERE {key} = q.k AND id > q.c ORDER BY id LIMIT $3
    ) r
    WINDOW w AS (ORDER BY r.id)
) page WHERE n = 1 OR upto <= $4 ORDER BY id
"""


GROUP_MESSAGES_AFTER = _after_cursors(
    GROUP_MESSAGE_COLUMNS, "group_messages", "group_id", _GROUP_MESSAGE_SIZE
)
WELCOMES_AFTER = _after_cursors(_WELCOME_PAGE_COLUMNS, _WELCOME_TABLE, "installation_key", _WELCOME_SIZE)
