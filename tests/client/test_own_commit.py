"""Our own commit is never half done: it is stored (pending) before it is sent, so after a failed call or a crash
the next sync merges it if the node has it, or drops it if not; the conversation never stays behind the epoch our
commit started. Real clients on a real node; the failures are injected at the client's publishing call."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from pyxmtp.client import ApiCallError, Client
from pyxmtp.conversations.content import GroupUpdated
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .conftest import new_client
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


def next_welcomes_fail(
    client: Client, *, after_reaching_the_node: bool, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
) -> None:
    real = client.api.send_welcome_messages

    async def send(messages: Sequence[mls_pb2.WelcomeMessageInput]) -> None:
        client.api.send_welcome_messages = real  # type: ignore[method-assign]
        if after_reaching_the_node:
            await real(messages)
        raise ApiCallError("MlsApi/SendWelcomeMessages", code, "injected")

    client.api.send_welcome_messages = send  # type: ignore[method-assign]


async def welcomes_on_node(client: Client) -> int:
    return len([w async for w in client.api.welcomes_after(client.installation_id, 0)])


async def reopen(node: Node, path: Path) -> Client:
    return await Client.create(node.address, LocalWalletSigner.generate(), db_path=path)


@pytest.mark.parametrize("reached_the_node", [False, True])
async def test_welcomes_of_a_merged_commit_are_sent_after_a_crash(
    node: Node, tmp_path: Path, reached_the_node: bool
) -> None:
    """The commit adding Carol is merged, then the process dies before its welcome is sent (or once the node
    has it, before we know): the next start-up sends it, byte for byte (the node keeps one copy)."""
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    carol = await new_client(node, tmp_path / "carol.db")
    next_welcomes_fail(bob, after_reaching_the_node=reached_the_node)
    with pytest.raises(ApiCallError):
        await bob_group.add_members([carol.inbox_id])
    assert carol.inbox_id in bob_group.member_inbox_ids()  # merged
    await bob.close()  # dies here
    assert await welcomes_on_node(carol) == int(reached_the_node)

    bob = await reopen(node, tmp_path / "bob.db")  # start-up sends what is owed
    assert await welcomes_on_node(carol) == 1
    [carols] = await carol.conversations.sync()
    assert carols.id == bob_group.id
    await bob.close()
    bob = await reopen(node, tmp_path / "bob.db")  # nothing owed any more
    assert await welcomes_on_node(carol) == 1
    [bob_group] = bob.conversations.list()
    await bob_group.send_text("carol reads this")
    await carols.sync()
    assert carols.texts() == ["carol reads this"]
    await alice_group.sync()
    assert alice_group.texts() == ["carol reads this"]
    for c in (alice, bob, carol):
        await c.close()


async def test_welcomes_of_a_commit_merged_after_a_crash_are_sent(node: Node, tmp_path: Path) -> None:
    """The commit adding Carol reaches the node, the reply is lost and the process dies before merging it: the
    next start-up merges it and sends the welcome."""
    alice, bob, _, bob_group = await pair(node, tmp_path)
    carol = await new_client(node, tmp_path / "carol.db")
    next_send_fails(bob, after_reaching_the_node=True)
    with pytest.raises(ApiCallError):
        await bob_group.add_members([carol.inbox_id])
    await bob.close()
    assert await welcomes_on_node(carol) == 0

    bob = await reopen(node, tmp_path / "bob.db")
    [bob_group] = bob.conversations.list()
    assert carol.inbox_id in bob_group.member_inbox_ids()
    [carols] = await carol.conversations.sync()
    await bob_group.send_text("welcome, carol")
    await carols.sync()
    assert carols.texts() == ["welcome, carol"]
    for c in (alice, bob, carol):
        await c.close()


async def test_welcomes_not_sent_are_sent_by_the_next_sync(node: Node, tmp_path: Path) -> None:
    """Without a restart: a failed welcome call leaves them owed; the next sync sends them."""
    alice, bob, _, bob_group = await pair(node, tmp_path)
    carol = await new_client(node, tmp_path / "carol.db")
    next_welcomes_fail(bob, after_reaching_the_node=False)
    with pytest.raises(ApiCallError):
        await bob_group.add_members([carol.inbox_id])
    assert await welcomes_on_node(carol) == 0
    await bob_group.sync()
    assert await welcomes_on_node(carol) == 1
    assert not bob.ctx.store.has_own_welcomes(bob_group.group_id)
    [carols] = await carol.conversations.sync()
    assert carols.id == bob_group.id
    for c in (alice, bob, carol):
        await c.close()


async def test_a_commit_that_lost_its_epoch_owes_no_welcome(node: Node, tmp_path: Path) -> None:
    """Bob's commit adding Carol loses to Alice's (made again on the new epoch): Carol gets one welcome, for
    the commit that was merged, and nothing is left owed."""
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    carol = await new_client(node, tmp_path / "carol.db")
    await alice_group.update_name("alice first")  # bob has not read it: his first commit loses
    await bob_group.add_members([carol.inbox_id])
    assert await welcomes_on_node(carol) == 1
    assert not bob.ctx.store.has_own_welcomes(bob_group.group_id)
    [carols] = await carol.conversations.sync()
    assert carols.name == "alice first"
    await alice_group.send_text("hello carol")
    await carols.sync()
    assert carols.texts() == ["hello carol"]
    for c in (alice, bob, carol):
        await c.close()


@pytest.mark.parametrize("killed_at", ["welcomes", "merge"])
async def test_a_client_killed_between_its_commit_and_the_welcomes_sends_them_when_it_starts(
    node: Node, tmp_path: Path, killed_at: str
) -> None:
    """A real process adding Carol is killed (SIGKILL) as it is about to send the welcome (the commit merged and
    stored), or once the node has its commit (not merged): started again, it sends the welcome."""
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    carol = await new_client(node, tmp_path / "carol.db")
    await bob.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("commit_process.py")),
        node.address,
        str(tmp_path / "bob.db"),
        carol.inbox_id,
        f"--hang-at={killed_at}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    expected = "welcoming" if killed_at == "welcomes" else "committed"
    while (line := (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()) != expected:
        assert line, (await proc.stderr.read()).decode()[-3000:]
    proc.kill()
    await proc.wait()
    assert await welcomes_on_node(carol) == 0

    bob = await reopen(node, tmp_path / "bob.db")
    [bob_group] = bob.conversations.list()
    await bob_group.sync()
    assert carol.inbox_id in bob_group.member_inbox_ids()
    assert await welcomes_on_node(carol) == 1
    [carols] = await carol.conversations.sync()
    await bob_group.send_text("carol reads this")
    await carols.sync()
    await alice_group.sync()
    assert carols.texts() == alice_group.texts() == ["carol reads this"]
    for c in (alice, bob, carol):
        await c.close()


@pytest.mark.parametrize("code", [grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.INVALID_ARGUMENT])
async def test_welcomes_the_node_has_or_refuses_are_not_owed(
    node: Node, tmp_path: Path, code: grpc.StatusCode
) -> None:
    """A node that answers a resend's duplicate with ALREADY_EXISTS has them; one that refuses them
    (INVALID_ARGUMENT) never will: either way nothing stays owed (no resending forever)."""
    alice, bob, _, bob_group = await pair(node, tmp_path)
    carol = await new_client(node, tmp_path / "carol.db")
    next_welcomes_fail(bob, after_reaching_the_node=code is grpc.StatusCode.ALREADY_EXISTS, code=code)
    if code is grpc.StatusCode.ALREADY_EXISTS:
        await bob_group.add_members([carol.inbox_id])
    else:  # the caller learns of it
        with pytest.raises(ApiCallError):
            await bob_group.add_members([carol.inbox_id])
    assert not bob.ctx.store.has_own_welcomes(bob_group.group_id)
    assert await welcomes_on_node(carol) == int(code is grpc.StatusCode.ALREADY_EXISTS)
    for c in (alice, bob, carol):
        await c.close()


async def test_a_second_welcome_into_a_group_held_is_harmless(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were a welcome sent twice with other bytes (wrapped again: a node would keep both), the member who joined
    from the first ignores the second: no new conversation, the one held unchanged."""
    from pyxmtp.client import own_welcomes

    made: list[tuple[Any, ...]] = []
    real = own_welcomes.welcome_inputs

    def recording(*args: Any) -> list[mls_pb2.WelcomeMessageInput]:
        made.append(args)
        return real(*args)

    monkeypatch.setattr(own_welcomes, "welcome_inputs", recording)
    alice, bob, _, bob_group = await pair(node, tmp_path)
    carol = await new_client(node, tmp_path / "carol.db")
    await bob_group.add_members([carol.inbox_id])
    [carols] = await carol.conversations.sync()
    welcome, commit_id, key_packages, _ = made[-1]
    again = real(welcome, commit_id, key_packages, bob.ctx.rng)
    await bob.api.send_welcome_messages(again)
    assert await welcomes_on_node(carol) == 2  # other bytes: the node keeps both
    assert await carol.conversations.sync() == []
    assert [c.id for c in carol.conversations.list()] == [carols.id]
    await bob_group.send_text("still one conversation")
    await carols.sync()
    assert carols.texts() == ["still one conversation"]
    for c in (alice, bob, carol):
        await c.close()


async def test_a_damaged_row_of_owed_welcomes_does_not_stop_the_group(node: Node, tmp_path: Path) -> None:
    """The stored key packages of a pending commit no longer parse (a damaged database): the commit is merged all
    the same and the group goes on; the welcome is logged as lost, not retried."""
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    carol = await new_client(node, tmp_path / "carol.db")
    next_send_fails(bob, after_reaching_the_node=True)
    with pytest.raises(ApiCallError):
        await bob_group.add_members([carol.inbox_id])
    bob.ctx.store._db.execute("UPDATE own_welcomes SET key_packages = x'00ff'")
    await bob_group.sync()
    assert carol.inbox_id in bob_group.member_inbox_ids()
    assert not bob.ctx.store.has_own_welcomes(bob_group.group_id)
    await bob_group.send_text("the group goes on")
    await alice_group.sync()
    assert alice_group.texts() == ["the group goes on"]
    for c in (alice, bob, carol):
        await c.close()
