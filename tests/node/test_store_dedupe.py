"""Group-message deduplication in the SQLite store: both tiers, restarts, 64-bit key collisions, big and merged
batches, the v1 and v2 migrations, paging across runs, and the WAL that starts over instead of growing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.node.store import (
    GroupMessageRecord,
    NewGroupMessage,
    SqliteStore,
    StoredGroupMessages,
    sqlite_dedupe,
    sqlite_group_messages,
    sqlite_runs,
    sqlite_writer,
)
from pyxmtp.node.store import sqlite as sqlite_module
from pyxmtp.node.store.sqlite import DB_FILE_NAME
from pyxmtp.node.store.sqlite_schema import SCHEMA_VERSION, dedupe_key

from .waiting import until


def msg(group: bytes, data: bytes, *, push: bool = False, commit: bool = False) -> NewGroupMessage:
    return NewGroupMessage(group, data, b"hmac", push, commit)


async def stored(store: SqliteStore, group: bytes) -> list[bytes]:
    out: list[bytes] = []
    cursor = 0
    while True:
        page = await store.query_group_messages(group, descending=False, cursor=cursor, limit=100)
        out += [r.data for r in page]
        if len(page) < 100:
            return out
        cursor = page[-1].id


def older_tier_size(path: Path) -> int:
    conn = sqlite3.connect(path / DB_FILE_NAME)
    try:
        (n,) = conn.execute("SELECT COUNT(*) FROM group_message_keys").fetchone()
        return int(n)
    finally:
        conn.close()


async def test_resent_payloads_are_skipped_in_both_tiers_and_after_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_dedupe, "RECENT_LIMIT", 40)
    group = b"g" * 16
    first = [msg(group, b"first %d" % i) for i in range(100)]
    store = await SqliteStore.open(tmp_path)
    for start in range(0, 100, 10):  # 10 transactions: most keys move to the older tier on the way
        assert len(await store.insert_group_messages(first[start : start + 10])) == 10
    await store.close()
    moved = older_tier_size(tmp_path)
    assert 40 <= moved <= 100 - 1  # some keys in each tier
    store = await SqliteStore.open(tmp_path)  # the recent tier is rebuilt from the messages table
    assert store._writer.group_message_keys.recent == 100 - moved  # only what the older tier lacks
    again = await store.insert_group_messages([*first[::7], msg(group, b"new"), *first[3::11]])
    assert [r.data for r in again] == [b"new"]
    assert await stored(store, group) == [m.data for m in first] + [b"new"]
    assert len(await store.insert_group_messages(first)) == 0
    await store.close()
    store = await SqliteStore.open(tmp_path)
    assert len(await store.insert_group_messages([*first, msg(group, b"new")])) == 0
    assert len(await store.insert_group_messages([msg(group, b"first 1"), msg(b"h" * 16, b"first 1")])) == 1
    await store.close()


async def test_payloads_whose_keys_collide_are_all_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every key is equal: only the payload comparison tells messages apart, in either tier."""

    class CollidingSha256:
        def __init__(self, data: bytes) -> None:
            self._digest = hashlib.sha256(data).digest()

        def digest(self) -> bytes:
            return bytes(8) + self._digest[8:]

    monkeypatch.setattr(sqlite_module, "hashlib", types.SimpleNamespace(sha256=CollidingSha256))
    monkeypatch.setattr(sqlite_dedupe, "RECENT_LIMIT", 3)
    group = b"g" * 16
    store = await SqliteStore.open(tmp_path)
    a = await store.insert_group_messages([msg(group, b"a"), msg(group, b"b"), msg(group, b"a")])
    assert [r.data for r in a] == [b"a", b"b"]
    for i in range(4):  # pushes the first keys to the older tier
        assert len(await store.insert_group_messages([msg(group, b"c%d" % i), msg(group, b"d%d" % i)])) == 2
    assert older_tier_size(tmp_path) > 0
    assert (
        len(await store.insert_group_messages([msg(group, b"a"), msg(group, b"c0"), msg(group, b"c3")])) == 0
    )
    fresh = await store.insert_group_messages([msg(group, b"e"), msg(group, b"a"), msg(group, b"f")])
    assert [r.data for r in fresh] == [b"e", b"f"]
    await store.close()
    store = await SqliteStore.open(tmp_path)
    assert (
        len(await store.insert_group_messages([msg(group, b"b"), msg(group, b"f"), msg(group, b"d1")])) == 0
    )
    assert [r.data for r in await store.insert_group_messages([msg(group, b"z")])] == [b"z"]
    want = [b"a", b"b", *(x for i in range(4) for x in (b"c%d" % i, b"d%d" % i)), b"e", b"f", b"z"]
    assert await stored(store, group) == want
    await store.close()


