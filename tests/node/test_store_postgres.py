"""What only the PostgreSQL store has: batches mapped back to their requests when duplicates are skipped, a
writer connection that comes back after the server dropped it, and clear errors when there is no server."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Sequence

import pytest

from pyxmtp.node.store import NewGroupMessage, StoreError

from .postgres import DSN, postgres_schemas
from .waiting import until

asyncpg = pytest.importorskip("asyncpg")
from pyxmtp.node.store.postgres import PostgresStore  # noqa: E402 - after the optional import
from pyxmtp.node.store.postgres_conn import LOCK_CLASS  # noqa: E402


def msg(group: bytes, data: bytes) -> NewGroupMessage:
    return NewGroupMessage(group, data, b"hmac", True, False)


@pytest.fixture
async def store() -> AsyncIterator[PostgresStore]:
    async with postgres_schemas() as new_schema:
        s = await PostgresStore.open(DSN, schema=new_schema())
        yield s
        await s.close()


async def test_duplicates_inside_a_batch_map_back_to_their_requests(store: PostgresStore) -> None:
    rng = random.Random(7)
    pool = [msg(b"g%d" % (i % 3), b"payload %d" % i) for i in range(40)]
    requests = [[rng.choice(pool) for _ in range(rng.randint(1, 8))] for _ in range(60)]
    results = await asyncio.gather(*(store.insert_group_messages(r) for r in requests))  # few batches
    returned = [(r.id, r.group_id, r.data) for batch in results for r in batch]
    # every distinct payload was stored once, by the first request (in queue order) that carried it
    assert len(returned) == len({(m.group_id, m.data) for r in requests for m in r})
    assert [i for i, _, _ in returned] == sorted(i for i, _, _ in returned)
    stored = []
    for group in (b"g0", b"g1", b"g2"):
        rows = await store.query_group_messages(group, descending=False, cursor=0, limit=100)
        stored += [(r.id, r.group_id, r.data) for r in rows]
    assert sorted(stored) == returned
    seen: set[bytes] = set()
    for request, batch in zip(requests, results, strict=True):
        fresh = []
        for m in request:
            if m.data not in seen:
                seen.add(m.data)
                fresh.append(m.data)
        assert [r.data for r in batch] == fresh


async def test_the_writer_reconnects_after_its_connection_is_killed(
    store: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    first = await store.insert_group_messages([msg(b"g", b"before")])
    admin = await asyncpg.connect(DSN)
    try:
        pid = store.writer.connection.get_server_pid()
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        await until(
            lambda: admin.fetchval("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", pid)
        )
        try:  # the batch in flight on the dead connection fails, saying so
            await store.insert_group_messages([msg(b"g", b"while down")])
        except StoreError as exc:
            assert "PostgreSQL" in str(exc)
        after = await store.insert_group_messages([msg(b"g", b"after")])
        assert after[0].id > first[0].id
        # the new connection holds the shared lock again: a node of an older version, which takes it
        # exclusively, still cannot start on this schema
        assert not await admin.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CLASS, store._schema
        )
    finally:
        await admin.close()
    rows = await store.query_group_messages(b"g", descending=False, cursor=0, limit=10)
    assert rows[0].data == b"before" and rows[-1].data == b"after"
    assert not [
        r for r in caplog.records if r.exc_info
    ]  # a lost connection is logged once, without a traceback


async def test_a_cancelled_writer_does_not_stop_the_others(store: PostgresStore) -> None:
    tasks = [asyncio.ensure_future(store.insert_group_messages([msg(b"g", b"%d" % i)])) for i in range(20)]
    tasks[5].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[5], asyncio.CancelledError)
    assert sum(not isinstance(d, BaseException) for d in done) == 19
    rows = await store.query_group_messages(b"g", descending=True, cursor=0, limit=100)
    assert len(rows) in (19, 20)  # the cancelled one may have been committed already; nobody waits for it


async def test_every_reply_is_visible_to_the_next_read(store: PostgresStore) -> None:
    group = os.urandom(16)

    async def write_then_read(i: int) -> None:
        stored = await store.insert_group_messages([msg(group, b"%d" % i)])
        rows = await store.query_group_messages(group, descending=True, cursor=0, limit=100)
        assert stored[0].id in {r.id for r in rows}

    await asyncio.gather(*(write_then_read(i) for i in range(30)))


async def test_no_server_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        await PostgresStore.open("postgresql://127.0.0.1:1/test")


@pytest.mark.parametrize(
    ("dsn", "schema", "shown"),
    [
        ("postgresql://bob:s3cret@db.example:5432/xmtp?sslmode=require&password=s3cret", None,
         "PostgreSQL postgresql://bob@db.example:5432/xmtp"),
        ("postgresql://127.0.0.1/test", "nodes", "PostgreSQL postgresql://127.0.0.1/test, schema nodes"),
        ("host=db.example password=s3cret dbname=xmtp", None, "PostgreSQL host=db.example dbname=xmtp"),
    ],
)  # fmt: skip
def test_the_description_shows_where_but_never_a_password(dsn: str, schema: str | None, shown: str) -> None:
    assert PostgresStore(dsn, schema, 1).description == shown


async def test_reads_survive_their_connections_being_killed(store: PostgresStore) -> None:
    await store.insert_group_messages([msg(b"g", b"kept")])
    await asyncio.gather(
        *(store.query_group_messages(b"g", descending=False, cursor=0, limit=10) for _ in range(8))
    )
    pooled = [h._con.get_server_pid() for h in store._pool._holders if h._con is not None]  # asyncpg's own
    assert pooled
    admin = await asyncpg.connect(DSN)
    try:
        for pid in pooled:  # only this store's: other tests run beside this one on the same server
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    for _ in range(6):  # every pooled connection is dead, maybe not noticed yet: each read still answers
        rows = await store.query_group_messages(b"g", descending=False, cursor=0, limit=10)
        assert [r.data for r in rows] == [b"kept"]


async def test_its_connections_are_named_in_pg_stat_activity(store: PostgresStore) -> None:
    await store.query_group_messages(b"g", descending=False, cursor=0, limit=1)
    admin = await asyncpg.connect(DSN)
    try:
        pooled = [h._con.get_server_pid() for h in store._pool._holders if h._con is not None]
        names = dict(
            await admin.fetch(
                "SELECT pid, application_name FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                [store.writer.connection.get_server_pid(), store.feed.listen_pid, *pooled],
            )
        )
    finally:
        await admin.close()
    assert names[store.writer.connection.get_server_pid()] == "pyxmtp node (writer)"
    assert names[store.feed.listen_pid] == f"pyxmtp node (listen, pid {os.getpid()})"
    assert {names[pid] for pid in pooled} == {"pyxmtp node"}


async def test_a_write_that_breaks_the_batch_statement_fails_alone(store: PostgresStore) -> None:
    """Concurrent writes share one INSERT; a row PostgreSQL refuses (a group id too long for its index: the API
    refuses it before, this is the store's own defence) fails that statement, and each write then runs alone:
    only the bad one fails."""
    honest = [[msg(os.urandom(16), b"honest %d" % i)] for i in range(300)]
    bad = [msg(os.urandom(3000), b"bad")]  # random: PostgreSQL cannot compress it below the index limit
    requests = [*honest[:150], bad, *honest[150:]]
    done = await asyncio.gather(*(store.insert_group_messages(r) for r in requests), return_exceptions=True)
    failed = [i for i, d in enumerate(done) if isinstance(d, BaseException)]
    assert failed == [150] and isinstance(done[150], StoreError) and "index row" in str(done[150])
    for request, stored in zip(requests, done, strict=True):
        if request is not bad:
            assert isinstance(stored, Sequence) and [r.data for r in stored] == [request[0].data]
