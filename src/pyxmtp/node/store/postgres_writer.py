"""The PostgreSQL store's writer: one connection that runs every write of this process, grouped.

A task takes every write queued at that moment and runs them as one transaction (each non-message write in a
SAVEPOINT of its own, so that a failing one rolls back alone), after taking all of the batch's ordering locks at
once, in order (see :mod:`.postgres`). All the group messages of a batch, from however many requests, go in with
one statement, which takes their groups' locks and sends their notification itself; a batch of group messages
only is that one statement on its own (an implicit transaction): one round trip. A lost connection or a failing
statement fails the writes of that batch with :class:`StoreError`; the next batch connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from . import postgres_schema as sql
from .base import (
    FailureLog,
    GroupMessageFields,
    InboxLogConflict,
    StoredGroupMessages,
    StoreError,
    runs_of_writes,
    settle_writes,
)
from .postgres_conn import GROUP_KEY, ORDER_LOCK_CLASS, Connection, SchemaKeys, connection_lost, notes

log = logging.getLogger("pyxmtp.node.store")

#: At most this many queued writes share one transaction.
MAX_JOBS_PER_COMMIT = 256

#: A write other than group messages: runs on the writer connection inside the batch's transaction.
WriteFn = Callable[[Connection], Awaitable[Any]]


@dataclass(slots=True)
class _Job:
    fn: WriteFn | None  # None: group messages
    messages: Sequence[GroupMessageFields]
    future: asyncio.Future[Any]
    notify: Callable[[Any], None] | None
    #: The ordering locks a write other than group messages takes (those of group messages come from them).
    keys: set[int] = field(default_factory=set)


class Writer:
    """See the module docstring. ``connect()`` makes a new writing connection (holding the schema's shared lock)."""

    def __init__(
        self, connection: Connection, connect: Callable[[], Awaitable[Connection]], keys: SchemaKeys
    ) -> None:
        self.connection: Connection | None = connection
        self._connect = connect
        self.keys = keys
        self._queue: list[_Job] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._failures = FailureLog("writing to PostgreSQL")
        self._task = asyncio.get_running_loop().create_task(self._write_loop(), name="pyxmtp-postgres-writer")

    def submit(
        self,
        fn: WriteFn | None,
        messages: Sequence[GroupMessageFields] = (),
        notify: Callable[[Any], None] | None = None,
        keys: set[int] | None = None,
    ) -> asyncio.Future[Any]:
        if self._closed:
            raise StoreError("the store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(fn, messages, future, notify, keys or set()))
        self._wake.set()
        return future

    async def close(self) -> None:
        """Finish the queued writes, then close the connection."""
        self._closed = True
        self._wake.set()
        await self._task
        if self.connection is not None:
            with contextlib.suppress(OSError, asyncpg.InterfaceError):
                await self.connection.close()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queue:
                if self._closed:
                    return
                continue
            batch = self._queue[:MAX_JOBS_PER_COMMIT]
            del self._queue[:MAX_JOBS_PER_COMMIT]
            if self._queue or self._closed:
                self._wake.set()
            settle_writes(batch, await self._run_batch(batch))

    async def _run_batch(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        """One transaction for the batch. If it fails as a whole while the connection stays up (a statement of
        it failed: one request's rows broke the group-message insert, say), nothing of it was committed, and
        each write runs again on its own, so that only the writes that fail by themselves fail."""
        try:
            conn = self.connection
            if conn is None or conn.is_closed():
                self.connection = None
                conn = self.connection = await self._connect()
            try:
                if all(job.fn is None for job in batch):
                    outcomes = await self._insert_group_messages(conn, batch)
                else:
                    outcomes = await self._run_transaction(conn, batch)
            except Exception as exc:
                if len(batch) == 1 or conn.is_closed() or connection_lost(exc):
                    raise
            else:
                self._failures.succeeded()
                return outcomes
            return [(await self._run_batch([job]))[0] for job in batch]
        except Exception as exc:
            failure = exc if isinstance(exc, StoreError) else StoreError(f"PostgreSQL write failed: {exc}")
            if connection_lost(exc) or (
                isinstance(exc, StoreError) and not isinstance(exc, InboxLogConflict)
            ):
                self._failures.failed(exc)  # the server went away: once, not a traceback per write
            elif not isinstance(exc, (StoreError, asyncpg.PostgresError)):
                log.exception("PostgreSQL write failed")
            return [(False, failure)] * len(batch)

    async def _run_transaction(self, conn: Connection, batch: list[_Job]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        assert self.keys is not None
        keys: set[int] = set()
        for job in batch:
            keys |= (
                job.keys
                if job.fn is not None
                else self.keys.lock_keys(GROUP_KEY, (m[0] for m in job.messages))
            )
        async with conn.transaction():
            if keys:  # every ordering lock of the batch at once, in order (see the module docstring)
                await conn.execute(sql.LOCK_KEYS, ORDER_LOCK_CLASS, sorted(keys))
            for run in runs_of_writes(batch):
                job = run[0]
                if job.fn is None:
                    outcomes += await self._insert_group_messages(conn, run)
                    continue
                if len(batch) == 1:  # a lone job's failure rolls the whole transaction back
                    outcomes.append((True, await job.fn(conn)))
                    continue
                try:
                    async with conn.transaction():  # a SAVEPOINT
                        result = await job.fn(conn)
                except (StoreError, asyncpg.PostgresError) as exc:
                    outcomes.append((False, exc if isinstance(exc, StoreError) else StoreError(str(exc))))
                else:
                    outcomes.append((True, result))
        return outcomes

    async def _insert_group_messages(self, conn: Connection, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        messages = [m for job in jobs for m in job.messages] if len(jobs) > 1 else jobs[0].messages
        group_ids, datas, hmacs, pushes, commits = zip(*messages, strict=True)
        groups = set(group_ids)
        assert self.keys is not None
        now = time.time_ns()
        rows = await conn.fetch(
            sql.INSERT_GROUP_MESSAGES, now, group_ids, datas, hmacs, [bool(p) for p in pushes],
            [bool(c) for c in commits], ORDER_LOCK_CLASS, sorted(self.keys.lock_keys(GROUP_KEY, groups)),
            self.keys.channel, notes(GROUP_KEY, groups),
        )  # fmt: skip
        flat = [v for m in messages for v in m]
        inserted: list[int] | None = None
        ids: list[int] | None = None
        first = min(r[0] for r in rows) if rows else 0
        if len(rows) != len(messages) or max(r[0] for r in rows) - first != len(messages) - 1:
            inserted, ids = _match_inserted(rows, messages)
            first = 0
        outcomes: list[tuple[bool, Any]] = []
        offset = 0
        for job in jobs:
            n = len(job.messages)
            mine: list[int] | None = None
            my_ids: list[int] | None = None
            if inserted is not None and ids is not None:
                picked = [
                    (i, n_id) for i, n_id in zip(inserted, ids, strict=True) if offset <= i < offset + n
                ]
                mine, my_ids = [i - offset for i, _ in picked], [n_id for _, n_id in picked]
            outcomes.append(
                (
                    True,
                    StoredGroupMessages(
                        flat[5 * offset : 5 * (offset + n)], 5, 2, first + offset, now, mine, my_ids
                    ),
                )
            )
            offset += n
        return outcomes


def _match_inserted(
    rows: Sequence[Any], messages: Sequence[GroupMessageFields]
) -> tuple[list[int], list[int]]:
    """Which inputs the insert stored (it returned ``(id, hash)`` of those): the first occurrence of each new
    payload, and its id. Every input drew one id in input order, so the ids increase; returns
    ``(indices, ids)``."""
    returned = {bytes(r[1]): r[0] for r in rows}
    inserted: list[int] = []
    ids: list[int] = []
    for i, (group_id, data, *_rest) in enumerate(messages):
        record_id = returned.pop(hashlib.sha256(group_id + data).digest(), None)
        if record_id is None:
            continue
        if ids and record_id <= ids[-1]:
            raise StoreError("PostgreSQL assigned group message ids out of input order")
        inserted.append(i)
        ids.append(record_id)
    return inserted, ids
