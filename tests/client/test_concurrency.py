"""One conversation used from several tasks at once (a stream, syncs and sends, as a bot does): every message
is processed once, nothing is passed over, and the ratchet is never used twice."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from pyxmtp.client import Group
from pyxmtp.node import Node, NodeConfig

from .conftest import eventually, new_client, streamed_texts

pytestmark = pytest.mark.timeout(120)


async def test_syncs_sends_and_a_stream_at_once(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pyxmtp.client")
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_group([bob.inbox_id])
    [bob_dm] = await bob.conversations.sync()
    assert isinstance(bob_dm, Group)
    streamed: list[str] = []
    updates: list[object] = []
    stream = bob.conversations.stream_all_messages()

    async def listen() -> None:
        async for message in stream:
            if isinstance(message.content, str):
                streamed.append(message.content)
            else:
                updates.append(message)

    listener = asyncio.create_task(listen())
    await stream.wait_ready()
    for i in range(10):
        await dm.send_text(f"alice {i}")
    await asyncio.gather(
        bob_dm.sync(),
        bob_dm.update_name("renamed while busy"),  # a commit pending across awaits
        bob_dm.send_text("bob a"),
        bob_dm.sync(),
        bob_dm.send_text("bob b"),
        bob_dm.sync(),
        *(bob_dm.sync() for _ in range(3)),
    )
    await dm.send_text("last")  # the stream delivers in the node's order: once it has this, it had the rest
    await eventually(lambda: "last" in streamed, "the stream to reach alice's last message")
    await stream.close()
    await listener  # the loop ends once the stream is closed
    texts = bob_dm.texts()
    assert sorted(texts) == sorted([f"alice {i}" for i in range(10)] + ["bob a", "bob b", "last"])
    assert len(set(streamed)) == len(streamed) and set(streamed) == set(texts)  # each streamed once
    assert not caplog.records, caplog.text  # nothing passed over
    await dm.sync()
    assert sorted(dm.texts()) == sorted(texts)  # alice reads both of bob's: no ratchet key was used twice
    assert dm.name == bob_dm.name == "renamed while busy"
    assert len(updates) == 1  # the rename's "group updated" entry, streamed once


async def test_the_stream_survives_a_node_restart(tmp_path: Path) -> None:
    """The node restarts (same port, same data); the stream reconnects from its cursors and goes on: the
    message sent while it was down and the one after both arrive, once each."""
    data = tmp_path / "node"
    node = await Node.start(NodeConfig(host="127.0.0.1", port=0, data_dir=data, rate_limits=None))
    port = node.port
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    try:
        async with streamed_texts(bob) as got:
            await dm.send_text("before")
            assert await asyncio.wait_for(got.get(), 10) == "before"
            await node.stop(grace=1)
            node = await Node.start(NodeConfig(host="127.0.0.1", port=port, data_dir=data, rate_limits=None))
            await dm.send_text("while bob's stream was reconnecting")
            await dm.send_text("after")
            assert await asyncio.wait_for(got.get(), 30) == "while bob's stream was reconnecting"
            assert await asyncio.wait_for(got.get(), 30) == "after"
            await dm.send_text("last")
            assert await asyncio.wait_for(got.get(), 30) == "last"  # nothing twice in between
    finally:
        await node.stop(grace=0)
