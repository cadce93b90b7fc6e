"""Reads from a PostgreSQL streaming replica (issue 15 item 5): a primary and a replica of the test's own
(:mod:`.pg_cluster`), nodes with ``--database-url`` on the primary and ``--read-database-url`` on the replica.

- the API's reads are served by the replica (the store's counters, and the replica's own pg_stat_statements);
- read-your-writes with the replica's replay paused, also when the write went through another node, for a
  subscription's history too; with time to wait, a read waits for replay instead;
- a replica that stops: reads carry on through the primary, one warning, and the replica serves again once back;
  its connections ended by an administrator are replaced without that;
- a promoted replica, and a read URL that names no replica of the primary, are not read;
- one position query answers every read that asked before it was sent, and none that asked later;
- ``pyxmtp node --read-database-url`` in a real process, and the flags.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from pyxmtp.cli.main import build_parser
from pyxmtp.cli.node_cmd import _config, _worker_argv
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.node import Node, NodeConfig
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, query, send_request, welcome_v1
from .builders import KeyPackageSpec, private_message
from .conftest import Client, connect
from .identity_helpers import inbox_ids_request, inbox_of, publish, register, updates_request
from .pg_cluster import Replication
from .procs import NodeProcess
from .waiting import until

asyncpg = pytest.importorskip("asyncpg")
from pyxmtp.node.store.postgres import PostgresStore  # noqa: E402 - after the optional import
from pyxmtp.node.store.postgres_replica import Coalesced, NotAReplica, ReplicaReads, ReplicaStats  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def replication() -> Iterator[Replication]:
    cluster = Replication()
    try:
        cluster.start()
        cluster.sql(cluster.primary, "CREATE EXTENSION pg_stat_statements")
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def schema() -> str:
    return f"rr_{uuid.uuid4().hex[:12]}"


class Running:
    def __init__(self, node: Node, store: PostgresStore) -> None:
        self.node = node
        self.store = store
        self.client = connect(node.address)

    @property
    def stats(self) -> ReplicaStats:
        stats = self.store.replica_stats
        assert stats is not None
        return stats


@asynccontextmanager
async def running(
    cluster: Replication, schema: str, tmp_path: Path, read_dsn: str | None = None, wait: float = 0.05
) -> AsyncIterator[Running]:
    """A node on the primary's ``schema`` that reads ``read_dsn`` (default: the replica), waiting up to ``wait``
    seconds for it to catch up, and probing it every 0.1 s while it is down."""
    read_dsn = read_dsn or cluster.replica.dsn
    store = await PostgresStore.open(
        cluster.primary.dsn, schema=schema, read_dsn=read_dsn, replica_wait=wait, replica_retry=0.1
    )
    config = NodeConfig(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        rate_limits=None,
        database_url=cluster.primary.dsn,
        database_schema=schema,
        read_database_url=read_dsn,
    )
    node = await Node.start(config, store=store)
    run = Running(node, store)
    try:
        yield run
    finally:
        await run.client.channel.close()
        await node.stop(grace=0)


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def group_datas(client: Client, group_id: bytes) -> list[bytes]:
    resp = await client.mls.QueryGroupMessages(query(group_id, ASC))
    return [m.v1.data for m in resp.messages]


def served_by_replica(run: Running, call: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
    """A condition: ``call()`` answers correctly and the replica served it (it may lag on a loaded machine: the
    read then went to the primary, and the condition is tried again)."""

    async def condition() -> bool:
        before = run.stats.replica
        assert await call()
        return run.stats.replica > before

    return condition


async def test_the_api_reads_are_served_by_the_replica(
    replication: Replication, schema: str, tmp_path: Path
) -> None:
    async with running(replication, schema, tmp_path) as run:
        c = run.client
        group, key = os.urandom(16), os.urandom(32)
        message = private_message(group)
        await c.mls.SendGroupMessages(send_request(message))
        await c.mls.SendWelcomeMessages(mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(key, b"w")]))
        spec = KeyPackageSpec()
        kp = spec.to_bytes()
        await c.mls.UploadKeyPackage(
            mls_pb2.UploadKeyPackageRequest(
                key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=kp),
                is_inbox_id_credential=True,
            )
        )
        wallet = LocalWalletSigner.generate()
        inbox = inbox_of(wallet)
        await c.identity.PublishIdentityUpdate(publish(register(wallet, InstallationKey.generate())))

        async def messages() -> bool:
            return await group_datas(c, group) == [message]

        async def newest() -> bool:
            resp = await c.mls.GetNewestGroupMessage(
                mls_pb2.GetNewestGroupMessageRequest(group_ids=[group], include_content=True)
            )
            return bool(resp.responses[0].group_message.v1.data == message)

        async def welcomes() -> bool:
            resp = await c.mls.QueryWelcomeMessages(mls_pb2.QueryWelcomeMessagesRequest(installation_key=key))
            return [w.v1.data for w in resp.messages] == [b"w"]

        async def key_packages() -> bool:
            resp = await c.mls.FetchKeyPackages(
                mls_pb2.FetchKeyPackagesRequest(installation_keys=[spec.installation_key])
            )
            return bool(resp.key_packages[0].key_package_tls_serialized == kp)

        async def identity_updates() -> bool:
            resp = await c.identity.GetIdentityUpdates(updates_request((inbox, 0)))
            return len(resp.responses[0].updates) == 1

        async def inbox_ids() -> bool:
            resp = await c.identity.GetInboxIds(inbox_ids_request(wallet.address))
            return bool(resp.responses[0].inbox_id == inbox)

        async def commit_log() -> bool:
            request = mls_pb2.QueryCommitLogRequest(group_id=group)
            resp = await c.mls.BatchQueryCommitLog(mls_pb2.BatchQueryCommitLogRequest(requests=[request]))
            return not resp.responses[0].commit_log_entries

        for call in (messages, newest, welcomes, key_packages, identity_updates, inbox_ids, commit_log):
            await until(served_by_replica(run, call))

        # The replica's own statistics agree: it ran the reads of each table, on connections named for it.
        statements = await fetch(
            replication.replica.dsn, "SELECT query, calls FROM pg_stat_statements WHERE query LIKE '%FROM%'"
        )
        for table in (
            "group_messages",
            "welcome_messages",
            "installations",
            "inbox_log",
            "address_log",
            "commit_log",
        ):
            assert any(table in s["query"] and s["calls"] > 0 for s in statements), table
        names = await fetch(replication.replica.dsn, "SELECT application_name FROM pg_stat_activity")
        assert "pyxmtp node (replica)" in {n["application_name"] for n in names}


async def test_read_your_writes_while_the_replica_is_paused(
    replication: Replication, schema: str, tmp_path: Path
) -> None:
    """Replay paused: the replica stops at what it had; every write is read back at once, through the node that
    took it and through another node on the same primary, from the primary."""
    async with (
        running(replication, schema, tmp_path / "a") as a,
        running(replication, schema, tmp_path / "b") as b,
    ):
        group = os.urandom(16)
        first = private_message(group)
        await a.client.mls.SendGroupMessages(send_request(first))
        await until(served_by_replica(b, lambda: _has(b.client, group, [first])))

        await replication.pause_replay()
        try:
            second = private_message(group)
            await a.client.mls.SendGroupMessages(send_request(second))
            lagging_a, lagging_b = a.stats.lagging, b.stats.lagging
            assert await group_datas(a.client, group) == [first, second]
            assert await group_datas(b.client, group) == [first, second]
            assert a.stats.lagging > lagging_a and b.stats.lagging > lagging_b

            key = os.urandom(32)
            await b.client.mls.SendWelcomeMessages(
                mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(key, b"welcome")])
            )
            resp = await a.client.mls.QueryWelcomeMessages(
                mls_pb2.QueryWelcomeMessagesRequest(installation_key=key)
            )
            assert [w.v1.data for w in resp.messages] == [b"welcome"]

            wallet = LocalWalletSigner.generate()
            await a.client.identity.PublishIdentityUpdate(
                publish(register(wallet, InstallationKey.generate()))
            )
            resp_ids = await b.client.identity.GetInboxIds(inbox_ids_request(wallet.address))
            assert resp_ids.responses[0].inbox_id == inbox_of(wallet)

            # ... none of which the replica has: those reads were the primary's.
            rows = await fetch(
                replication.replica.dsn,
                f'SELECT count(*) AS n FROM "{schema}".group_messages WHERE group_id = $1',
                group,
            )
            assert rows[0]["n"] == 1
        finally:
            await replication.resume_replay()
        await until(served_by_replica(b, lambda: _has(b.client, group, [first, second])))


async def test_a_read_waits_for_the_replica_to_catch_up(
    replication: Replication, schema: str, tmp_path: Path
) -> None:
    """With time to wait, a read the replica has not caught up with yet is served by it once it has."""
    async with running(replication, schema, tmp_path, wait=60.0) as run:
        group = os.urandom(16)
        await replication.pause_replay()
        try:
            message = private_message(group)
            await run.client.mls.SendGroupMessages(send_request(message))
            reading = asyncio.create_task(group_datas(run.client, group))
        finally:
            await replication.resume_replay()
        assert await reading == [message]
        assert run.stats.replica == 1 and run.stats.lagging == 0


async def test_a_subscription_replays_what_was_written_before_it(
    replication: Replication, schema: str, tmp_path: Path
) -> None:
    """A subscription's history is read like any read (here from the primary: replay is paused), then live
    delivery follows, through another node than the writes."""
    async with (
        running(replication, schema, tmp_path / "a") as a,
        running(replication, schema, tmp_path / "b") as b,
    ):
        group = os.urandom(16)
        await replication.pause_replay()
        try:
            first, second = private_message(group), private_message(group)
            await a.client.mls.SendGroupMessages(send_request(first))
            call = b.client.mls.SubscribeGroupMessages(
                mls_pb2.SubscribeGroupMessagesRequest(
                    filters=[mls_pb2.SubscribeGroupMessagesRequest.Filter(group_id=group, id_cursor=0)]
                )
            )
            got = await asyncio.wait_for(call.read(), 30)
            assert got.v1.data == first
            await a.client.mls.SendGroupMessages(send_request(second))
            got = await asyncio.wait_for(call.read(), 30)
            assert got.v1.data == second
            call.cancel()
        finally:
            await replication.resume_replay()


async def _has(client: Client, group: bytes, datas: list[bytes]) -> bool:
    return await group_datas(client, group) == datas


async def test_a_replica_that_stops_sends_reads_to_the_primary(
    replication: Replication, schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pyxmtp.node.store")
    async with running(replication, schema, tmp_path) as run:
        group = os.urandom(16)
        message = private_message(group)
        await run.client.mls.SendGroupMessages(send_request(message))
        await until(served_by_replica(run, lambda: _has(run.client, group, [message])))

        replication.replica.stop()
        try:
            for _ in range(5):
                assert await group_datas(run.client, group) == [message]
            assert run.stats.unavailable >= 5
            down = [r for r in caplog.records if "not serving" in r.getMessage()]
            assert len(down) == 1 and down[0].levelno == logging.WARNING
        finally:
            replication.replica.start()
        await until(served_by_replica(run, lambda: _has(run.client, group, [message])))
        assert any("serves again" in r.getMessage() for r in caplog.records)


async def test_replica_connections_ended_by_an_administrator_are_replaced(
    replication: Replication, schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``pg_terminate_backend`` of the node's replica connections loses no read and does not count as the
    replica going away."""
    caplog.set_level(logging.INFO, logger="pyxmtp.node.store")
    async with running(replication, schema, tmp_path) as run:
        group = os.urandom(16)
        message = private_message(group)
        await run.client.mls.SendGroupMessages(send_request(message))
        await until(served_by_replica(run, lambda: _has(run.client, group, [message])))
        ended = await fetch(
            replication.replica.dsn,
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity "
            "WHERE application_name = 'pyxmtp node (replica)'",
        )
        assert ended and all(e["ended"] for e in ended)
        for _ in range(3):
            assert await group_datas(run.client, group) == [message]
        await until(served_by_replica(run, lambda: _has(run.client, group, [message])))
        assert run.store._replica is not None and run.store._replica.available
        assert not [r for r in caplog.records if "not serving" in r.getMessage()]


