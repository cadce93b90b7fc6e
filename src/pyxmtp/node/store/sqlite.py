"""The embedded SQLite store: one database file in the data directory, WAL journal.

Threads: every write runs on one writer thread that owns the only writing connection; reads run on a small
thread pool, each thread with its own read-only connection (WAL lets them read while the writer writes); a
checkpointer thread copies the WAL back into the database every tenth of a second (PASSIVE, so it never blocks
the writer), which keeps checkpoints out of the commits and so out of the reply latency, and tells the writer
when to let the WAL start over (see :class:`~.sqlite_writer.Checkpointer`).

Durability: ``synchronous=FULL`` by default: the WAL is fsynced after every commit, before the reply (by a
syncer thread, so that the writer goes on meanwhile, see :class:`~.sqlite_writer.WalSyncer`), so a reply
survives a process kill (``kill -9``), an OS crash and a power loss.
``NORMAL`` would survive a process kill too (the committed WAL frames are in the OS page cache) but may lose the
last transactions on power loss; it is available as an option for throwaway nodes. Commits are grouped: the
writer takes every job queued at that moment, runs each in its own SAVEPOINT (a failing job rolls back alone)
and commits once, so a burst of requests costs one fsync.

Group messages, the hot path: everything per message (hashing, packing) happens on the event loop; a request's
consecutive messages to one group are stored as one row, a run (:mod:`.sqlite_runs`), and the writer inserts
all the runs of a transaction with one statement (:mod:`.sqlite_group_messages`), deduplicated by a two-tier
index that never dirties a random page (:mod:`.sqlite_dedupe`).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from . import sqlite_group_messages
from .base import (
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
    commit_log_bytes,
    group_message_bytes,
    take_page,
    welcome_bytes,
)
from .sqlite_runs import ROW_WIDTH, pack_request
from .sqlite_schema import (
    SCHEMA_VERSION,
    WELCOME_COLUMNS,
    WELCOME_INSERT,
    dedupe_key,
    migrate,
)
from .sqlite_writer import Checkpointer, Job, WalSyncer, Writer, insert_deduplicated, store_error

DB_FILE_NAME = "node.sqlite3"
LOCK_FILE_NAME = "node.lock"
SYNCHRONOUS_LEVELS = ("FULL", "NORMAL", "EXTRA")
#: Seconds between background WAL checkpoints, and the writer's own checkpoint threshold (pages) as a backstop.
CHECKPOINT_INTERVAL = 0.1
WRITER_AUTOCHECKPOINT_PAGES = 16_384
#: The writer's page cache (KiB): the older tier of the dedupe index is probed at random for every message.
WRITER_CACHE_KIB = 64 * 1024

T = TypeVar("T")
R = TypeVar("R")


def _welcome_record(row: tuple[Any, ...]) -> WelcomeRecord:
    return WelcomeRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7] == 1)


def _commit_log_record(row: tuple[Any, ...]) -> CommitLogRecord:
    return CommitLogRecord(*row)


def _page(
    rows: sqlite3.Cursor,
    record: Callable[[tuple[Any, ...]], R],
    limit: int,
    max_bytes: int | None,
    size: Callable[[R], int],
) -> Rows[R]:
    """The page the rows of a running statement make (see :func:`~.base.take_page`); the statement is ended
    once the page is (so a row past the budget is the only one read in vain)."""
    try:
        return take_page(map(record, rows), limit, max_bytes, size)
    finally:
        rows.close()


def _connect(path: Path, synchronous: str, *, read_only: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    else:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"could not switch {path} to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


class SqliteStore(Store):
    """See the module docstring. Create with :meth:`open` (needs a running event loop)."""

    def __init__(
        self,
        data_dir: Path,
        loop: asyncio.AbstractEventLoop,
        *,
        synchronous: str = "FULL",
        read_threads: int = 4,
    ) -> None:
        super().__init__()
        synchronous = synchronous.upper()
        if synchronous not in SYNCHRONOUS_LEVELS:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS_LEVELS)}, not {synchronous}")
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE_NAME
        self._lock_fd = os.open(data_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            raise StoreError(f"{data_dir} is in use by another node process") from exc
        self._loop = loop
        self._synchronous = synchronous
        try:
            # FULL: the writer's commits are synced by a WalSyncer thread instead of inside COMMIT.
            conn = _connect(self.path, "NORMAL" if synchronous == "FULL" else synchronous, read_only=False)
            self._migrate(conn)
        except BaseException:
            os.close(self._lock_fd)
            raise
        conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        self._writer = Writer(conn, loop, self.path)
        if synchronous == "FULL":
            self._writer.syncer = WalSyncer(f"{self.path}-wal", loop)
            self._writer.syncer.start()
        self._writer.start()
        self._checkpointer = Checkpointer(
            _connect(self.path, synchronous, read_only=False), CHECKPOINT_INTERVAL
        )
        self._writer.checkpointer = self._checkpointer
        self._checkpointer.start()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._read_pool = ThreadPoolExecutor(
            max_workers=read_threads, thread_name_prefix="pyxmtp-sqlite-read"
        )
        self._closed = False

    @property
    def description(self) -> str:
        return f"SQLite {self.path}"

    @classmethod
    async def open(
        cls, data_dir: Path | str, *, synchronous: str = "FULL", read_threads: int = 4
    ) -> SqliteStore:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: cls(Path(data_dir), loop, synchronous=synchronous, read_threads=read_threads)
        )

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"database schema version {version} is newer than this node ({SCHEMA_VERSION})")
        if version < SCHEMA_VERSION:
            migrate(conn, version)

    # --- plumbing -------------------------------------------------------------------------------------------
    def _write(self, fn: Callable[[sqlite3.Connection], T], notify: Callable[[T], None] | None = None) -> Any:
        if self._closed:
            raise StoreError("the store is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._writer.jobs.put(Job(fn, future, notify))
        return future

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._synchronous, read_only=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return await self._loop.run_in_executor(self._read_pool, lambda: fn(self._reader()))
        except sqlite3.Error as exc:
            failure = store_error(exc)
            if failure is exc:
                raise
            raise failure from exc

    # --- group messages -------------------------------------------------------------------------------------
    async def insert_group_messages(self, messages: Sequence[GroupMessageFields]) -> StoredGroupMessages:
        # Everything per message happens here, on the event loop; the writer thread only runs SQL (one
        # statement for all the group messages of a transaction, see sqlite_group_messages).
        sha256 = hashlib.sha256
        flat: list[Any] = []
        keys: list[int] = []
        for group_id, data, sender_hmac, should_push, is_commit in messages:
            key = dedupe_key(sha256(group_id + data).digest())
            keys.append(key)
            flat += (group_id, data, key, sender_hmac, 1 if should_push else 0, 1 if is_commit else 0)
        if not keys:
            return StoredGroupMessages(flat, ROW_WIDTH, 3, 0, 0, None)
        if self._closed:
            raise StoreError("the store is closed")
        future: asyncio.Future[StoredGroupMessages] = self._loop.create_future()
        job = (flat, keys, pack_request(flat))
        self._writer.jobs.put(Job(None, future, self._notify_group_messages, job))
        return await future

    async def query_group_messages(
        self, group_id: bytes, *, descending: bool, cursor: int, limit: int, max_bytes: int | None = None
    ) -> Rows[GroupMessageRecord]:
        return await self._read(
            lambda c: sqlite_group_messages.query(
                c, group_id, descending=descending, cursor=cursor, limit=limit, max_bytes=max_bytes
            )
        )

    async def newest_group_messages(
        self, group_ids: Sequence[bytes], *, include_content: bool = True, max_bytes: int | None = None
    ) -> list[GroupMessageRecord | None]:
        ids = list(group_ids)

        def read(conn: sqlite3.Connection) -> list[GroupMessageRecord | None]:
            out: list[GroupMessageRecord | None] = []
            total = 0
            for gid in ids:
                record = sqlite_group_messages.newest(conn, gid, include_content=include_content)
                if record is not None and max_bytes is not None:
                    total += group_message_bytes(record)
                    if total > max_bytes:
                        raise ReplyTooLarge(f"the newest messages come to more than {max_bytes} bytes")
                out.append(record)
            return out

        return await self._read(read)

    # --- welcomes -------------------------------------------------------------------------------------------
    async def insert_welcomes(self, welcomes: Sequence[NewWelcome]) -> list[WelcomeRecord]:
        items = [(w, hashlib.sha256(w.installation_key + w.data).digest()) for w in welcomes]
        writer = self._writer

        def job(conn: sqlite3.Connection) -> list[WelcomeRecord]:
            now = time.time_ns()
            first = writer.allocate("welcome_messages", len(items))
            records = [WelcomeRecord(first + i, now, *w) for i, (w, _) in enumerate(items)]
            params = [
                (r.id, now, r.installation_key, r.data, digest, r.hpke_public_key, r.wrapper_algorithm,
                 r.welcome_metadata, 1 if r.is_pointer else 0)
                for r, (_, digest) in zip(records, items, strict=True)
            ]  # fmt: skip
            return insert_deduplicated(conn, WELCOME_INSERT, params, records)

        result: list[WelcomeRecord] = await self._write(job, self._notify_welcomes)
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
            where = "installation_key = ? AND id < ?" if cursor else "installation_key = ? AND ? = 0"
            sql = f"SELECT {WELCOME_COLUMNS} FROM welcome_messages WHERE {where} ORDER BY id DESC LIMIT ?"
        else:
            sql = (
                f"SELECT {WELCOME_COLUMNS} FROM welcome_messages WHERE installation_key = ? AND id > ? "
                "ORDER BY id LIMIT ?"
            )
        params = (installation_key, cursor, limit)
        return await self._read(
            lambda c: _page(c.execute(sql, params), _welcome_record, limit, max_bytes, welcome_bytes)
        )

    # --- key packages ---------------------------------------------------------------------------------------
    async def put_key_package(self, installation_key: bytes, key_package: bytes) -> None:
        digest = hashlib.sha256(key_package).digest()

        def job(conn: sqlite3.Connection) -> None:
            now = time.time_ns()
            conn.execute(
                "INSERT INTO installations(installation_key, key_package, created_ns, updated_ns) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(installation_key) DO UPDATE SET "
                "key_package = excluded.key_package, updated_ns = excluded.updated_ns",
                (installation_key, key_package, now, now),
            )
            conn.execute(
                "INSERT INTO key_packages(installation_key, key_package_hash, key_package, created_ns) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(installation_key, key_package_hash) DO NOTHING",
                (installation_key, digest, key_package, now),
            )

        await self._write(job)

    async def fetch_key_packages(
        self, installation_keys: Sequence[bytes], *, max_bytes: int | None = None
    ) -> list[bytes | None]:
        keys = list(installation_keys)
        sql = "SELECT key_package FROM installations WHERE installation_key = ?"

        def read(conn: sqlite3.Connection) -> list[bytes | None]:
            out: list[bytes | None] = []
            total = 0
            for key in keys:
                rows = conn.execute(sql, (key,)).fetchall()
                found = rows[0][0] if rows else None
                if found is not None and max_bytes is not None:
                    total += len(found)
                    if total > max_bytes:
                        raise ReplyTooLarge(f"the key packages come to more than {max_bytes} bytes")
                out.append(found)
            return out

        return await self._read(read)

    async def key_package_history(self, installation_key: bytes) -> list[bytes]:
        sql = "SELECT key_package FROM key_packages WHERE installation_key = ? ORDER BY id"
        rows = await self._read(lambda c: c.execute(sql, (installation_key,)).fetchall())
        return [r[0] for r in rows]

    # --- identity -------------------------------------------------------------------------------------------
    async def inbox_log(self, inbox_id: str) -> list[InboxLogRecord]:
        sql = (
            "SELECT sequence_id, inbox_id, server_timestamp_ns, identity_update FROM inbox_log "
            "WHERE inbox_id = ? ORDER BY sequence_id"
        )
        rows = await self._read(lambda c: c.execute(sql, (inbox_id,)).fetchall())
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

        def job(conn: sqlite3.Connection) -> InboxLogRecord:
            (length,) = conn.execute(
                "SELECT COUNT(*) FROM inbox_log WHERE inbox_id = ?", (inbox_id,)
            ).fetchone()
            if length != expected_length:
                raise InboxLogConflict(
                    f"inbox {inbox_id} has {length} log entries, expected {expected_length}"
                )
            now = time.time_ns()
            cur = conn.execute(
                "INSERT INTO inbox_log(inbox_id, server_timestamp_ns, identity_update) VALUES (?, ?, ?)",
                (inbox_id, now, update),
            )
            seq = cur.lastrowid
            assert seq is not None
            for address in added:
                conn.execute(
                    "INSERT INTO address_log(address, inbox_id, association_sequence_id, revocation_sequence_id) "
                    "VALUES (?, ?, ?, NULL)",
                    (address, inbox_id, seq),
                )
            for address in removed:
                conn.execute(
                    "UPDATE address_log SET revocation_sequence_id = ? WHERE rowid = ("
                    "SELECT rowid FROM address_log WHERE address = ? AND inbox_id = ? "
                    "ORDER BY association_sequence_id DESC LIMIT 1)",
                    (seq, address, inbox_id),
                )
            return InboxLogRecord(seq, inbox_id, now, update)

        result: InboxLogRecord = await self._write(job)
        return result

    async def identity_updates(self, requests: Sequence[tuple[str, int]]) -> list[list[InboxLogRecord]]:
        reqs = list(requests)
        sql = (
            "SELECT sequence_id, inbox_id, server_timestamp_ns, identity_update FROM inbox_log "
            "WHERE inbox_id = ? AND sequence_id > ? ORDER BY sequence_id"
        )

        def read(conn: sqlite3.Connection) -> list[list[InboxLogRecord]]:
            return [[InboxLogRecord(*r) for r in conn.execute(sql, req).fetchall()] for req in reqs]

        return await self._read(read)

    async def inbox_ids_for_addresses(self, addresses: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(addresses))
        sql = (
            "SELECT inbox_id FROM address_log WHERE address = ? AND revocation_sequence_id IS NULL "
            "ORDER BY association_sequence_id DESC LIMIT 1"
        )

        def read(conn: sqlite3.Connection) -> dict[str, str]:
            out: dict[str, str] = {}
            for address in wanted:
                rows = conn.execute(sql, (address,)).fetchall()
                if rows:
                    out[address] = rows[0][0]
            return out

        return await self._read(read)

    # --- commit log -----------------------------------------------------------------------------------------
    async def insert_commit_log_entries(self, entries: Sequence[NewCommitLogEntry]) -> list[CommitLogRecord]:
        items = list(entries)

        def job(conn: sqlite3.Connection) -> list[CommitLogRecord]:
            out: list[CommitLogRecord] = []
            for e in items:
                cur = conn.execute(
                    "INSERT INTO commit_log(created_ns, group_id, entry, signature) VALUES (?, ?, ?, ?)",
                    (time.time_ns(), e.group_id, e.entry, e.signature),
                )
                rowid = cur.lastrowid
                assert rowid is not None
                out.append(CommitLogRecord(rowid, e.group_id, e.entry, e.signature))
            return out

        result: list[CommitLogRecord] = await self._write(job)
        return result

    async def query_commit_log(
        self, group_id: bytes, *, cursor: int, limit: int, max_bytes: int | None = None
    ) -> Rows[CommitLogRecord]:
        sql = "SELECT id, group_id, entry, signature FROM commit_log WHERE group_id = ? AND id > ? ORDER BY id LIMIT ?"
        params = (group_id, cursor, limit)
        return await self._read(
            lambda c: _page(c.execute(sql, params), _commit_log_record, limit, max_bytes, commit_log_bytes)
        )

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.jobs.put(None)
        self._checkpointer.stop()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._writer.join)
        await loop.run_in_executor(None, self._checkpointer.join)
        # Let the writer's last completions run before the loop may go away.
        await asyncio.sleep(0)
        self._read_pool.shutdown(wait=True)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        os.close(self._lock_fd)
