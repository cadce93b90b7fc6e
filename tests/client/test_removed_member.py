"""A removed member's conversation never breaks anything: it is noticed, listed as inactive, readable, and left
out of the stream, through the SDK and the CLI (real processes), after a plain removal and after a rename; a
removal is noticed even when an identity log its checks need is missing from the node."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import pytest

from pyxmtp.client import ChangeRefused, Client, Group, commits
from pyxmtp.conversations.content import GroupUpdated
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

from .conftest import new_client
from .test_cli import cli, fields

pytestmark = pytest.mark.timeout(120)


async def reopened(client: Client, node: Node, path: Path) -> Client:
    """The same installation in a new process: a new client on its database (nothing cached in memory)."""
    await client.close()
    return await Client.create(node.address, LocalWalletSigner.generate(), db_path=path)


@pytest.mark.parametrize("renamed", [False, True], ids=["plain", "after-rename"])
async def test_a_removed_member_notices_lists_reads_and_streams(
    node: Node, tmp_path: Path, renamed: bool
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    carol = await new_client(node, tmp_path / "carol.db")
    group = await alice.conversations.create_group([bob.inbox_id, carol.inbox_id], name="before")
    await group.send_text("hello both")
    [bob_group] = await bob.conversations.sync()
    await bob_group.sync()
    if renamed:
        await group.update_name("after")
    await group.remove_members([bob.inbox_id])
    await group.send_text("bob cannot read this")

    # a new process: its identity cache is empty, so the removal's checks fetch two rounds of logs
    bob = await reopened(bob, node, tmp_path / "bob.db")
    assert await bob.conversations.sync() == []
    [bob_group] = bob.conversations.list()
    assert bob_group.is_active
    await bob_group.sync()
    assert not bob_group.is_active
    assert bob_group.name == ("after" if renamed else "before")
    assert set(bob_group.member_inbox_ids()) == {alice.inbox_id, bob.inbox_id, carol.inbox_id}  # as it left
    assert bob_group.texts() == ["hello both"]
    removal = [m.content for m in bob_group.messages() if isinstance(m.content, GroupUpdated)][-1]
    assert removal == GroupUpdated(alice.inbox_id, removed_inboxes=(bob.inbox_id,))
    assert "left" in repr(bob_group)
    assert await bob_group.sync() == []  # nothing more to read, no error

    # after a restart too (the metadata comes from the stored state), and the stream goes on for the rest
    bob = await reopened(bob, node, tmp_path / "bob.db")
    [bob_group] = bob.conversations.list()
    assert not bob_group.is_active and bob_group.texts() == ["hello both"]
    stream = bob.conversations.stream_all_messages()
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await dm.send_text("a DM after the removal")
    message = await asyncio.wait_for(anext(stream), 30)
    assert message.conversation_id == dm.id and message.content == "a DM after the removal"
    await stream.close()
    for c in (alice, bob, carol):
        await c.close()


def lie_about_sequence_ids(client: Client, inbox_id: str) -> None:
    """The client's commits name ``inbox_id`` at a sequence id its log does not have on the node (a broken or
    hostile committer): every other member's checks of those commits need a log the node cannot give."""
    real = client.identities.last_sequence_id

    def last_sequence_id(inbox: str) -> int:
        return 10**9 if inbox == inbox_id else real(inbox)

    client.identities.last_sequence_id = last_sequence_id  # type: ignore[method-assign]


async def trio(node: Node, tmp_path: Path) -> tuple[Client, Client, Client, Group]:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    carol = await new_client(node, tmp_path / "carol.db")
    group = await alice.conversations.create_group([bob.inbox_id, carol.inbox_id], name="trio")
    for member in (bob, carol):
        [joined] = await member.conversations.sync()
        await joined.sync()
    return alice, bob, carol, group