async def test_a_promoted_replica_is_no_longer_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Promoted (failover), the replica stops following the primary: the node notices and reads the primary."""
    caplog.set_level(logging.WARNING, logger="pyxmtp.node.store")
    cluster = Replication()
    try:
        cluster.start()
        async with running(cluster, "promoted", tmp_path) as run:
            group = os.urandom(16)
            first = private_message(group)
            await run.client.mls.SendGroupMessages(send_request(first))
            await until(served_by_replica(run, lambda: _has(run.client, group, [first])))
            await asyncio.to_thread(cluster.replica.promote)
            second = private_message(group)
            await run.client.mls.SendGroupMessages(send_request(second))
            assert await group_datas(run.client, group) == [first, second]
            assert await group_datas(run.client, group) == [first, second]
            assert run.store._replica is not None and not run.store._replica.available
            assert any("no longer in recovery" in r.getMessage() for r in caplog.records)
    finally:
        cluster.close()


async def test_a_read_url_that_is_no_replica_is_not_read(
    replication: Replication, schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pyxmtp.node.store")
    async with running(replication, schema, tmp_path, read_dsn=replication.primary.dsn) as run:
        assert not run.store._replica or not run.store._replica.available
        group = os.urandom(16)
        message = private_message(group)
        await run.client.mls.SendGroupMessages(send_request(message))
        assert await group_datas(run.client, group) == [message]
        assert run.stats.replica == 0 and run.stats.unavailable >= 1
        assert any("not in recovery" in r.getMessage() for r in caplog.records)


async def test_the_lsn_clock_answers_each_read_with_a_query_sent_after_it_asked() -> None:
    """One position query serves every read that asked before it was sent; a read that asks while a query is
    under way waits for the next one (the one under way may predate its writes)."""
    sent: list[asyncio.Future[int]] = []
    started = asyncio.Event()

    async def fetch_lsn() -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        sent.append(future)
        started.set()
        return await future

    clock = Coalesced(fetch_lsn)
    early = [asyncio.create_task(clock.now()) for _ in range(50)]
    await started.wait()
    assert len(sent) == 1  # fifty reads, one query
    late = asyncio.create_task(clock.now())
    await asyncio.sleep(0)  # let it ask (an event-loop turn, not a wait for time)
    sent[0].set_result(100)
    assert await asyncio.gather(*early) == [100] * 50
    await until(lambda: len(sent) == 2)
    assert not late.done()
    sent[1].set_result(200)
    assert await late == 200
    await clock.close()


async def test_a_node_process_reads_the_replica(
    replication: Replication, schema: str, tmp_path: Path
) -> None:
    """``pyxmtp node --read-database-url``: the process reads the replica, on connections named for it."""
    flags = ["--database-url", replication.primary.dsn, "--database-schema", schema]
    proc = NodeProcess(tmp_path / "data", 0, *flags, "--read-database-url", replication.replica.dsn)
    try:
        await asyncio.to_thread(proc.wait_listening)
        client = connect(proc.address)
        group = os.urandom(16)
        message = private_message(group)
        await client.mls.SendGroupMessages(send_request(message))

        async def replica_reads() -> int:
            rows = await fetch(
                replication.replica.dsn,
                "SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_statements WHERE query LIKE '%FROM group_messages%'",
            )
            return int(rows[0]["n"])

        before = await replica_reads()

        async def read_on_replica() -> bool:
            assert await group_datas(client, group) == [message]
            return await replica_reads() > before

        await until(read_on_replica)
        names = await fetch(replication.replica.dsn, "SELECT application_name FROM pg_stat_activity")
        assert "pyxmtp node (replica)" in {n["application_name"] for n in names}
        await client.channel.close()
    finally:
        proc.signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait) == 0, proc.log()


class FakeReplicaConnection:
    """Just what the replay check reads of a replica connection: its server, when it was opened, and the
    server's replay position (counting how often it was asked)."""

    def __init__(self, server: str, opened: float, replayed: int | None) -> None:
        self.server = (server,)
        self.opened = opened
        self.replayed = replayed
        self.asked = 0

    async def fetchval(self, query: str) -> int | None:
        self.asked += 1
        return self.replayed


