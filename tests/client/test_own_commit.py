"""Our own commit is never half done: it is stored (pending) before it is sent, so after a failed call or a crash
the next sync merges it if the node has it, or drops it if not; the conversation never stays behind the epoch our
commit started. Real clients on a real node; the failures are injected at the client's publishing call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest

from pyxmtp.client import ApiCallError, Client
from pyxmtp.conversations.content import GroupUpdated
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .test_delivery import pair

pytestmark = pytest.mark.timeout(120)


def next_send_fails(client: Client, *, after_reaching_the_node: bool) -> None:
    real = client.api.send_group_messages

    async def send(messages: Sequence[mls_pb2.GroupMessageInput]) -> None:
        client.api.send_group_messages = real  # type: ignore[method-assign]
        if after_reaching_the_node:
            await real(messages)
        raise ApiCallError("MlsApi/SendGroupMessages", grpc.StatusCode.UNAVAILABLE, "injected")

    client.api.send_group_messages = send  # type: ignore[method-assign]


async def test_a_commit_the_node_took_is_merged_after_a_crash(node: Node, tmp_path: Path) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    next_send_fails(alice, after_reaching_the_node=True)  # the reply is lost, then the process dies
    with pytest.raises(ApiCallError):
        await alice_group.update_name("by alice")
    await alice.close()

    alice = await Client.create(node.address, LocalWalletSigner.generate(), db_path=tmp_path / "alice.db")
    [alice_group] = alice.conversations.list()
    await alice_group.sync()
    assert alice_group.name == "by alice"
    entries = [m.content for m in alice_group.messages() if isinstance(m.content, GroupUpdated)]
    assert entries[-1] == GroupUpdated(alice.inbox_id, metadata_changes=(("group_name", "g", "by alice"),))
    await bob_group.sync()
    assert bob_group.name == "by alice"
    await bob_group.update_name("by bob")  # a commit of the epoch after alice's: she follows it
    await alice_group.sync()
    assert alice_group.name == "by bob"
    await alice_group.send_text("still in step")
    await bob_group.sync()
    assert bob_group.texts() == ["still in step"]
    for c in (alice, bob):
        await c.close()


async def test_a_commit_that_never_reached_the_node_is_dropped(node: Node, tmp_path: Path) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    next_send_fails(alice, after_reaching_the_node=False)
    with pytest.raises(ApiCallError):
        await alice_group.update_name("never sent")
    await alice.close()

    alice = await Client.create(node.address, LocalWalletSigner.generate(), db_path=tmp_path / "alice.db")
    [alice_group] = alice.conversations.list()
    assert alice_group._session.core.pending_commit is not None  # stored before sending
    await alice_group.update_name("second try")  # settles the first one (dropped), then commits
    await bob_group.sync()
    assert bob_group.name == alice_group.name == "second try"
    await alice_group.send_text("in step")
    await bob_group.sync()
    assert bob_group.texts() == ["in step"]

    next_send_fails(alice, after_reaching_the_node=False)  # the same without a restart
    with pytest.raises(ApiCallError):
        await alice_group.update_name("lost again")
    await alice_group.send_text("after a lost commit")
    await bob_group.sync()
    assert bob_group.texts() == ["in step", "after a lost commit"] and bob_group.name == "second try"
    for c in (alice, bob):
        await c.close()
