"""The store's single writer thread (group commit of queued jobs, id sequences), the WAL syncer that makes its
commits durable before anyone hears of them, and the background checkpointer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .base import FailureLog, StoredGroupMessages, StoreError, WelcomeRecord, runs_of_writes, settle_writes
from .sqlite_dedupe import GroupMessageKeys
from .sqlite_group_messages import GroupMessageJob, insert_group_messages
from .sqlite_runs import ROW_WIDTH
from .sqlite_schema import NEWEST_IDS, ROWS_PER_STATEMENT, multi_row_insert

log = logging.getLogger("pyxmtp.node.store")

#: At most this many queued write jobs share one transaction (group commit).
MAX_JOBS_PER_COMMIT = 256
#: WAL length (frames, i.e. pages) past which the writer completes a checkpoint so that the WAL restarts.
WAL_RESTART_FRAMES = 4096

R = TypeVar("R", bound=WelcomeRecord)
#: How the syncer flushes the WAL (a module attribute, so that tests can watch it).
fdatasync = os.fdatasync


def insert_deduplicated(
    conn: sqlite3.Connection, spec: tuple[str, str, str], params: list[tuple[Any, ...]], records: list[R]
) -> list[R]:
    """Insert rows with pre-assigned ascending ids, skipping duplicates; the records actually inserted.

    One multi-row INSERT per chunk rather than executemany: SQLite then does a whole chunk in a single
    ``sqlite3_step`` (one release of the GIL instead of one per row, which matters under load).
    """
    if not records:
        return records
    before = conn.total_changes
    for start in range(0, len(params), ROWS_PER_STATEMENT):
        chunk = params[start : start + ROWS_PER_STATEMENT]
        conn.execute(multi_row_insert(spec, len(chunk)), list(itertools.chain.from_iterable(chunk)))
    if conn.total_changes - before == len(records):
        return records
    stored = {
        row[0]
        for row in conn.execute(
            f"SELECT id FROM {spec[0]} WHERE id BETWEEN ? AND ?", (records[0].id, records[-1].id)
        ).fetchall()
    }
    return [r for r in records if r.id in stored]


T = TypeVar("T")


def store_error(exc: Exception) -> Exception:
    """``exc`` as the store reports it: SQLite's errors of a failing database (a full disk, an I/O error, a
    lock not granted, a damaged file) as :class:`StoreError`, which callers may retry; anything else (a bug,
    or a StoreError already) as it is."""
    if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
        failure = StoreError(f"SQLite: {exc}")
        failure.__cause__ = exc
        return failure
    return exc


def take_queued(q: queue.SimpleQueue[T | None], limit: int | None) -> tuple[list[T], bool]:
    """Wait for an item, then take whatever else is queued (at most ``limit`` in all); True once None (stop)
    was taken, after which nothing more is."""
    first = q.get()
    if first is None:
        return [], True
    items = [first]
    while limit is None or len(items) < limit:
        try:
            nxt = q.get_nowait()
        except queue.Empty:
            break
        if nxt is None:
            return items, True
        items.append(nxt)
    return items, False


@dataclass(slots=True)
class Job:
    """A write: ``fn`` runs on the writer thread inside a transaction, or, for group messages, ``rows``."""

    fn: Callable[[sqlite3.Connection], Any] | None
    future: asyncio.Future[Any]
    notify: Callable[[Any], None] | None
    #: Group messages to insert (flat rows, dedupe keys, runs). Such jobs fail only when the database does;
    #: consecutive ones share a statement.
    rows: GroupMessageJob | None = None


class Writer(threading.Thread):
    """The single writer: runs queued jobs, several per transaction, and hands results back to the loop."""

    def __init__(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop, database: Path) -> None:
        super().__init__(name="pyxmtp-sqlite-writer", daemon=True)
        self._conn = conn
        self._loop = loop
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._last_ids: dict[str, int] = {}
        self._dirty: set[str] = set()
        stored = dict(conn.execute("SELECT name, value FROM sequences").fetchall())
        for table, newest in NEWEST_IDS.items():
            row = conn.execute(newest).fetchone()
            self._last_ids[table] = max(stored.get(table, 0), row[0] if row else 0)
        self.group_message_keys = GroupMessageKeys(conn, self._last_ids["group_messages"], database=database)
        self.checkpointer: Checkpointer | None = None
        #: Set when commits are synced by a :class:`WalSyncer` (then the connection does not sync them).
        self.syncer: WalSyncer | None = None
        self._checkpoint_failures = FailureLog("WAL checkpoint by the writer")

    def allocate(self, table: str, count: int) -> int:
        """Reserve ``count`` ids of ``table``; returns the first. Writer thread only (jobs run there)."""
        first = self._last_ids[table] + 1
        self._last_ids[table] += count
        self._dirty.add(table)
        return first

    def _save_sequences(self, conn: sqlite3.Connection) -> None:
        """Store the sequences that moved (in the open transaction; they count as saved once it commits)."""
        for table in self._dirty:
            conn.execute(
                "INSERT INTO sequences(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (table, self._last_ids[table]),
            )

    def run(self) -> None:
        stop = False
        while not stop:
            batch, stop = take_queued(self.jobs, MAX_JOBS_PER_COMMIT)
            if not batch:
                break
            outcomes = self._run_batch(batch)
            if self.syncer is not None:
                self.syncer.committed.put((batch, outcomes))
            else:
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                    self._loop.call_soon_threadsafe(settle_writes, batch, outcomes)
            checkpointer = self.checkpointer
            if checkpointer is not None and checkpointer.wal_frames >= WAL_RESTART_FRAMES:
                checkpointer.wal_frames = 0
                self.restart_wal()
        self.group_message_keys.close()
        if self.syncer is not None:
            self.syncer.committed.put(None)
            self.syncer.join()
        self._conn.close()

    def restart_wal(self) -> None:
        """Checkpoint between transactions, so that the next one can write the WAL from its beginning again."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            self._checkpoint_failures.failed(exc)
        else:
            self._checkpoint_failures.succeeded()

    def _run_batch(self, batch: list[Job]) -> list[tuple[bool, Any]]:
        """One transaction for the whole batch (see :meth:`_transaction`). If it fails as a whole (the
        group-message insert, or COMMIT: a full disk, say), nothing of it was committed, and each job runs again
        in a transaction of its own, so that a write fails only for a reason of its own."""
        try:
            return self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [(False, store_error(exc))]
        return [self._run_alone(job) for job in batch]

    def _run_alone(self, job: Job) -> tuple[bool, Any]:
        try:
            return self._transaction([job])[0]
        except Exception as exc:
            return (False, store_error(exc))

    def _transaction(self, batch: list[Job]) -> list[tuple[bool, Any]]:
        """Run the batch in one transaction and commit it; raises (rolled back) if it fails as a whole. A job with
        ``fn`` runs in a SAVEPOINT of its own, so that its failure leaves the others committed (a lone job skips
        the SAVEPOINT: its failure fails the transaction); consecutive group-message jobs are inserted together."""
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            now = time.time_ns()
            for run in runs_of_writes(batch):
                job = run[0]
                if job.fn is None:
                    outcomes += self._insert_group_messages(conn, run, now)
                    continue
                if len(batch) == 1:
                    outcomes.append((True, job.fn(conn)))
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    result = job.fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((False, store_error(exc)))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((True, result))
            self.group_message_keys.before_commit(conn)
            self._save_sequences(conn)
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._rolled_back()
            raise
        self._dirty.clear()
        self.group_message_keys.committed(self._last_ids["group_messages"])
        return outcomes

    def _insert_group_messages(
        self, conn: sqlite3.Connection, jobs: list[Job], now: int
    ) -> list[tuple[bool, StoredGroupMessages]]:
        parts: list[tuple[int, GroupMessageJob]] = []
        for job in jobs:
            assert job.rows is not None
            parts.append((self.allocate("group_messages", len(job.rows[1])), job.rows))
        inserted = insert_group_messages(conn, self.group_message_keys, parts, now)
        return [
            (True, StoredGroupMessages(rows[0], ROW_WIDTH, 3, first, now, done))
            for (first, rows), done in zip(parts, inserted, strict=True)
        ]

    def _rolled_back(self) -> None:
        # Ids handed out stay used (a gap, never a reuse): the sequences stay dirty, the next commit stores them.
        self.group_message_keys.rolled_back()