async def test_concurrent_requests_share_a_statement_and_dedupe_across_requests(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path)
    group = b"g" * 16
    requests = [[msg(group, b"%d-%d" % (r, i)) for i in range(50)] for r in range(20)]
    requests.append([msg(group, b"3-7"), msg(group, b"new"), msg(group, b"new")])  # resent + repeated
    requests.append([msg(group, b"new"), msg(group, b"newer")])
    results = await asyncio.gather(*(store.insert_group_messages(r) for r in requests))
    assert [len(r) for r in results[:20]] == [50] * 20
    assert [r.data for r in results[20]] + [r.data for r in results[21]] == [b"new", b"newer"]
    ids = [r.id for batch in results for r in batch]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert len(await stored(store, group)) == 1002
    await store.close()


async def test_a_batch_of_many_runs_and_statements_is_stored_in_order_and_deduplicated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_group_messages, "RUNS_PER_INSERT", 4)
    monkeypatch.setattr(sqlite_runs, "MAX_RUN", 7)
    store = await SqliteStore.open(tmp_path)
    groups = [b"g" * 16, b"h" * 16, b"i" * 16]
    group_of = [groups[(i // 10) % 3] for i in range(100)]  # stretches of 10, cut into runs of at most 7
    batch = [
        NewGroupMessage(group_of[i], b"%d" % i, b"mac %d" % i, i % 2 == 0, i % 3 == 0) for i in range(100)
    ]
    records = await store.insert_group_messages(batch)
    assert isinstance(records, StoredGroupMessages) and len(records) == 100
    assert records[-1] == GroupMessageRecord(
        records[0].id + 99, records[0].created_ns, group_of[99], b"99", b"mac 99", False, True
    )
    assert records.group_ids() == set(groups)
    for group in groups:
        page = await store.query_group_messages(group, descending=False, cursor=0, limit=100)
        assert page == [r for r in records if r.group_id == group]
    resent = await store.insert_group_messages(
        [*batch[95:], msg(groups[0], b"x"), *batch[:40], msg(groups[0], b"y")]
    )
    assert [r.data for r in resent] == [b"x", b"y"] and resent.group_ids() == {groups[0]}
    assert [r.data for r in resent[0:1]] == [b"x"]
    assert (await stored(store, groups[0]))[-2:] == [b"x", b"y"]
    await store.close()
    store = await SqliteStore.open(tmp_path)  # the runs hold the dedupe keys the recent tier is rebuilt from
    assert len(await store.insert_group_messages(batch)) == 0
    await store.close()


async def test_keys_of_a_rolled_back_transaction_are_forgotten(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db", isolation_level=None)
    sqlite_module.SqliteStore._migrate(conn)
    keys = sqlite_dedupe.GroupMessageKeys(conn, 0)
    conn.execute("BEGIN")
    assert not keys.maybe_known(conn, [1, 2, 3])
    keys.remember(1, [1, 2, 3])
    assert keys.maybe_known(conn, [3]) and keys.maybe_known(conn, [4, 4])
    conn.execute("ROLLBACK")
    keys.rolled_back()
    assert not keys.maybe_known(conn, [1, 2, 3]) and keys.recent == 0
    conn.execute("BEGIN")
    keys.remember(4, [1, 2])
    conn.execute("COMMIT")
    keys.committed(5)
    assert keys.recent == 2 and keys.maybe_known(conn, [2]) and not keys.maybe_known(conn, [3])
    conn.close()


V1_GROUP_MESSAGES = """
CREATE TABLE sequences(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE group_messages(
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    group_id BLOB NOT NULL,
    data BLOB NOT NULL,
    group_id_data_hash BLOB NOT NULL UNIQUE,
    sender_hmac BLOB NOT NULL,
    should_push INTEGER NOT NULL,
    is_commit INTEGER NOT NULL
);
CREATE INDEX group_messages_group_id_id ON group_messages(group_id, id);
PRAGMA user_version = 1;
"""


async def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    group = b"g" * 16
    conn = sqlite3.connect(tmp_path / DB_FILE_NAME)
    conn.executescript(V1_GROUP_MESSAGES)
    rows: list[tuple[Any, ...]] = [
        (i, 1000 + i, group, b"old %d" % i, hashlib.sha256(group + b"old %d" % i).digest(), b"", 1, 0)
        for i in range(1, 6)
    ]
    conn.executemany("INSERT INTO group_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO sequences VALUES ('group_messages', 9)")
    conn.commit()
    conn.close()
    store = await SqliteStore.open(tmp_path)
    old = await store.query_group_messages(group, descending=False, cursor=0, limit=100)
    assert [(r.id, r.created_ns, r.data, r.should_push) for r in old] == [
        (i, 1000 + i, b"old %d" % i, True) for i in range(1, 6)
    ]
    new = await store.insert_group_messages([msg(group, b"old 2"), msg(group, b"new")])
    assert [(r.id, r.data) for r in new] == [(11, b"new")]  # ids continue after the stored sequence
    await store.close()
    conn = sqlite3.connect(tmp_path / DB_FILE_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT COUNT(*) FROM group_message_keys").fetchone()[0] == 5
    conn.close()


async def test_the_wal_starts_over_instead_of_growing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_INTERVAL", 0.005)
    monkeypatch.setattr(sqlite_writer, "WAL_RESTART_FRAMES", 64)
    store = await SqliteStore.open(tmp_path)
    group = b"g" * 16
    written = 0
    checkpointer = store._checkpointer

    def checkpointed_after(runs: int) -> Callable[[], bool]:
        """Whether a checkpoint that started after ``runs`` were counted has completed."""
        return lambda: checkpointer.runs >= runs + 2

    for _ in range(60):  # ~3 MB in 60 commits, each ~50 KB (about a dozen pages)
        await store.insert_group_messages([msg(group, os.urandom(1000)) for _ in range(50)])
        written += 50_000
        await until(checkpointed_after(checkpointer.runs))  # a background checkpoint in between
    wal = (tmp_path / (DB_FILE_NAME + "-wal")).stat().st_size
    assert wal < written / 3
    assert len(await stored(store, group)) == 3000
    await store.close()


V2_GROUP_MESSAGES = """
CREATE TABLE sequences(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
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
CREATE INDEX group_messages_group_id_id ON group_messages(group_id, id);
CREATE TABLE group_message_keys(dedupe_key INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (dedupe_key, id))
    WITHOUT ROWID;
CREATE TABLE group_message_keys_flushed(bucket INTEGER PRIMARY KEY, id INTEGER NOT NULL);
PRAGMA user_version = 2;
"""


async def test_a_version_2_database_is_migrated_to_runs(tmp_path: Path) -> None:
    """Messages of a v2 database become runs of one; their keys, in neither tier's table yet, still dedupe."""
    groups = [b"g" * 16, b"h" * 16]
    conn = sqlite3.connect(tmp_path / DB_FILE_NAME)
    conn.executescript(V2_GROUP_MESSAGES)
    rows: list[tuple[Any, ...]] = []
    for i in range(1, 8):
        group, data = groups[i % 2], b"old %d" % i
        key = dedupe_key(hashlib.sha256(group + data).digest())
        rows.append((i, 1000 + i, group, data, key, b"mac %d" % i, i % 2, i % 3 == 0))
    conn.executemany("INSERT INTO group_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO sequences VALUES ('group_messages', 7)")
    conn.commit()
    conn.close()
    store = await SqliteStore.open(tmp_path)
    for group in groups:
        old = await store.query_group_messages(group, descending=True, cursor=0, limit=100)
        assert old == [
            GroupMessageRecord(r[0], r[1], r[2], r[3], r[5], r[6] == 1, r[7])
            for r in reversed(rows)
            if r[2] == group
        ]
    new = await store.insert_group_messages(
        [msg(groups[1], b"old 3"), msg(groups[0], b"old 3"), msg(groups[0], b"x")]
    )
    # (h, old 3) was stored before: it is skipped, and its id 8 stays unused
    assert [(r.id, r.data) for r in new] == [(9, b"old 3"), (10, b"x")]
    await store.close()
    conn = sqlite3.connect(tmp_path / DB_FILE_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "group_messages" not in tables and "group_message_runs" in tables
    conn.close()


async def test_pages_cross_runs_at_any_cursor_in_both_directions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_runs, "MAX_RUN", 4)
    store = await SqliteStore.open(tmp_path)
    group, other = b"g" * 16, b"h" * 16
    mine: list[GroupMessageRecord] = []
    for size in (1, 3, 4, 9, 2, 1, 6):  # runs of 1..4 messages, with another group's messages in between
        batch = [msg(group, b"%d-%d" % (len(mine), i), push=i % 2 == 1) for i in range(size)]
        mine += await store.insert_group_messages([*batch, msg(other, b"%d" % len(mine))])
    mine = [r for r in mine if r.group_id == group]
    assert len(mine) == 26
    cursors = [0, *(r.id for r in mine), mine[-1].id + 1, mine[-1].id + 2]
    for limit in (1, 3, 4, 5, 100):
        for cursor in cursors:
            up = await store.query_group_messages(group, descending=False, cursor=cursor, limit=limit)
            assert up == [r for r in mine if r.id > cursor][:limit]
            down = await store.query_group_messages(group, descending=True, cursor=cursor, limit=limit)
            assert down == [r for r in reversed(mine) if not cursor or r.id < cursor][:limit]
    assert await store.newest_group_messages([group, other, b"none"]) == [
        mine[-1],
        (await store.query_group_messages(other, descending=True, cursor=0, limit=1))[0],
        None,
    ]
    await store.close()


async def test_the_older_tiers_filter_loads_in_the_background_and_misses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node serves before the filter is loaded (every key probed); keys moved after the loader's snapshot
    are merged in."""
    monkeypatch.setattr(sqlite_dedupe, "RECENT_LIMIT", 40)
    group = b"g" * 16
    first = [msg(group, b"first %d" % i) for i in range(100)]
    store = await SqliteStore.open(tmp_path)
    for start in range(0, 100, 10):
        await store.insert_group_messages(first[start : start + 10])
    await store.close()
    moved_before = older_tier_size(tmp_path)
    assert moved_before >= 40

    snapshot_taken, release = threading.Event(), threading.Event()
    real_older_keys = sqlite_dedupe.older_keys

    def held_back(conn: sqlite3.Connection, stop: threading.Event) -> Any:
        chunks = real_older_keys(conn, stop)
        first = next(chunks)  # one key read: the loader's snapshot is fixed from here on
        snapshot_taken.set()
        while not release.wait(0.01) and not stop.is_set():
            pass
        yield first
        yield from chunks

    monkeypatch.setattr(sqlite_dedupe, "older_keys", held_back)
    monkeypatch.setattr(sqlite_dedupe, "_LOAD_CHUNK", 1)
    store = await SqliteStore.open(tmp_path)
    keys = store._writer.group_message_keys
    assert await asyncio.to_thread(snapshot_taken.wait, 10)
    assert not keys.older_filter_complete
    for m in first:  # one at a time: a key only the older tier has is found by probing the database
        assert len(await store.insert_group_messages([m])) == 0
    second = [msg(group, b"second %d" % i) for i in range(100)]
    for start in range(0, 100, 10):  # moves more keys to the older tier while the filter is still loading
        assert len(await store.insert_group_messages(second[start : start + 10])) == 10
    assert older_tier_size(tmp_path) > moved_before + 40  # ... including keys of the second hundred
    release.set()
    await until(lambda: keys.older_filter_complete)
    assert len(await store.insert_group_messages([*first, *second, msg(group, b"new")])) == 1
    assert keys._older_complete  # adopted: the filter, not a probe of every key, ruled the new one out
    for m in [*first, *second]:  # one at a time: a key only the older tier has must pass the filter
        assert len(await store.insert_group_messages([m])) == 0
    assert len(await stored(store, group)) == 201
    await store.close()


async def test_closing_the_store_stops_a_loading_filter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped = threading.Event()

    def never_done(conn: sqlite3.Connection, stop: threading.Event) -> Any:
        stop.wait()
        stopped.set()
        return iter(())

    monkeypatch.setattr(sqlite_dedupe, "older_keys", never_done)
    store = await SqliteStore.open(tmp_path)
    assert len(await store.insert_group_messages([msg(b"g" * 16, b"a")])) == 1
    await asyncio.wait_for(store.close(), 5)
    assert stopped.is_set() and not store._writer.group_message_keys.older_filter_complete
