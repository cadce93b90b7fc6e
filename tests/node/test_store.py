"""Each store on its own (SQLite, and PostgreSQL in a fresh schema): ids, dedupe, group commit isolation,
listeners, locking, the schema guard; then what only SQLite has (WAL, synchronous, the checkpointer)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from pyxmtp.node.store import (
    GROUP_MESSAGES,
    WELCOMES,
    GroupMessageRecord,
    InboxLogConflict,
    NewGroupMessage,
    NewWelcome,
    SqliteStore,
    Store,
    StoreError,
    WelcomeRecord,
)
from pyxmtp.node.store.sqlite import DB_FILE_NAME

from .postgres import BACKENDS, DSN, postgres_schemas
from .waiting import until

#: Opens the test's store (again: the same database each time).
OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture(params=BACKENDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    if request.param == "sqlite":
        yield lambda: SqliteStore.open(tmp_path)
        return
    from pyxmtp.node.store.postgres import PostgresStore

    async with postgres_schemas() as new_schema:
        schema = new_schema()
        yield lambda: PostgresStore.open(DSN, schema=schema)


class Recorder:
    def __init__(self) -> None:
        self.groups: list[int] = []
        self.welcomes: list[int] = []

    def group_messages_stored(self, records: Sequence[GroupMessageRecord]) -> None:
        self.groups += [r.id for r in records]

    def welcomes_stored(self, records: Sequence[WelcomeRecord]) -> None:
        self.welcomes += [r.id for r in records]


def msg(group: bytes, data: bytes) -> NewGroupMessage:
    return NewGroupMessage(group, data, b"", False, False)


async def test_ids_dedupe_and_listener_order(open_store: OpenStore) -> None:
    """Listeners hear of every record of the watched keys, in id order (SQLite: of every record, at once;
    PostgreSQL: read back after the commit, so the test waits for them)."""
    store = await open_store()
    rec = Recorder()
    store.add_listener(rec)
    await store.watch(GROUP_MESSAGES, [b"g", b"h"])
    await store.watch(WELCOMES, [b"k"])
    results = await asyncio.gather(
        *(store.insert_group_messages([msg(b"g", b"%d" % i), msg(b"h", b"%d" % i)]) for i in range(50))
    )
    ids = [r.id for batch in results for r in batch]
    assert len(ids) == 100 and ids == sorted(ids)
    await until(lambda: len(rec.groups) >= 100)
    assert rec.groups == ids
    again = await store.insert_group_messages([msg(b"g", b"1"), msg(b"g", b"new"), msg(b"g", b"new")])
    assert [r.data for r in again] == [b"new"]
    await until(lambda: rec.groups[-1] == again[0].id)
    assert len(rec.groups) == 101
    rows = await store.query_group_messages(b"g", descending=False, cursor=0, limit=100)
    assert len(rows) == 51 and [r.id for r in rows] == sorted(r.id for r in rows)
    w = await store.insert_welcomes([NewWelcome(b"k", b"d", b"pk", 1, b"", False)] * 2)
    assert len(w) == 1
    await until(lambda: rec.welcomes == [w[0].id])
    await store.close()


async def test_a_failing_job_does_not_undo_its_commit_neighbours(open_store: OpenStore) -> None:
    store = await open_store()
    jobs = [store.insert_group_messages([msg(b"g", b"%d" % i)]) for i in range(20)]
    jobs.insert(
        10, store.append_inbox_log("i", b"u", expected_length=3, added_addresses=(), removed_addresses=())
    )
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(results[10], InboxLogConflict)
    assert sum(not isinstance(r, BaseException) and len(r) == 1 for r in results) == 20
    assert len(await store.query_group_messages(b"g", descending=True, cursor=0, limit=100)) == 20
    assert await store.inbox_log("i") == []
    await store.close()


async def test_address_log_keeps_the_newest_unrevoked_association(open_store: OpenStore) -> None:
    store = await open_store()
    a = await store.append_inbox_log(
        "A", b"1", expected_length=0, added_addresses=["0xaa"], removed_addresses=()
    )
    await store.append_inbox_log(
        "B", b"1", expected_length=0, added_addresses=["0xaa", "0xbb"], removed_addresses=()
    )
    assert await store.inbox_ids_for_addresses(["0xaa", "0xbb", "0xcc"]) == {"0xaa": "B", "0xbb": "B"}
    await store.append_inbox_log("B", b"2", expected_length=1, added_addresses=(), removed_addresses=["0xaa"])
    assert await store.inbox_ids_for_addresses(["0xaa"]) == {"0xaa": "A"}
    got = await store.identity_updates([("A", 0), ("B", a.sequence_id), ("C", 0)])
    assert [[r.update for r in g] for g in got] == [[b"1"], [b"1", b"2"], []]
    await store.close()


async def test_one_process_per_sqlite_database_any_number_per_postgres_schema(
    request: pytest.FixtureRequest, open_store: OpenStore
) -> None:
    store = await open_store()
    if request.node.callspec.params["open_store"] == "sqlite":
        with pytest.raises(StoreError, match="in use"):
            await open_store()
    else:
        await (await open_store()).close()
    await store.close()
    store = await open_store()  # the lock is released on close
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.fetch_key_packages([b"k"])


async def test_wal_and_synchronous_settings(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path)
    await store.close()
    conn = sqlite3.connect(tmp_path / DB_FILE_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    with pytest.raises(StoreError, match="synchronous"):
        await SqliteStore.open(tmp_path / "other", synchronous="OFF")


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path)
    await store.close()
    conn = sqlite3.connect(tmp_path / DB_FILE_NAME)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await SqliteStore.open(tmp_path)


async def test_the_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path)
    db = tmp_path / DB_FILE_NAME
    before = db.stat().st_size
    await store.insert_group_messages([msg(b"g", os.urandom(512)) for _ in range(2000)])  # ~1 MB, in the WAL
    # the writer's own backstop (64 MB of WAL) is far away: only the checkpointer copies
    await until(lambda: db.stat().st_size > before + 1_000_000)
    await store.close()


async def test_postgres_refuses_a_newer_schema() -> None:
    from pyxmtp.node.store.postgres import PostgresStore

    async with postgres_schemas() as new_schema:
        schema = new_schema()
        store = await PostgresStore.open(DSN, schema=schema)
        await store.writer.connection.execute("UPDATE pyxmtp_schema SET version = 99")
        await store.close()
        with pytest.raises(StoreError, match="newer"):
            await PostgresStore.open(DSN, schema=schema)
