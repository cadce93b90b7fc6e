"""The SQLite store with synchronous=FULL: no reply and no subscriber hears of a write before the WAL is synced."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from pyxmtp.node.store import GroupMessageRecord, NewGroupMessage, SqliteStore, WelcomeRecord, sqlite_writer
from pyxmtp.node.store.sqlite import DB_FILE_NAME


class Listener:
    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def group_messages_stored(self, records: Sequence[GroupMessageRecord]) -> None:
        self.seen += [r.data for r in records]

    def welcomes_stored(self, records: Sequence[WelcomeRecord]) -> None:
        pass


async def test_a_write_is_acknowledged_only_after_the_wal_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncing, release = threading.Event(), threading.Event()
    synced: list[int] = []

    def held_fdatasync(fd: int) -> None:
        syncing.set()
        release.wait(10)
        os.fdatasync(fd)
        synced.append(os.fstat(fd).st_size)

    monkeypatch.setattr(sqlite_writer, "fdatasync", held_fdatasync)
    store = await SqliteStore.open(tmp_path)
    listener = Listener()
    store.add_listener(listener)
    group = b"g" * 16
    write = asyncio.ensure_future(
        store.insert_group_messages([NewGroupMessage(group, b"a", b"", False, False)])
    )
    assert await asyncio.to_thread(
        syncing.wait, 10
    )  # the writer committed and handed the commit to the syncer
    # Committed (another connection sees it), but neither the writer nor a subscriber has been told.
    assert [
        r.data for r in await store.query_group_messages(group, descending=False, cursor=0, limit=10)
    ] == [b"a"]
    assert not write.done() and listener.seen == [] and synced == []
    release.set()
    assert [r.data for r in await asyncio.wait_for(write, 10)] == [b"a"]
    assert listener.seen == [b"a"] and len(synced) == 1
    assert synced[0] == (tmp_path / (DB_FILE_NAME + "-wal")).stat().st_size > 0
    # Later commits are synced too, in order, however many pile up behind one sync.
    writes = [
        store.insert_group_messages([NewGroupMessage(group, b"%d" % i, b"", False, False)]) for i in range(20)
    ]
    await asyncio.gather(*writes)
    assert listener.seen == [b"a", *(b"%d" % i for i in range(20))] and 2 <= len(synced) <= 21
    await store.close()


async def test_a_failed_sync_fails_the_writes_it_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fdatasync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    store = await SqliteStore.open(tmp_path)
    listener = Listener()
    store.add_listener(listener)
    monkeypatch.setattr(sqlite_writer, "fdatasync", broken_fdatasync)
    with pytest.raises(sqlite_writer.StoreError, match="could not be synced to disk"):
        await store.insert_group_messages([NewGroupMessage(b"g" * 16, b"a", b"", False, False)])
    assert listener.seen == []
    monkeypatch.undo()
    await store.close()


async def test_normal_durability_has_no_syncer(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path, synchronous="normal")
    assert store._writer.syncer is None
    assert len(await store.insert_group_messages([NewGroupMessage(b"g" * 16, b"a", b"", False, False)])) == 1
    await store.close()
