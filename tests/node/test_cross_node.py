"""Node processes on one PostgreSQL schema, over the wire (raw gRPC): what one node acknowledged, another reads
at once; paging and cursors agree across nodes; a subscriber on one node receives, in id order and once, what is
written through the others, also across a cut of its node's listening connection (pg_terminate_backend)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.node import Node, NodeConfig
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, query, send_request
from .builders import private_message
from .conftest import Client, connect
from .postgres import DSN, postgres_schemas
from .procs import NodeProcess, free_port, stop_all
from .waiting import until

asyncpg = pytest.importorskip("asyncpg")
pytestmark = pytest.mark.timeout(120)

Filter = mls_pb2.SubscribeGroupMessagesRequest.Filter


@asynccontextmanager
async def nodes(tmp_path: Path, count: int) -> AsyncIterator[list[tuple[NodeProcess, Client]]]:
    """``count`` node processes on one fresh schema, each with a raw client."""
    async with postgres_schemas() as new_schema:
        flags = ["--database-url", DSN, "--database-schema", new_schema(), "--no-rate-limit"]
        procs = [
            NodeProcess(tmp_path / f"data-{i}", free_port(), *flags, log=tmp_path / f"node-{i}.log")
            for i in range(count)
        ]
        clients: list[Client] = []
        try:
            await asyncio.gather(*(asyncio.to_thread(p.wait_listening) for p in procs))
            clients = [connect(p.address) for p in procs]
            yield list(zip(procs, clients, strict=True))
        finally:
            for c in clients:
                await c.channel.close()
            await stop_all(procs)
    for p in procs:
        assert "Traceback" not in p.log(), p.log()


async def read_ids(call, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    out: list[int] = []
    while len(out) < n:
        m = await asyncio.wait_for(call.read(), 30)
        assert m is not None and m is not __import__("grpc").aio.EOF, "stream ended"
        out.append(m.v1.id)
    return out


async def all_ids(client: Client, group: bytes, limit: int = 7) -> list[int]:
    """Every id of the group, paged ``limit`` at a time with the node's cursors."""
    out: list[int] = []
    cursor = 0
    while True:
        resp = await client.mls.QueryGroupMessages(query(group, ASC, cursor=cursor, limit=limit))
        out += [m.v1.id for m in resp.messages]
        if resp.paging_info.id_cursor == 0:
            return out
        cursor = resp.paging_info.id_cursor


async def test_reads_dedupe_and_paging_agree_across_nodes(tmp_path: Path) -> None:
    async with nodes(tmp_path, 3) as ((_, a), (_, b), (_, c)):
        group = os.urandom(16)
        for i in range(12):
            writer, reader = (a, b, c)[i % 3], (a, b, c)[(i + 1) % 3]
            payload = private_message(group, payload=b"%d" % i)
            await writer.mls.SendGroupMessages(send_request(payload))
            # read-your-writes across nodes: acknowledged on one, there on the next at once
            resp = await reader.mls.QueryGroupMessages(query(group, ASC, cursor=0, limit=100))
            assert resp.messages[-1].v1.data == payload
        # one new payload through all three nodes at once is stored once
        again = private_message(group, payload=b"again")
        await asyncio.gather(*(n.mls.SendGroupMessages(send_request(again)) for n in (a, b, c)))
        ids = [await all_ids(n, group) for n in (a, b, c)]
        assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 13 and ids[0] == sorted(ids[0])


async def test_a_subscriber_gets_every_node_s_writes_in_order_across_a_cut_listening_connection(
    tmp_path: Path,
) -> None:
    async with nodes(tmp_path, 3) as ((_, a), (node_b, b), (_, c)):
        group = os.urandom(16)
        call = b.mls.SubscribeGroupMessages(
            mls_pb2.SubscribeGroupMessagesRequest(filters=[Filter(group_id=group, id_cursor=0)])
        )
        await call.initial_metadata()

        async def send(n: int, through: Client) -> None:
            await through.mls.SendGroupMessages(send_request(private_message(group, payload=b"%d" % n)))

        # the subscription is registered once its first message arrives
        await send(0, a)
        got = await read_ids(call, 1)
        await asyncio.gather(*(send(n, (a, b, c)[n % 3]) for n in range(1, 31)))
        got += await read_ids(call, 30)

        admin = await asyncpg.connect(DSN)
        try:
            name = f"pyxmtp node (listen, pid {node_b.proc.pid})"

            async def listen_pid() -> int | None:
                pid: int | None = await admin.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1", name
                )
                return pid

            pid = await listen_pid()
            assert pid is not None
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            # written while B may not be listening; B reads them from its last delivered id once it listens again
            for n in range(31, 41):
                await send(n, (a, c)[n % 2])

            async def listening_again() -> bool:
                return (await listen_pid()) not in (None, pid)

            await until(listening_again)
            await send(41, a)
        finally:
            await admin.close()
        got += await read_ids(call, 11)
        assert got == await all_ids(a, group, 100)  # every message, in id order, once
        call.cancel()
        assert "re-establishing" in node_b.log()


