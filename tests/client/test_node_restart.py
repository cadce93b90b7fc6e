"""Calls that ride out a node restart (same port, same data): a call made while the node is down waits for it to
come back, within the client's timeout, instead of failing during gRPC's reconnect backoff; when the node is not
back in time the call fails with :class:`NodeUnavailable`, nothing sent or stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from pyxmtp.client import NodeUnavailable
from pyxmtp.node import Node, NodeConfig

from .conftest import eventually, new_client

pytestmark = pytest.mark.timeout(120)


async def restarted(node: Node, data: Path) -> Node:
    return await Node.start(NodeConfig(host="127.0.0.1", port=node.port, data_dir=data, rate_limits=None))


async def test_a_send_made_while_the_node_is_down_completes_once_it_is_back(tmp_path: Path) -> None:
    data = tmp_path / "node"
    node = await Node.start(NodeConfig(host="127.0.0.1", port=0, data_dir=data, rate_limits=None))
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await dm.send_text("before")
    await node.stop(grace=0)
    sending = asyncio.create_task(dm.send_text("made while the node was down"))
    # the call is under way and the channel has found the node gone (it waits, it has not failed)
    await eventually(
        lambda: alice.api.connectivity() is not grpc.ChannelConnectivity.READY, "the channel to lose the node"
    )
    assert not sending.done()
    node = await restarted(node, data)
    try:
        mid = await asyncio.wait_for(sending, 60)
        [mine] = [m for m in dm.messages() if m.message_id == mid]
        assert mine.published
        [bobs] = await bob.conversations.sync()
        await bobs.sync()
        assert bobs.texts() == ["before", "made while the node was down"]
        # reads too: a sync made while the node is down
        await node.stop(grace=0)
        syncing = asyncio.create_task(bobs.sync())
        await eventually(
            lambda: bob.api.connectivity() is not grpc.ChannelConnectivity.READY, "bob's channel"
        )
        node = await restarted(node, data)
        await dm.send_text("after")
        assert await asyncio.wait_for(syncing, 60) is not None
        await bobs.sync()
        assert bobs.texts()[-1] == "after"
    finally:
        for c in (alice, bob):
            await c.close()
        await node.stop(grace=0)


async def test_a_node_not_back_in_time_is_a_typed_error_and_nothing_is_stored(tmp_path: Path) -> None:
    data = tmp_path / "node"
    node = await Node.start(NodeConfig(host="127.0.0.1", port=0, data_dir=data, rate_limits=None))
    alice = await new_client(node, tmp_path / "alice.db", api_timeout=1.0)
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await node.stop(grace=0)
    try:
        with pytest.raises(NodeUnavailable) as failure:
            await dm.send_text("never stored")
        assert failure.value.code is grpc.StatusCode.UNAVAILABLE
        assert "not reachable within 1.0 s" in str(failure.value)
        assert dm.texts() == [] and alice.conversations.unpublished() == []
        node = await restarted(node, data)
        await dm.send_text("once it is back")  # the same client carries on
        assert dm.texts() == ["once it is back"]
    finally:
        for c in (alice, bob):
            await c.close()
        await node.stop(grace=0)
