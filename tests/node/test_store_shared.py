"""Several PostgreSQL stores (as several node processes would open them) on one schema: ids in commit order within
a group while others write, dedupe, the inbox log's check-and-append, live delivery of each other's commits
without gaps or duplicates, and catching up after the listening connection is cut."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from pyxmtp.node.store import (
    GROUP_MESSAGES,
    WELCOMES,
    GroupMessageRecord,
    InboxLogConflict,
    NewGroupMessage,
    NewWelcome,
    WelcomeRecord,
)

from .postgres import DSN, postgres_schemas
from .waiting import until

asyncpg = pytest.importorskip("asyncpg")
from pyxmtp.node.store.postgres import PostgresStore  # noqa: E402 - after the optional import
from pyxmtp.node.store.postgres_conn import LOCK_CLASS  # noqa: E402

OpenShared = Callable[[], Awaitable[PostgresStore]]


@pytest.fixture
async def open_shared() -> AsyncIterator[OpenShared]:
    """Opens another store on the test's schema; all are closed afterwards."""
    stores: list[PostgresStore] = []
    async with postgres_schemas() as new_schema:
        schema = new_schema()

        async def open_one() -> PostgresStore:
            stores.append(await PostgresStore.open(DSN, schema=schema))
            return stores[-1]

        yield open_one
        for s in stores:
            await s.close()


class Recorder:
    def __init__(self) -> None:
        self.groups: list[GroupMessageRecord] = []
        self.welcomes: list[WelcomeRecord] = []

    def group_messages_stored(self, records: Sequence[GroupMessageRecord]) -> None:
        self.groups += records

    def welcomes_stored(self, records: Sequence[WelcomeRecord]) -> None:
        self.welcomes += records

    def of(self, group: bytes) -> list[int]:
        return [r.id for r in self.groups if r.group_id == group]


def msg(group: bytes, data: bytes) -> NewGroupMessage:
    return NewGroupMessage(group, data, b"hmac", False, False)


async def test_stores_open_at_once_share_the_schema_and_an_exclusive_node_cannot_join(
    open_shared: OpenShared,
) -> None:
    a, b, c = await asyncio.gather(open_shared(), open_shared(), open_shared())  # migrations take turns
    admin = await asyncpg.connect(DSN)
    try:  # a node of an older version takes the lock exclusively, and cannot
        assert not await admin.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CLASS, a._schema
        )
    finally:
        await admin.close()
    stored = await asyncio.gather(
        *(s.insert_group_messages([msg(b"g", s.description.encode())]) for s in (a, b))
    )
    rows = await c.query_group_messages(b"g", descending=False, cursor=0, limit=10)
    assert len(rows) == 1 and sum(len(r) for r in stored) == 1  # one description: stored once


async def test_an_exclusive_node_keeps_shared_ones_out() -> None:
    async with postgres_schemas() as new_schema:
        schema = new_schema()
        first = await PostgresStore.open(DSN, schema=schema)  # creates the schema
        await first.close()
        old = await asyncpg.connect(DSN)
        try:
            assert await old.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CLASS, schema)
            with pytest.raises(Exception, match="older version"):
                await PostgresStore.open(DSN, schema=schema)
        finally:
            await old.close()