async def test_a_replay_position_holds_only_for_its_server_and_older_connections() -> None:
    """A position seen on one server is not taken for another behind the same URL, nor for a connection opened
    after it was seen (maybe to a later run of the server, begun again from an earlier point)."""
    reads = ReplicaReads("postgresql://replica/db", primary=_no_primary, primary_id=None, wait=0, retry=1)
    now = asyncio.get_running_loop().time()
    old_a = FakeReplicaConnection("a", now - 1, replayed=100)
    assert await reads._caught_up(old_a, 100) and old_a.asked == 1
    old_a2 = FakeReplicaConnection("a", now - 1, replayed=0)  # not asked: the position seen on "a" holds
    assert await reads._caught_up(old_a2, 90) and old_a2.asked == 0
    assert not await reads._caught_up(old_a2, 101)  # beyond it: asked, and behind
    assert old_a2.asked == 1
    other = FakeReplicaConnection("b", now - 1, replayed=50)
    assert not await reads._caught_up(other, 90) and other.asked == 1
    young = FakeReplicaConnection("a", asyncio.get_running_loop().time() + 1, replayed=10)
    assert not await reads._caught_up(young, 90) and young.asked == 1
    promoted = FakeReplicaConnection("c", now - 1, replayed=None)
    with pytest.raises(NotAReplica):
        await reads._caught_up(promoted, 1)


async def _no_primary(fn: object) -> object:
    raise AssertionError("not read here")


def test_the_cli_flags() -> None:
    args = build_parser().parse_args(
        ["node", "--database-url", "postgresql://p/db", "--read-database-url", "postgresql://r/db",
         "--read-replica-wait", "0.2", "--workers", "2"]
    )  # fmt: skip
    config = _config(args)
    assert config.read_database_url == "postgresql://r/db" and config.read_replica_wait == 0.2
    # a worker gets the URL in its environment, not on its command line
    assert "postgresql://r/db" not in _worker_argv(args, 5556)
    with pytest.raises(ValueError, match="read_database_url"):
        NodeConfig(read_database_url="postgresql://r/db")
