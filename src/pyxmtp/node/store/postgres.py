"""The PostgreSQL store (``asyncpg``, the ``postgres`` extra): for operators who already run PostgreSQL, want
its backups and replication, or a database that grows past one disk -- and for running several node processes,
on one machine or several, over one schema.

Connections: one *writer* connection runs every write of this process, a small pool serves reads, and a
*listening* connection hears what the other processes commit (:mod:`.postgres_feed`). Every node process holds a
*shared* session-level advisory lock on the schema while it runs: any number of them can, while a node of an
older version, which takes that lock exclusively (it assumed it wrote alone), cannot start beside them, nor they
beside it.

Writes are grouped: the writer takes every write queued at that moment and runs them as one transaction (each
non-message write in a SAVEPOINT of its own, so that a failing one rolls back alone). All the group messages of
such a batch, from however many requests, go in with one statement. A batch of group messages only is that one
statement on its own (an implicit transaction): one round trip. Replies come after COMMIT, which with
PostgreSQL's default ``synchronous_commit = on`` has flushed the WAL: a reply means the write survives a crash
of the node or of the database server.

Ordering across processes: ids come from each table's identity sequence, which every process draws from. Before
a transaction draws an id for a key (group, installation, inbox), it takes a transaction-level advisory lock on
that key (all its keys at once, sorted, so two writers never wait for each other in a cycle); the lock is let go
only once the commit is visible. So within a key, ids are drawn and become visible in commit order: a reader
that has seen id ``n`` of a group never later finds a smaller one there -- which is what cursors and
subscriptions rely on. Writes to different keys do not wait for each other. Ids of one batch increase but need
not be contiguous (other processes draw from the same sequence), and ON CONFLICT or a rollback leaves gaps.

Each write that stores group messages or welcomes notifies the schema's channel (delivered at commit) with the
keys it wrote; every process's listening connection hears it and reads the new rows of the keys its live
subscriptions watch, from the last id it delivered for each (:meth:`PostgresStore.watch`).

Errors: a lost connection or a failing statement fails the writes of that batch with :class:`StoreError`; the
writer reconnects for the next batch (and takes the shared lock again).

Read replica (``read_dsn``): the API's reads (message, welcome and commit-log pages, newest messages, key
packages, identity updates, inbox ids) go to a streaming replica once it has replayed what the primary had
flushed when the read began (:mod:`.postgres_replica`); the write path (the inbox log read before an append)
and the live feed read the primary.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg

from . import postgres_schema as sql
from .base import (
    GROUP_MESSAGES,
    WELCOMES,
    CommitLogRecord,
    GroupMessageFields,
    GroupMessageRecord,
    InboxLogConflict,
    InboxLogRecord,
    NewCommitLogEntry,
    NewWelcome,
    ReplyTooLarge,
    Rows,
    Store,
    StoredGroupMessages,
    StoreError,
    WelcomeRecord,
)
from .postgres_conn import (
    CLIENT_ERRORS,
    COMMIT_LOG_KEY,
    GROUP_KEY,
    INBOX_KEY,
    LOCK_CLASS,
    MIGRATION_LOCK_CLASS,
    ORDER_LOCK_CLASS,
    WELCOME_KEY,
    Connection,
    ReadConnection,
    SchemaKeys,
    connection_lost,
    is_closed,
    notes,
    quote_identifier,
    redacted,
    storable,
)
from .postgres_feed import Feed
from .postgres_replica import ReplicaReads, ReplicaStats, prepare_writer
from .postgres_writer import Writer

log = logging.getLogger("pyxmtp.node.store")

CONNECT_TIMEOUT = 10.0
APPLICATION_NAME = "pyxmtp node"
#: A writing transaction left open this long by a node that stopped answering (its host froze, the network
#: between dropped) is ended by the server, so that the ordering locks it holds do not stall the other nodes.
IDLE_IN_TRANSACTION_MS = 30_000

T = TypeVar("T")


class PostgresStore(Store):
    """See the module docstring. Create with :meth:`open`."""

    def __init__(
        self, dsn: str, schema: str | None, read_connections: int, read_dsn: str | None = None
    ) -> None:
        super().__init__()
        self._dsn = dsn
        self._read_dsn = read_dsn
        self._replica: ReplicaReads | None = None
        self._system_id: int | None = None
        self._schema = schema
        self._read_connections = read_connections
        # Named in pg_stat_activity, unless the URI names the connections itself.
        named = "application_name" in dsn
        self._writer_settings = {} if named else {"application_name": f"{APPLICATION_NAME} (writer)"}
        self._writer_settings["idle_in_transaction_session_timeout"] = str(IDLE_IN_TRANSACTION_MS)
        self._server_settings = {} if named else {"application_name": APPLICATION_NAME}
        #: The listening connection is named after the process, so an operator can tell whose it is.
        self._listen_settings = (
            {} if named else {"application_name": f"{APPLICATION_NAME} (listen, pid {os.getpid()})"}
        )
        if schema:
            self._server_settings["search_path"] = quote_identifier(schema)
        self._keys: SchemaKeys | None = None
        self._writer_pid: int | None = None
        self.feed: Feed | None = None
        self.writer: Writer | None = None
        self._pool: Any = None
        self._closed = False

    @property
    def description(self) -> str:
        where = redacted(self._dsn)
        if self._read_dsn:
            where += f" (reads: replica {redacted(self._read_dsn)})"
        return f"PostgreSQL {where}, schema {self._schema}" if self._schema else f"PostgreSQL {where}"

    @property
    def replica_stats(self) -> ReplicaStats | None:
        """Where the reads meant for the read replica went; None without one."""
        return None if self._replica is None else self._replica.stats

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        read_connections: int = 4,
        read_dsn: str | None = None,
        replica_wait: float = 0.05,
        replica_retry: float = 5.0,
    ) -> PostgresStore:
        """Connect, take the advisory lock, create or migrate the schema. ``schema``: a PostgreSQL schema to
        keep the tables in (created if missing); default: the connection's ``search_path``. ``read_dsn``: a
        streaming replica of ``dsn`` for the API's reads; ``replica_wait``: seconds a read waits for it to catch
        up before reading the primary; ``replica_retry``: seconds between tries of a replica that is down."""
        store = cls(dsn, schema, read_connections, read_dsn)
        connection: Connection | None = None
        try:
            connection = await store._connect_writer(migrate=True)
            store._pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=read_connections,
                server_settings=store._server_settings,
                connection_class=ReadConnection,
                timeout=CONNECT_TIMEOUT,
            )
            assert store._keys is not None
            store.feed = Feed(store, store._keys.channel, store._connect_listener, lambda: store._writer_pid)
            await store.feed.start()
            if read_dsn:
                store._replica = await ReplicaReads.open(
                    read_dsn,
                    settings=store._server_settings,
                    connections=read_connections,
                    primary=store._read,
                    primary_id=store._system_id,
                    wait=replica_wait,
                    retry=replica_retry,
                )
        except BaseException:
            if store.feed is not None:
                await store.feed.close()
            if store._pool is not None:
                await store._pool.close()
            if connection is not None:
                await connection.close()
            raise
        store.writer = Writer(connection, lambda: store._connect_writer(migrate=False), store._keys)
        return store

    async def _connect(self, settings: dict[str, str]) -> Connection:
        try:
            return await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT, server_settings=settings)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc

    async def _connect_listener(self) -> Connection:
        return await self._connect(self._listen_settings)

    async def _connect_writer(self, *, migrate: bool) -> Connection:
        conn = await self._connect(self._writer_settings)
        try:
            if migrate:  # creating the schema too: two nodes starting at once take turns
                async with conn.transaction():
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2, current_schema(), '')))",
                        MIGRATION_LOCK_CLASS,
                        self._schema,
                    )
                    if self._schema:
                        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self._schema)}")
            if self._schema:
                await conn.execute(f"SET search_path = {quote_identifier(self._schema)}")
            schema = await conn.fetchval("SELECT current_schema()")
            if schema is None:
                raise StoreError("the database has no schema to keep the node's tables in (see search_path)")
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_lock_shared($1, hashtext(current_schema()))", LOCK_CLASS
            )
            if not locked:
                raise StoreError(
                    "the database schema is in use by a node process of an older version, which must run "
                    "alone: stop it first"
                )
            if migrate:
                await self._migrate(conn)
            if self._read_dsn:
                self._system_id = await prepare_writer(conn)
            self._keys = SchemaKeys(schema)
            self._writer_pid = conn.get_server_pid()
        except BaseException:
            await conn.close()
            raise
        return conn

    @staticmethod
    async def _migrate(conn: Connection) -> None:
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", MIGRATION_LOCK_CLASS
            )
            await conn.execute(sql.VERSION_TABLE)
            version = await conn.fetchval("SELECT version FROM pyxmtp_schema")
            if version is None:
                version = 0
                await conn.execute("INSERT INTO pyxmtp_schema(version) VALUES (0)")
            if version > sql.SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {version} is newer than this node ({sql.SCHEMA_VERSION})"
                )
            for step in sql.MIGRATIONS[version:]:
                await conn.execute(step)
            await conn.execute("UPDATE pyxmtp_schema SET version = $1", sql.SCHEMA_VERSION)

    # --- plumbing -------------------------------------------------------------------------------------------
    def _writer(self) -> Writer:
        """The writer, to submit a write to; :class:`StoreError` once the store is closed."""
        if self._closed or self.writer is None:
            raise StoreError("the store is closed")
        return self.writer

    async def _read(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection; once more on a fresh one if that connection turns out dead (the
        server restarted, or an administrator ended it, while it sat in the pool: reads are idempotent)."""
        if self._closed:
            raise StoreError("the store is closed")
        for attempt in range(2):
            try:
                async with self._pool.acquire() as conn:
                    try:
                        return await fn(conn)
                    except CLIENT_ERRORS as exc:
                        if attempt or not (connection_lost(exc) or is_closed(conn)):
                            raise
                        log.warning("a pooled PostgreSQL connection was lost (%s); reading again", exc)
                        with contextlib.suppress(
                            asyncpg.InterfaceError
                        ):  # the pool may have let it go already
                            conn.terminate()
                # The others were most likely lost with it (a server restart): replace them all.
                await self._pool.expire_connections()
            except CLIENT_ERRORS as exc:
                raise StoreError(f"PostgreSQL read failed: {exc}") from exc
        raise AssertionError("unreachable")

    async def _query(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """An API read: on the read replica if there is one and it has caught up, else as :meth:`_read`."""
        if self._replica is None or self._closed:
            return await self._read(fn)
        return await self._replica.read(fn)

    def _lock_key(self, kind: bytes, key: bytes) -> int:
        assert self._keys is not None
        return self._keys.lock_key(kind, key)

    # --- group messages -------------------------------------------------------------------------------------
    async def insert_group_messages(self, messages: Sequence[GroupMessageFields]) -> StoredGroupMessages:
        if not messages:
            return StoredGroupMessages([], 5, 2, 0, 0, None)
        result: StoredGroupMessages = await self._writer().submit(None, messages, self._notify_group_messages)
        return result

    async def _page(
        self, plain: str, budgeted: str, params: tuple[Any, ...], limit: int, max_bytes: int | None
    ) -> Rows[Any]:
        """The rows of a page query (see :func:`~.postgres_schema.page_query`); the budgeted form ends each row
        with the length the page would have had without the byte budget."""
        out: Rows[Any] = Rows()
        if limit <= 0:
            return out
        if max_bytes is None:
            out.extend(await self._query(lambda c: c.fetch(plain, *params, limit)))
            return out
        rows = await self._query(lambda c: c.fetch(budgeted, *params, limit, max_bytes))
        out.extend(r[:-1] for r in rows)
        out.cut = bool(rows) and len(rows) < rows[0][-1]
        return out

    async def query_group_messages(
        self, group_id: bytes, *, descending: bool, cursor: int, limit: int, max_bytes: int | None = None
    ) -> Rows[GroupMessageRecord]:
        if descending:
            plain, budgeted = sql.QUERY_GROUP_MESSAGES_DESC, sql.PAGE_GROUP_MESSAGES_DESC
        else:
            plain, budgeted = sql.QUERY_GROUP_MESSAGES_ASC, sql.PAGE_GROUP_MESSAGES_ASC
        rows = await self._page(plain, budgeted, (group_id, cursor), limit, max_bytes)
        rows[:] = [GroupMessageRecord(*r) for r in rows]
        return rows

    async def newest_group_messages(
        self, group_ids: Sequence[bytes], *, include_content: bool = True, max_bytes: int | None = None
    ) -> list[GroupMessageRecord | None]:
        ids = list(group_ids)
        out: list[GroupMessageRecord | None] = [None] * len(ids)
        if not include_content:
            for row in await self._query(lambda c: c.fetch(sql.NEWEST_GROUP_MESSAGES_METADATA, ids)):
                n, record_id, created_ns, group_id, should_push, is_commit = row
                out[n - 1] = GroupMessageRecord(
                    record_id, created_ns, group_id, b"", b"", should_push, is_commit
                )
            return out
        if max_bytes is None:
            rows = await self._query(lambda c: c.fetch(sql.NEWEST_GROUP_MESSAGES, ids))
        else:
            rows = await self._query(lambda c: c.fetch(sql.NEWEST_GROUP_MESSAGES_WITHIN, ids, max_bytes))
            if rows and rows[-1][-1] > max_bytes:
                raise ReplyTooLarge(f"the newest messages come to more than {max_bytes} bytes")
            rows = [r[:-1] for r in rows]
        for row in rows:
            out[row[0] - 1] = GroupMessageRecord(*row[1:])
        return out

    # --- welcomes -------------------------------------------------------------------------------------------
    async def insert_welcomes(self, welcomes: Sequence[NewWelcome]) -> list[WelcomeRecord]:
        items = list(welcomes)

        installations = {w.installation_key for w in items}
        assert self._keys is not None
        keys = self._keys.lock_keys(WELCOME_KEY, installations)

        async def job(conn: Connection) -> list[WelcomeRecord]:
            now = time.time_ns()
            rows = await conn.fetch(
                sql.INSERT_WELCOMES,
                now,
                [w.installation_key for w in items],
                [w.data for w in items],
                [w.hpke_public_key for w in items],
                [w.wrapper_algorithm for w in items],
                [w.welcome_metadata for w in items],
                [1 if w.is_pointer else 0 for w in items],
                ORDER_LOCK_CLASS,
                sorted(keys),
                self._keys.channel if self._keys else "",
                notes(WELCOME_KEY, installations),
            )
            ids = {bytes(r[1]): r[0] for r in rows}
            out: list[WelcomeRecord] = []
            for w in items:
                wid = ids.pop(hashlib.sha256(w.installation_key + w.data).digest(), None)
                if wid is not None:
                    out.append(WelcomeRecord(wid, now, *w))
            return out

        if not items:
            return []
        result: list[WelcomeRecord] = await self._writer().submit(
            job, notify=self._notify_welcomes, keys=keys
        )
        return result

    async def query_welcomes(
        self,
        installation_key: bytes,
        *,
        descending: bool,
        cursor: int,
        limit: int,
        max_bytes: int | None = None,
    ) -> Rows[WelcomeRecord]:
        if descending:
            plain, budgeted = sql.QUERY_WELCOMES_DESC, sql.PAGE_WELCOMES_DESC
        else:
            plain, budgeted = sql.QUERY_WELCOMES_ASC, sql.PAGE_WELCOMES_ASC
        rows = await self._page(plain, budgeted, (installation_key, cursor), limit, max_bytes)
        rows[:] = [WelcomeRecord(*r) for r in rows]
        return rows

    # --- key packages ---------------------------------------------------------------------------------------
    async def put_key_package(self, installation_key: bytes, key_package: bytes) -> None:
        async def job(conn: Connection) -> None:
            now = time.time_ns()
            await conn.execute(sql.PUT_INSTALLATION, installation_key, key_package, now)
            await conn.execute(sql.PUT_KEY_PACKAGE, installation_key, key_package, now)

        await self._writer().submit(job)

    async def fetch_key_packages(
        self, installation_keys: Sequence[bytes], *, max_bytes: int | None = None
    ) -> list[bytes | None]:
        keys = list(installation_keys)
        if max_bytes is None:
            rows = await self._query(lambda c: c.fetch(sql.FETCH_KEY_PACKAGES, keys))
            found = {bytes(r[0]): r[1] for r in rows}
            return [found.get(k) for k in keys]
        rows = await self._query(lambda c: c.fetch(sql.FETCH_KEY_PACKAGES_WITHIN, keys, max_bytes))
        if rows and rows[-1][-1] > max_bytes:
            raise ReplyTooLarge(f"the key packages come to more than {max_bytes} bytes")
        out: list[bytes | None] = [None] * len(keys)
        for n, key_package, _upto in rows:
            out[n - 1] = key_package
        return out

    async def key_package_history(self, installation_key: bytes) -> list[bytes]:
        rows = await self._query(lambda c: c.fetch(sql.KEY_PACKAGE_HISTORY, installation_key))
        return [r[0] for r in rows]

    # --- identity -------------------------------------------------------------------------------------------
    async def inbox_log(self, inbox_id: str) -> list[InboxLogRecord]:
        # on the primary: the node reads it to append to it (PublishIdentityUpdate)
        if not storable(inbox_id):
            return []
        rows = await self._read(lambda c: c.fetch(sql.INBOX_LOG, inbox_id))
        return [InboxLogRecord(*r) for r in rows]

    async def append_inbox_log(
        self,
        inbox_id: str,
        update: bytes,
        *,
        expected_length: int,
        added_addresses: Sequence[str],
        removed_addresses: Sequence[str],
    ) -> InboxLogRecord:
        added = list(added_addresses)
        removed = list(removed_addresses)

        async def job(conn: Connection) -> InboxLogRecord:
            length = await conn.fetchval(sql.INBOX_LOG_LENGTH, inbox_id)
            if length != expected_length:
                raise InboxLogConflict(
                    f"inbox {inbox_id} has {length} log entries, expected {expected_length}"
                )
            now = time.time_ns()
            seq = await conn.fetchval(sql.APPEND_INBOX_LOG, inbox_id, now, update)
            if added:
                await conn.execute(sql.ASSOCIATE_ADDRESS, added, inbox_id, seq)
            for address in removed:
                await conn.execute(sql.REVOKE_ADDRESS, seq, address, inbox_id)
            return InboxLogRecord(seq, inbox_id, now, update)

        # the length check and the append are atomic across node processes: the inbox's lock is held first
        keys = {self._lock_key(INBOX_KEY, inbox_id.encode())}
        result: InboxLogRecord = await self._writer().submit(job, keys=keys)
        return result

    async def identity_updates(self, requests: Sequence[tuple[str, int]]) -> list[list[InboxLogRecord]]:
        reqs = list(requests)

        async def read(conn: Connection) -> list[list[InboxLogRecord]]:
            return [
                [InboxLogRecord(*r) for r in await conn.fetch(sql.INBOX_LOG_AFTER, inbox_id, after)]
                if storable(inbox_id)
                else []
                for inbox_id, after in reqs
            ]

        return await self._query(read)

    async def inbox_ids_for_addresses(self, addresses: Sequence[str]) -> dict[str, str]:
        wanted = [a for a in dict.fromkeys(addresses) if storable(a)]
        rows = await self._query(lambda c: c.fetch(sql.INBOX_IDS_FOR_ADDRESSES, wanted))
        found = {r[0]: r[1] for r in rows}
        return {a: found[a] for a in wanted if a in found}

    # --- commit log -----------------------------------------------------------------------------------------
    async def insert_commit_log_entries(self, entries: Sequence[NewCommitLogEntry]) -> list[CommitLogRecord]:
        items = list(entries)

        async def job(conn: Connection) -> list[CommitLogRecord]:
            rows = await conn.fetch(
                sql.INSERT_COMMIT_LOG,
                time.time_ns(),
                [e.group_id for e in items],
                [e.entry for e in items],
                [e.signature for e in items],
            )
            ids = sorted(r[0] for r in rows)
            return [CommitLogRecord(i, *e) for i, e in zip(ids, items, strict=True)]

        if not items:
            return []
        keys = {self._lock_key(COMMIT_LOG_KEY, e.group_id) for e in items}
        result: list[CommitLogRecord] = await self._writer().submit(job, keys=keys)
        return result

    async def query_commit_log(
        self, group_id: bytes, *, cursor: int, limit: int, max_bytes: int | None = None
    ) -> Rows[CommitLogRecord]:
        rows = await self._page(
            sql.QUERY_COMMIT_LOG, sql.PAGE_COMMIT_LOG, (group_id, cursor), limit, max_bytes
        )
        rows[:] = [CommitLogRecord(*r) for r in rows]
        return rows

    # --- live delivery --------------------------------------------------------------------------------------
    async def watch(self, kind: str, keys: Sequence[bytes]) -> None:
        if self.feed is not None:
            await self.feed.watch(_feed_kind(kind), keys)

    def unwatch(self, kind: str, keys: Sequence[bytes]) -> None:
        if self.feed is not None:
            self.feed.unwatch(_feed_kind(kind), keys)

    def watching(self, kind: str) -> int:
        """How many keys of ``kind`` are watched."""
        return 0 if self.feed is None else self.feed.watching(_feed_kind(kind))

    def _notify_group_messages(self, records: Sequence[GroupMessageRecord]) -> None:
        """This process committed ``records``: the feed reads them back for the watched groups, after whatever
        another process committed to those groups before them (see :mod:`.postgres_feed`)."""
        if records and self.feed is not None:
            groups: Iterable[bytes] = (
                records.group_ids()
                if isinstance(records, StoredGroupMessages)
                else {r.group_id for r in records}
            )
            self.feed.poke(GROUP_KEY, groups)

    def _notify_welcomes(self, records: Sequence[WelcomeRecord]) -> None:
        if records and self.feed is not None:
            self.feed.poke(WELCOME_KEY, {r.installation_key for r in records})

    def _tell_listeners(self, kind: bytes, records: Sequence[Any]) -> None:
        """Called by the feed with records read back, in id order within each key."""
        try:  # a listener's bug must not stop the feed (its delivered ids have moved on)
            if kind == GROUP_KEY:
                super()._notify_group_messages(records)
            else:
                super()._notify_welcomes(records)
        except Exception:
            log.exception("store listener failed")

    async def read_after(
        self, kind: bytes, keys: Sequence[bytes], cursors: Sequence[int], limit: int, max_bytes: int
    ) -> tuple[list[Any], bool]:
        """For the feed: the rows of each key above its cursor (at most ``limit`` per key), ascending by id,
        within ``max_bytes`` (but at least one); and whether the byte budget cut them short."""
        query = sql.GROUP_MESSAGES_AFTER if kind == GROUP_KEY else sql.WELCOMES_AFTER
        make = GroupMessageRecord if kind == GROUP_KEY else WelcomeRecord
        rows = await self._read(lambda c: c.fetch(query, list(keys), list(cursors), limit, max_bytes))
        cut = bool(rows) and len(rows) < rows[0][-1]
        return [make(*r[:-1]) for r in rows], cut

    async def newest_ids(self, kind: bytes, keys: Sequence[bytes]) -> list[int]:
        """For the feed: the newest id of each key (0 if none), in order."""
        query = sql.NEWEST_GROUP_MESSAGE_IDS if kind == GROUP_KEY else sql.NEWEST_WELCOME_IDS
        rows = await self._read(lambda c: c.fetch(query, list(keys)))
        return [r[1] for r in rows]

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def close(self) -> None:
        """Finish the queued writes, then close the connections (which releases the advisory lock)."""
        if self._closed:
            return
        self._closed = True
        if self.writer is not None:
            await self.writer.close()
        if self.feed is not None:
            await self.feed.close()
        if self._replica is not None:
            await self._replica.close()
        await self._pool.close()


def _feed_kind(kind: str) -> bytes:
    if kind == GROUP_MESSAGES:
        return GROUP_KEY
    if kind == WELCOMES:
        return WELCOME_KEY
    raise ValueError(f"nothing to watch of kind {kind!r}")