class WalSyncer(threading.Thread):
    """Makes the writer's commits durable, one ``fdatasync`` of the WAL for all the commits made meanwhile,
    then hands their results to the event loop (in commit order).

    With ``synchronous=FULL`` SQLite would fsync the WAL inside every COMMIT, and the writer would sit idle
    for it (about a millisecond, a third of its time under load). Instead the writer's connection runs with
    ``NORMAL`` (which still syncs the WAL header when the WAL restarts, and the WAL and the database around
    every checkpoint), commits, and goes on with the next transaction while this thread syncs. No reply, and
    no subscriber, hears of a write before the sync that covers it returned, so every acknowledged write is as
    durable as under FULL. What differs: another client's query may see a write a millisecond before it is
    durable; an OS crash or power loss in that window loses it, unacknowledged.
    """

    def __init__(self, wal_path: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name="pyxmtp-sqlite-wal-sync", daemon=True)
        self._wal_path = wal_path
        self._loop = loop
        self._fd: int | None = None
        self._failures = FailureLog("syncing the WAL")
        #: ``(batch, outcomes)`` of each commit, in commit order; None stops the thread once all are synced.
        self.committed: queue.SimpleQueue[tuple[list[Job], list[tuple[bool, Any]]] | None] = (
            queue.SimpleQueue()
        )

    def run(self) -> None:
        try:
            stop = False
            while not stop:
                items, stop = take_queued(self.committed, None)
                if not items:
                    break
                try:
                    self._sync()
                except OSError as exc:
                    self._failures.failed(exc)
                    failed = StoreError(f"the write was committed but could not be synced to disk: {exc}")
                    items = [(batch, [(False, failed)] * len(batch)) for batch, _ in items]
                else:
                    self._failures.succeeded()
                for batch, outcomes in items:
                    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                        self._loop.call_soon_threadsafe(settle_writes, batch, outcomes)
        finally:
            if self._fd is not None:
                os.close(self._fd)

    def _sync(self) -> None:
        # The WAL keeps its inode while the store is open (SQLite resets it in place); reopen if it did not.
        try:
            inode = os.stat(self._wal_path).st_ino
        except FileNotFoundError:
            return  # no WAL: nothing was written to one
        if self._fd is not None and os.fstat(self._fd).st_ino != inode:
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            self._fd = os.open(self._wal_path, os.O_RDONLY)
        fdatasync(self._fd)