async def test_a_pyxmtp_client_whose_node_died_streams_on_from_its_cursor_through_another(
    tmp_path: Path,
) -> None:
    """Bob's stream is on node B; B is killed with -9 while alice (on A) goes on writing; bob's client is made
    again from his database on node A: his stream delivers what he missed, from his cursor, then what comes
    next, each text once."""
    from pyxmtp.client import Client
    from pyxmtp.identity.eth import LocalWalletSigner

    async with nodes(tmp_path, 2) as ((node_a, _), (node_b, _)):
        bob_wallet = LocalWalletSigner.generate()
        alice = await Client.create(
            node_a.address, LocalWalletSigner.generate(), db_path=tmp_path / "alice.db"
        )
        bob = await Client.create(node_b.address, bob_wallet, db_path=tmp_path / "bob.db")
        got: asyncio.Queue[str] = asyncio.Queue()
        listener = asyncio.create_task(_listen(bob, got))
        try:
            dm = await alice.conversations.create_dm(bob.inbox_id)
            await dm.send_text("one")
            assert await asyncio.wait_for(got.get(), 30) == "one"  # written through A, streamed on B
            node_b.kill()
            for text in ("two", "three"):
                await dm.send_text(text)
            await _stop(listener)
            await bob.close()
            bob = await Client.create(node_a.address, bob_wallet, db_path=tmp_path / "bob.db")
            listener = asyncio.create_task(_listen(bob, got))
            assert [await asyncio.wait_for(got.get(), 30) for _ in range(2)] == ["two", "three"]
            await dm.send_text("four")
            assert await asyncio.wait_for(got.get(), 30) == "four"
            assert got.empty()
        finally:
            await _stop(listener)
            await bob.close()
            await alice.close()


async def test_a_pyxmtp_client_given_several_nodes_streams_on_when_one_goes_away(tmp_path: Path) -> None:
    """Item 4 with the SDK's own failover: bob is given nodes B and C (gRPC round_robin) and streams; B goes
    away, then (B back) C does; whichever carried his stream, it resumes on the other from his cursor: every
    text once, in order."""
    from pyxmtp.client import Client
    from pyxmtp.identity.eth import LocalWalletSigner

    async with postgres_schemas() as new_schema:
        schema = new_schema()

        async def start() -> Node:
            return await Node.start(
                NodeConfig(
                    host="127.0.0.1",
                    port=0,
                    data_dir=tmp_path / "data",
                    rate_limits=None,
                    database_url=DSN,
                    database_schema=schema,
                )
            )

        a, b, c = await start(), await start(), await start()
        alice = await Client.create(a.address, LocalWalletSigner.generate(), db_path=tmp_path / "alice.db")
        bob = await Client.create(
            [b.address, c.address], LocalWalletSigner.generate(), db_path=tmp_path / "bob.db"
        )
        got: asyncio.Queue[str] = asyncio.Queue()
        listener = asyncio.create_task(_listen(bob, got))
        try:
            dm = await alice.conversations.create_dm(bob.inbox_id)
            expected: list[str] = []
            for round_, going in enumerate(("B", "C")):
                for i in range(3):
                    expected.append(f"{going} up {i}")
                    await dm.send_text(expected[-1])
                assert [await asyncio.wait_for(got.get(), 60) for _ in range(3)] == expected[-3:]
                if going == "B":
                    await b.stop(grace=0)
                else:
                    b_port = b.port
                    b = await Node.start(
                        NodeConfig(
                            host="127.0.0.1",
                            port=b_port,
                            data_dir=tmp_path / "data",
                            rate_limits=None,
                            database_url=DSN,
                            database_schema=schema,
                        )
                    )
                    await c.stop(grace=0)
                for i in range(3):
                    expected.append(f"{going} gone {i} ({round_})")
                    await dm.send_text(expected[-1])
                assert [await asyncio.wait_for(got.get(), 60) for _ in range(3)] == expected[-3:]
            assert got.empty()
        finally:
            await _stop(listener)
            await bob.close()
            await alice.close()
            for node in (a, b, c):
                await node.stop(grace=0)


async def _listen(client: Any, got: asyncio.Queue[str]) -> None:
    async for message in client.conversations.stream_all_messages():
        if isinstance(message.content, str) and message.sender_inbox_id != client.inbox_id:
            await got.put(str(message.content))


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
