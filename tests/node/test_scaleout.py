"""Node scale-out (issue 15) with real processes, the real PostgreSQL and real libxmtp clients: three node
processes on one schema, each client on a different node; ``kill -9`` of one node mid-stream; a ``--workers 2``
node; and delivery that catches up after the listening connection is cut.

What "the clients carry on" means for a libxmtp 1.10 client, which talks to the one URL it was made with: the
clients on the surviving nodes go on untouched (their streams keep delivering what is written through the
others), and the client whose node died is made again from its database file on another node -- libxmtp keeps
its cursors there, so it syncs from where it was and its new stream delivers what comes next. Nothing is lost or
repeated: every conversation holds each text exactly once, in order, on every client, and each stream delivers
each text at most once.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from tests.interop.libxmtp import TIMEOUT, Collector, group_options, text_of, texts, until, v

from .apihelpers import ASC, query
from .conftest import connect
from .postgres import DSN, postgres_schemas
from .procs import NodeProcess, free_port, stop_all

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]


class Person:
    """A libxmtp installation whose database is a file, so that it can be made again on another node."""

    def __init__(self, key: bytes, db: Path) -> None:
        self.key = key
        self.db = db
        address = v.ethereum_address_from_pubkey(v.ethereum_generate_public_key(key))
        self.identifier = v.FfiIdentifier(identifier=address, identifier_kind=v.FfiIdentifierKind.ETHEREUM)
        self.inbox_id = v.generate_inbox_id(self.identifier, 0)
        self.client: Any = None
        self.stream: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.closer: Any = None
        self.streamed: list[str] = []

    async def connect(self, url: str) -> None:
        """(Re)make the client on the node at ``url``; register the identity the first time."""
        api = await v.connect_to_backend(url, None, False, None, "pyxmtp-scaleout", None, None)
        db = v.DbOptions(db=str(self.db), encryption_key=None, max_db_pool_size=None, min_db_pool_size=None)
        self.client = await v.create_client(
            api, api, db, self.inbox_id, self.identifier, 0, None, v.FfiDeviceSyncMode.DISABLED, None, None
        )
        request = self.client.signature_request()
        if request is not None:
            text = await request.signature_text()
            await request.add_ecdsa_signature(v.ethereum_sign_recoverable(text.encode(), self.key, True))
            await self.client.register_identity(request)

    async def start_stream(self) -> None:
        loop = asyncio.get_running_loop()
        self.stream = asyncio.Queue()
        self.closer = await self.client.conversations().stream_all_messages(
            Collector(loop, self.stream), None
        )
        await asyncio.wait_for(self.closer.wait_for_ready(), TIMEOUT)

    async def drop(self) -> None:
        """Let the client go (its node died): end its stream and release its database file."""
        if self.closer is not None:
            self.closer.end()
            self.closer = None
        self.client.release_db_connection()
        self.client = None

    async def sees(self, *wanted: str) -> None:
        """Read the stream until every text of ``wanted`` arrived."""
        while not set(wanted) <= set(self.streamed):
            kind, item = await asyncio.wait_for(self.stream.get(), TIMEOUT)
            if kind != "message":
                continue  # an error or close from a stream whose node died: the test makes a new one
            text = text_of(item)
            if text is not None:
                self.streamed.append(text)

    async def texts_of(self, conversation_id: bytes) -> list[str]:
        await self.client.conversations().sync_all_conversations(None)
        return await texts(self.client.conversation(conversation_id))


def assert_once(person: Person) -> None:
    repeated = [t for t, n in Counter(person.streamed).items() if n > 1]
    assert not repeated, f"streamed more than once: {repeated}"


async def converge(people: list[Person], conversation_id: bytes, expected: list[str]) -> None:
    """Every one of ``people`` ends up with exactly ``expected`` in the conversation, in order."""
    for p in people:

        async def done(p: Person = p) -> bool:
            return len(await p.texts_of(conversation_id)) >= len(expected)

        await until(done, f"{p.db.name} to have {expected}")
        assert await p.texts_of(conversation_id) == expected


@asynccontextmanager
async def nodes(tmp_path: Path, count: int, *extra: str) -> AsyncIterator[list[NodeProcess]]:
    """``count`` node processes on one fresh schema (``extra``: more flags, e.g. ``--workers 2``)."""
    async with postgres_schemas() as new_schema:
        flags = ["--database-url", DSN, "--database-schema", new_schema(), *extra]
        procs = [
            NodeProcess(tmp_path / f"data-{i}", free_port(), *flags, log=tmp_path / f"node-{i}.log")
            for i in range(count)
        ]
        try:
            await asyncio.gather(*(asyncio.to_thread(p.wait_listening) for p in procs))
            yield procs
        finally:
            await stop_all(procs)


async def group_ids_on(address: str, conversation_id: bytes) -> list[int]:
    c = connect(address)
    try:
        resp = await c.mls.QueryGroupMessages(query(conversation_id, ASC))
        return [m.v1.id for m in resp.messages]
    finally:
        await c.channel.close()


async def test_three_nodes_one_schema_clients_on_each_and_one_node_killed(tmp_path: Path) -> None:
    v.FfiIdentifier.__hash__ = lambda s: hash((s.identifier, s.identifier_kind))  # bindings 0.1.8 defect
    async with nodes(tmp_path, 3) as (a, b, c):
        url = {n: f"http://{n.address}" for n in (a, b, c)}
        alice, bob, carol = (
            Person(os.urandom(32), tmp_path / f"{name}.db3") for name in ("alice", "bob", "carol")
        )
        await alice.connect(url[a])
        await bob.connect(url[b])
        await carol.connect(url[c])
        for p in (alice, bob, carol):
            await p.start_stream()

        # a group and a DM, written through node A, streamed live on nodes B and C
        group = await alice.client.conversations().create_group(
            [bob.inbox_id, carol.inbox_id], group_options("scale-out")
        )
        await group.send_text("g1 from alice")
        dm = await alice.client.conversations().find_or_create_dm(
            bob.inbox_id, v.FfiCreateDmOptions(message_disappearing_settings=None)
        )
        await dm.send_text("dm1 from alice")
        await bob.sees("g1 from alice", "dm1 from alice")
        await carol.sees("g1 from alice")
        # written through C, streamed on A and B
        await carol.client.conversations().sync_all_conversations(None)
        await carol.client.conversation(group.id()).send_text("g2 from carol")
        await alice.sees("g2 from carol")
        await bob.sees("g2 from carol")

        # node B dies mid-stream; A and C carry on
        b.kill()
        await group.send_text("g3 from alice")
        await dm.send_text("dm2 from alice")
        await carol.sees("g3 from alice")

        # bob is made again from his database on node C: he syncs from his cursors, then streams what is new
        await bob.drop()
        await bob.connect(url[c])
        await bob.start_stream()
        await bob.client.conversations().sync_all_conversations(None)
        await bob.client.conversation(group.id()).send_text("g4 from bob")
        await alice.sees("g4 from bob")
        await carol.sees("g4 from bob")
        await carol.client.conversation(group.id()).send_text("g5 from carol")
        await bob.sees("g5 from carol")

        expected = ["g1 from alice", "g2 from carol", "g3 from alice", "g4 from bob", "g5 from carol"]
        await converge([alice, bob, carol], bytes(group.id()), expected)
        await converge([alice, bob], bytes(dm.id()), ["dm1 from alice", "dm2 from alice"])
        for p in (alice, bob, carol):
            assert_once(p)
        # both surviving nodes serve the same rows, ids increasing
        on_a = await group_ids_on(a.address, bytes(group.id()))
        assert on_a == sorted(on_a) and on_a == await group_ids_on(c.address, bytes(group.id()))
        for p in (alice, bob, carol):
            if p.closer is not None:
                p.closer.end()
    for n in (a, c):
        log = n.log()
        assert "Traceback" not in log and " ERROR " not in log, log


async def test_a_workers_node_serves_clients_and_restarts_a_killed_worker(tmp_path: Path) -> None:
    """``pyxmtp node --workers 2``: the clients' connections land on either worker (the kernel spreads them);
    messages cross between the workers live; a worker killed with -9 is restarted, and the clients carry on
    through the port (libxmtp reconnects to it, landing on a live worker)."""
    v.FfiIdentifier.__hash__ = lambda s: hash((s.identifier, s.identifier_kind))  # bindings 0.1.8 defect
    async with nodes(tmp_path, 1, "--workers", "2") as (node,):
        await until(lambda: _ready(node.log(), 2), "both workers to listen")
        url = f"http://{node.address}"
        people = [Person(os.urandom(32), tmp_path / f"p{i}.db3") for i in range(3)]
        for p in people:
            await p.connect(url)
            await p.start_stream()
        first, *others = people
        group = await first.client.conversations().create_group(
            [p.inbox_id for p in others], group_options("scale-out")
        )
        await group.send_text("m1")
        for p in others:
            await p.sees("m1")

        pids = [int(m) for m in re.findall(r"worker 1 started \(pid (\d+)\)", node.log())]
        os.kill(pids[-1], signal.SIGKILL)
        await until(lambda: _started(node.log(), 1, 2), "worker 1 to be restarted")
        await until(lambda: _ready(node.log(), 3), "the new worker 1 to listen")

        async def sent(text: str) -> bool:
            with suppress(v.FfiError.Error):  # a call on a connection to the dead worker fails once
                await group.send_text(text)
                return True
            return False

        await until(lambda: sent("m2"), "a send through the port after the kill")
        await converge(people, bytes(group.id()), ["m1", "m2"])
        for p in people:
            assert_once(p)
            if p.closer is not None:
                p.closer.end()
        node.signal(signal.SIGTERM)
        assert await asyncio.to_thread(node.wait, 30) == 0
    assert "pyxmtp node stopped (2 workers)" in node.log()


async def _started(log: str, worker: int, times: int) -> bool:
    return len(re.findall(rf"worker {worker} started", log)) >= times


async def _ready(log: str, count: int) -> bool:
    return log.count("pyxmtp node listening on") >= count
