"""A full disk under the SQLite store (a small tmpfs, mounted by the test where it may): writes answer UNAVAILABLE,
one log line per call and no traceback, reads go on, and once space is freed the next write succeeds."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from pyxmtp.node import Node, NodeConfig
from pyxmtp.node.store import NewGroupMessage, NewWelcome, SqliteStore, StoreError

from .apihelpers import ASC, query, send_request
from .builders import private_message
from .conftest import connect

DISK_BYTES = 8 * 1024 * 1024


def msg(group_id: bytes, data: bytes) -> NewGroupMessage:
    return NewGroupMessage(group_id, data, b"", False, False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An empty 8 MiB tmpfs (skipped, saying why, where the test may not mount one)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(path: Path) -> None:
    """Write ``path`` until the disk is full."""
    chunk = b"\0" * 65536
    with path.open("wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            f.truncate(f.tell() - f.tell() % 4096)


async def test_a_full_disk_is_unavailable_then_recovers(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pyxmtp")
    node = await Node.start(NodeConfig(port=0, data_dir=small_disk / "data", rate_limits=None))
    client = connect(node.address)
    try:
        g = os.urandom(16)
        await client.mls.SendGroupMessages(send_request(private_message(g, payload=b"before")))
        fill(small_disk / "filler")
        before = len(caplog.records)
        for _ in range(3):  # a write larger than anything before needs the WAL to grow: no space
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await client.mls.SendGroupMessages(
                    send_request(private_message(g, payload=os.urandom(1 << 20)))
                )
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert info.value.details() == "the node's store is unavailable (MlsApi/SendGroupMessages)"
        failures = caplog.records[before:]
        assert not [r for r in failures if r.exc_info], "a traceback was logged"
        per_call = [r for r in failures if "SendGroupMessages failed in the store" in r.getMessage()]
        assert len(per_call) == 3 and "database or disk is full" in per_call[0].getMessage()
        # reads go on
        assert [m.v1.data[-6:] for m in (await client.mls.QueryGroupMessages(query(g, ASC))).messages] == [
            private_message(g, payload=b"before")[-6:]
        ]
        (small_disk / "filler").unlink()
        after = private_message(g, payload=os.urandom(1 << 20))
        await client.mls.SendGroupMessages(send_request(after))
        got = await client.mls.QueryGroupMessages(query(g, ASC))
        assert [m.v1.data for m in got.messages][-1] == after and len(got.messages) == 2
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        await client.channel.close()
        await node.stop(grace=0)


async def test_a_write_the_disk_cannot_hold_fails_alone(small_disk: Path) -> None:
    """Writes share a transaction; when it fails as a whole, each write runs again on its own, so the small writes
    batched with one the disk cannot hold are stored."""
    store = await SqliteStore.open(small_disk / "data")
    try:
        fill(small_disk / "filler")
        os.truncate(
            small_disk / "filler", (small_disk / "filler").stat().st_size - 640 * 1024
        )  # room for the 21 small writes, not the 1 MiB one
        held, release = threading.Event(), threading.Event()

        def hold(conn: object) -> None:  # keeps the writer busy until everything below is queued
            held.set()
            release.wait(10)

        first = asyncio.ensure_future(store._write(hold))
        assert await asyncio.to_thread(held.wait, 10)
        g = os.urandom(16)
        big = asyncio.ensure_future(store.insert_group_messages([msg(g, os.urandom(1 << 20))]))
        small = [
            asyncio.ensure_future(store.insert_group_messages([msg(g, b"small %d" % i)])) for i in range(20)
        ]
        welcome = asyncio.ensure_future(
            store.insert_welcomes([NewWelcome(b"k" * 32, b"w", b"p", 1, b"", False)])
        )
        await asyncio.sleep(0)  # each task runs up to its first await: its write is queued by then
        assert store._writer.jobs.qsize() == 22  # ... behind the held job: the writer takes them as one batch
        release.set()
        await first
        with pytest.raises(StoreError, match="database or disk is full"):
            await big
        assert [len(await s) for s in small] == [1] * 20
        assert len(await welcome) == 1
        stored = await store.query_group_messages(g, descending=False, cursor=0, limit=100)
        assert [r.data for r in stored] == [b"small %d" % i for i in range(20)]
    finally:
        await store.close()