async def test_ids_within_a_group_become_visible_in_id_order_while_three_stores_write(
    open_shared: OpenShared,
) -> None:
    """Three stores write batches to four shared groups as fast as they can while a reader pages each group from
    its cursor: no row ever appears below a cursor the reader has passed (a skipped message), and what each store
    was told it stored is exactly what is there, once."""
    stores = [await open_shared() for _ in range(3)]
    groups = [os.urandom(16) for _ in range(4)]
    done = asyncio.Event()
    seen: dict[bytes, list[int]] = {g: [] for g in groups}

    async def writer(n: int, store: PostgresStore) -> list[GroupMessageRecord]:
        out: list[GroupMessageRecord] = []
        for i in range(40):
            batch = [msg(g, b"%d-%d-%d" % (n, i, j)) for j, g in enumerate(groups) if (i + j + n) % 2 == 0]
            out += await store.insert_group_messages(batch + batch[:1])  # and a duplicate
        return out

    async def reader(store: PostgresStore) -> None:
        cursors = dict.fromkeys(groups, 0)
        while True:
            finished = done.is_set()
            for g in groups:
                rows = await store.query_group_messages(g, descending=False, cursor=cursors[g], limit=100)
                seen[g] += [r.id for r in rows]
                if rows:
                    cursors[g] = rows[-1].id
            if finished:
                return

    reading = asyncio.ensure_future(reader(stores[0]))
    written = await asyncio.gather(*(writer(n, s) for n, s in enumerate(stores)))
    done.set()
    await reading
    for g in groups:
        everything = await stores[1].query_group_messages(g, descending=False, cursor=0, limit=100)
        ids = [r.id for r in everything]
        assert seen[g] == ids, "the reader missed a row that appeared below its cursor"
        told = sorted(r.id for batch in written for r in batch if r.group_id == g)
        assert told == ids
    for batch in written:  # a store's records carry the ids the rows got, also when not contiguous
        assert [r.id for r in batch if r.group_id == groups[0]] == sorted(
            r.id for r in batch if r.group_id == groups[0]
        )


async def test_one_inbox_log_append_wins_across_stores(open_shared: OpenShared) -> None:
    a, b = await open_shared(), await open_shared()
    results = await asyncio.gather(
        *(
            s.append_inbox_log(
                "inbox", b"u%d" % i, expected_length=0, added_addresses=(), removed_addresses=()
            )
            for i, s in enumerate((a, b, a, b))
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, InboxLogConflict) for r in results if isinstance(r, BaseException))
    assert len(await b.inbox_log("inbox")) == 1


async def test_a_store_tells_its_listeners_of_the_others_commits_in_order_once(
    open_shared: OpenShared,
) -> None:
    a, b = await open_shared(), await open_shared()
    rec = Recorder()
    b.add_listener(rec)
    g, unwatched, key = os.urandom(16), os.urandom(16), os.urandom(32)
    await b.watch(GROUP_MESSAGES, [g])
    await b.watch(WELCOMES, [key])
    stored = []
    for i in range(30):
        store = a if i % 3 else b  # b's own commits come in the same order
        stored += await store.insert_group_messages([msg(g, b"%d" % i), msg(unwatched, b"%d" % i)])
    welcome = await a.insert_welcomes([NewWelcome(key, b"w", b"pk", 1, b"", False)])
    expected = [r.id for r in stored if r.group_id == g]
    await until(lambda: len(rec.of(g)) >= 30 and rec.welcomes)
    assert rec.of(g) == expected
    assert not rec.of(unwatched)
    assert [w.id for w in rec.welcomes] == [welcome[0].id]
    b.unwatch(GROUP_MESSAGES, [g])
    assert b.watching(GROUP_MESSAGES) == 0 and b.watching(WELCOMES) == 1


async def test_delivery_catches_up_after_the_listening_connection_is_cut(open_shared: OpenShared) -> None:
    a, b = await open_shared(), await open_shared()
    rec = Recorder()
    b.add_listener(rec)
    g = os.urandom(16)
    await b.watch(GROUP_MESSAGES, [g])
    first = await a.insert_group_messages([msg(g, b"before")])
    await until(lambda: rec.of(g) == [first[0].id])
    assert b.feed is not None
    pid, connections = b.feed.listen_pid, b.feed.connections
    admin = await asyncpg.connect(DSN)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        # written while b may not be listening: b reads it when it listens again, from where it was
        during = [await a.insert_group_messages([msg(g, b"during %d" % i)]) for i in range(5)]
        await until(lambda: b.feed is not None and b.feed.connections > connections)
        after = await a.insert_group_messages([msg(g, b"after")])
    finally:
        await admin.close()
    expected = [first[0].id] + [d[0].id for d in during] + [after[0].id]
    await until(lambda: len(rec.of(g)) >= len(expected))
    assert rec.of(g) == expected
    assert b.feed.listen_pid not in (None, pid)