async def test_a_removal_is_noticed_when_an_identity_log_is_missing(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob, carol, group = await trio(node, tmp_path)
    lie_about_sequence_ids(alice, carol.inbox_id)
    await group.remove_members([bob.inbox_id])
    caplog.set_level(logging.WARNING, logger="pyxmtp.client")
    [bob_group] = bob.conversations.list()
    await bob_group.sync()
    assert not bob_group.is_active  # MLS says we are out of the tree: that is enough
    assert any("removes us; merged without the checks" in r.getMessage() for r in caplog.records)
    assert bob_group.name == "trio" and bob_group.texts() == []
    for c in (alice, bob, carol):
        await c.close()


async def test_a_removal_the_policy_forbids_is_not_merged_even_without_identity_logs(
    node: Node, tmp_path: Path
) -> None:
    """Carol is no admin: her removal of Bob breaks the group's remove-member policy. Bob cannot run the checks
    that need identity logs, but the policy check still holds: he stays in the group."""
    alice, bob, carol, _ = await trio(node, tmp_path)
    lie_about_sequence_ids(carol, alice.inbox_id)
    [carol_group] = carol.conversations.list()
    with pytest.raises(ChangeRefused, match="remove members"):  # the SDK refuses it: forged below the SDK
        await carol_group.remove_members([bob.inbox_id])
    async with carol_group._session.lock:
        await commits.update_membership(carol_group._session, remove=[bob.inbox_id])
    [bob_group] = bob.conversations.list()
    await bob_group.sync()
    assert bob_group.is_active
    for c in (alice, bob, carol):
        await c.close()


async def test_the_cli_of_a_removed_member_lists_reads_and_listens(node: Node, tmp_path: Path) -> None:
    """Bob (the CLI) is removed from two groups, plainly from one and after a rename from the other."""
    bob_home = tmp_path / "bob"
    bob = fields((await cli(node, bob_home, "init"))[1])
    alice = await new_client(node, tmp_path / "alice.db")
    carol = await new_client(node, tmp_path / "carol.db")
    plain = await alice.conversations.create_group([bob["inbox_id"], carol.inbox_id], name="plain")
    renamed = await alice.conversations.create_group([bob["inbox_id"], carol.inbox_id], name="before")
    for group in (plain, renamed):
        await group.send_text(f"hello bob in {group.name}")

    async def listing() -> dict[str, tuple[str, bool]]:
        """``{conversation id: (name, active)}`` as ``list --json`` shows them."""
        _, out, _ = await cli(node, bob_home, "list", "--json")
        entries = [json.loads(line) for line in out.splitlines()]
        return {e["conversation"]: (e["name"], e["active"]) for e in entries}

    assert await listing() == {
        plain.group_id.hex(): ("plain", True),
        renamed.group_id.hex(): ("before", True),
    }
    await renamed.update_name("after")
    for group in (plain, renamed):
        await group.remove_members([bob["inbox_id"]])

    for _ in range(2):  # the run that notices the removals, and every run after it
        assert await listing() == {
            plain.group_id.hex(): ("plain", False),
            renamed.group_id.hex(): ("after", False),
        }
    _, text, _ = await cli(node, bob_home, "list")
    assert text.count("[left]") == 2, text
    _, read, _ = await cli(node, bob_home, "read", renamed.group_id.hex())
    assert "hello bob in before" in read

    listen = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyxmtp",
        "client",
        "--home",
        str(bob_home),
        "--node",
        node.address,
        "listen",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        # sent whenever the stream opens: it starts from the cursors, so it is delivered either way
        dm = await alice.conversations.create_dm(bob["inbox_id"])
        await dm.send_text("still listening")
        assert listen.stdout is not None
        line = await asyncio.wait_for(listen.stdout.readline(), 30)
        assert line, (await listen.communicate())[1].decode()
        event = json.loads(line)
        assert event["content"] == "still listening" and event["conversation"] == dm.group_id.hex()
    finally:
        listen.kill()
        await listen.wait()
    for c in (alice, carol):
        await c.close()
