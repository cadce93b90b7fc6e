"""The store's single writer thread: group commit of queued jobs, id sequences, results back to the loop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .base import GroupMessageRecord, WelcomeRecord
from .sqlite_schema import ROWS_PER_STATEMENT, SEQUENCED_TABLES, multi_row_insert

log = logging.getLogger("pyxmtp.node.store")

#: At most this many queued write jobs share one transaction (group commit).
MAX_JOBS_PER_COMMIT = 256

R = TypeVar("R", GroupMessageRecord, WelcomeRecord)


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


@dataclass(slots=True)
class Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    notify: Callable[[Any], None] | None


class Writer(threading.Thread):
    """The single writer: runs queued jobs, several per transaction, and hands results back to the loop."""

    def __init__(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name="pyxmtp-sqlite-writer", daemon=True)
        self._conn = conn
        self._loop = loop
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._last_ids: dict[str, int] = {}
        self._dirty: set[str] = set()
        stored = dict(conn.execute("SELECT name, value FROM sequences").fetchall())
        for table in SEQUENCED_TABLES:
            (max_id,) = conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
            self._last_ids[table] = max(stored.get(table, 0), max_id)

    def allocate(self, table: str, count: int) -> int:
        """Reserve ``count`` ids of ``table``; returns the first. Writer thread only (jobs run there)."""
        first = self._last_ids[table] + 1
        self._last_ids[table] += count
        self._dirty.add(table)
        return first

    def _save_sequences(self, conn: sqlite3.Connection) -> None:
        for table in self._dirty:
            conn.execute(
                "INSERT INTO sequences(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (table, self._last_ids[table]),
            )
        self._dirty.clear()

    def run(self) -> None:
        stop = False
        while not stop:
            job = self.jobs.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < MAX_JOBS_PER_COMMIT:
                try:
                    nxt = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            outcomes = self._run_batch(batch)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                self._loop.call_soon_threadsafe(finish_batch, batch, outcomes)
        self._conn.close()

    def _run_batch(self, batch: list[Job]) -> list[tuple[bool, Any]]:
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            if len(batch) == 1:
                try:
                    outcomes.append((True, batch[0].fn(conn)))
                except Exception as exc:
                    conn.execute("ROLLBACK")
                    self._dirty.clear()  # ids handed out stay used: a gap, never a reuse
                    return [(False, exc)]
            else:
                for job in batch:
                    conn.execute("SAVEPOINT job")
                    try:
                        result = job.fn(conn)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                        outcomes.append((False, exc))
                    else:
                        conn.execute("RELEASE job")
                        outcomes.append((True, result))
            self._save_sequences(conn)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._dirty.clear()
            return [(False, exc)] * len(batch)
        return outcomes


def finish_batch(batch: list[Job], outcomes: list[tuple[bool, Any]]) -> None:
    """On the event loop: notify listeners in commit order, then wake the writers."""
    for job, (ok, value) in zip(batch, outcomes, strict=True):
        if ok and job.notify is not None:
            try:
                job.notify(value)
            except Exception:  # a listener's bug must not leave the writing call hanging
                log.exception("store listener failed")
        if job.future.cancelled():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


class Checkpointer(threading.Thread):
    """Copies the WAL back into the database file in the background.

    ``PRAGMA wal_checkpoint(PASSIVE)`` never blocks the writer, so commits stop paying for checkpoints (a
    multi-megabyte copy plus an fsync of the database file); the writer's own, much larger
    ``wal_autocheckpoint`` stays as a backstop should the WAL outgrow what this thread keeps up with.
    """

    def __init__(self, conn: sqlite3.Connection, interval: float) -> None:
        super().__init__(name="pyxmtp-sqlite-checkpoint", daemon=True)
        self._conn = conn
        self._interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self._interval):
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.exception("background WAL checkpoint failed")
        finally:
            self._conn.close()

    def stop(self) -> None:
        self._stop_event.set()