class Checkpointer(threading.Thread):
    """Copies the WAL back into the database file in the background.

    ``PRAGMA wal_checkpoint(PASSIVE)`` never blocks the writer, so commits stop paying for checkpoints (a
    multi-megabyte copy plus an fsync of the database file). Under a steady stream of commits such a
    checkpoint never quite catches up, though, and the WAL can only start over from its beginning once one
    has: it would grow instead, and appending to a file costs its fsync an update of the file system's
    metadata, about ten times the cost of overwriting (measured here: 1 MiB + fdatasync, 5.4 ms appended
    versus 0.45 ms overwritten). So this thread reports the WAL's length (:attr:`wal_frames`), and past
    :data:`WAL_RESTART_FRAMES` the writer itself runs a PASSIVE checkpoint between two transactions
    (:meth:`Writer.restart_wal`), which copies only the few frames this thread has not yet and lets its next
    transaction restart the WAL. The writer's much larger ``wal_autocheckpoint`` stays as a backstop.
    """

    def __init__(self, conn: sqlite3.Connection, interval: float) -> None:
        super().__init__(name="pyxmtp-sqlite-checkpoint", daemon=True)
        self._conn = conn
        self._interval = interval
        self._stop_event = threading.Event()
        #: Frames in the WAL at the last checkpoint (since its last restart); 0 once the writer took note.
        self.wal_frames = 0
        #: Checkpoints attempted so far.
        self.runs = 0

    def run(self) -> None:
        failures = FailureLog("background WAL checkpoint")
        try:
            while not self._stop_event.wait(self._interval):
                try:
                    _busy, frames, _copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    failures.failed(exc)
                else:
                    failures.succeeded()
                    self.wal_frames = frames
                self.runs += 1
        finally:
            self._conn.close()

    def stop(self) -> None:
        self._stop_event.set()
