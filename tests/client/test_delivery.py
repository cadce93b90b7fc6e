"""A send is never lost and never unreadable: real clients on a real node (loopback, SQLite).

A client behind on epochs syncs before it encrypts; a message whose publication failed is kept (unpublished, with
its MLS bytes) and published by the next sync, start-up or stream reconnect, byte for byte, or encrypted again under
the same message id once its epoch has passed; one that reaches the node after too many commits is published again;
one that can never be published is marked failed. The node's failures are injected at the client's API object
(the one call that publishes), everything else is real.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import grpc
import pytest

from pyxmtp.client import (
    ApiCallError,
    Client,
    DeliveryStatus,
    Group,
    InactiveConversation,
    MessageNotPublished,
    MessageTooLarge,
)
from pyxmtp.client.delivery import MAX_CONTENT_BYTES
from pyxmtp.client.store import SCHEMA_VERSION, ClientStore, ClientStoreError
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .conftest import new_client
from .old_schemas import to_version_0

pytestmark = pytest.mark.timeout(120)


async def pair(node: Node, tmp_path: Path) -> tuple[Client, Client, Group, Group]:
    """Alice and Bob in a group Bob made (Bob is its super admin)."""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    bob_group = await bob.conversations.create_group([alice.inbox_id], name="g")
    [alice_group] = await alice.conversations.sync()
    await alice_group.sync()
    return alice, bob, alice_group, bob_group


def sends_fail(client: Client, code: grpc.StatusCode, times: int = 1) -> None:
    """The client's next ``times`` SendGroupMessages calls fail with ``code`` without reaching the node."""
    real = client.api.send_group_messages
    left = [times]

    async def send(messages: Sequence[mls_pb2.GroupMessageInput]) -> None:
        if left[0]:
            left[0] -= 1
            raise ApiCallError("MlsApi/SendGroupMessages", code, "injected")
        await real(messages)

    client.api.send_group_messages = send  # type: ignore[method-assign]


def before_next_send(client: Client, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` just before the client's next SendGroupMessages reaches the node."""
    real = client.api.send_group_messages

    async def send(messages: Sequence[mls_pb2.GroupMessageInput]) -> None:
        client.api.send_group_messages = real  # type: ignore[method-assign]
        await action()
        await real(messages)

    client.api.send_group_messages = send  # type: ignore[method-assign]


async def texts_read(conversation: Group) -> Counter[str]:
    await conversation.sync()
    return Counter(m.content for m in conversation.messages() if isinstance(m.content, str))


async def renames(group: Group, n: int) -> None:
    for i in range(n):
        await group.update_name(f"name {i}")


async def test_a_client_five_epochs_behind_sends_and_is_read(node: Node, tmp_path: Path) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    stale_epoch = alice_group.epoch
    await renames(bob_group, 5)  # alice has not synced: 5 epochs behind
    mid = await alice_group.send_text("from 5 epochs back")
    assert alice_group.epoch == stale_epoch + 5  # it synced before encrypting
    assert await texts_read(bob_group) == Counter({"from 5 epochs back": 1})
    assert [m.message_id for m in bob_group.messages() if m.content == "from 5 epochs back"] == [mid]
    [mine] = [m for m in alice_group.messages() if m.message_id == mid]
    assert mine.delivery_status is DeliveryStatus.PUBLISHED and mine.published
    for c in (alice, bob):
        await c.close()


async def test_a_failed_publish_is_kept_and_the_next_sync_publishes_it(node: Node, tmp_path: Path) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    sends_fail(alice, grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(MessageNotPublished) as failure:
        await alice_group.send_text("kept")
    assert failure.value.delivery_status is DeliveryStatus.UNPUBLISHED
    assert failure.value.code is grpc.StatusCode.UNAVAILABLE
    assert "is kept and sent again by the next sync" in str(failure.value)
    mid = failure.value.message_id
    [pending] = alice.conversations.unpublished()
    assert (
        pending.conversation_id == alice_group.id and pending.message_id == mid and pending.content == "kept"
    )
    assert pending.delivery_status is DeliveryStatus.UNPUBLISHED
    assert await texts_read(bob_group) == Counter()

    await alice_group.sync()  # publishes it: the same bytes
    assert alice.conversations.unpublished() == []
    [mine] = [m for m in alice_group.messages() if m.message_id == mid]
    assert mine.published
    assert await texts_read(bob_group) == Counter({"kept": 1})
    await alice_group.send_text("and the next one")
    assert await texts_read(bob_group) == Counter({"kept": 1, "and the next one": 1})
    for c in (alice, bob):
        await c.close()


async def test_an_unpublished_message_whose_epoch_passed_is_encrypted_again(
    node: Node, tmp_path: Path
) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    sends_fail(alice, grpc.StatusCode.DEADLINE_EXCEEDED)
    with pytest.raises(MessageNotPublished) as failure:
        await alice_group.send_text("late but readable")
    mid = failure.value.message_id
    await renames(bob_group, 5)  # its epoch is long gone when it is published
    await alice_group.sync()
    assert await texts_read(bob_group) == Counter({"late but readable": 1})
    # encrypted again with the same idempotency key: the same message id on both sides
    assert [m.message_id for m in bob_group.messages() if m.content == "late but readable"] == [mid]
    assert all(m.published for m in alice_group.messages())
    for c in (alice, bob):
        await c.close()


async def test_a_message_that_reaches_the_node_after_four_commits_is_published_again(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Alice encrypts at epoch E; Bob's four commits reach the node before her message does, so members (at E + 4,
    keeping 3 past epochs) cannot read it. Alice sees that when she reads it back and publishes it again."""
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    sent_in = alice_group.epoch
    before_next_send(alice, lambda: renames(bob_group, 4))
    caplog.set_level(logging.INFO, logger="pyxmtp.client")
    mid = await alice_group.send_text("overtaken")
    assert alice_group.epoch == sent_in + 4
    assert any(
        "came after its epoch had passed; publishing it again" in r.getMessage() for r in caplog.records
    )
    caplog.clear()
    assert await texts_read(bob_group) == Counter({"overtaken": 1})
    assert [m.message_id for m in bob_group.messages() if m.content == "overtaken"] == [mid]
    # the first copy is on the node too, unreadable: bob passed over it
    assert any("passed over" in r.getMessage() for r in caplog.records)
    [mine] = [m for m in alice_group.messages() if m.message_id == mid]
    assert mine.published
    for c in (alice, bob):
        await c.close()


async def test_a_message_left_unpublished_by_a_removed_member_is_marked_failed(
    node: Node, tmp_path: Path
) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    sends_fail(alice, grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(MessageNotPublished) as failure:
        await alice_group.send_text("too late")
    await bob_group.remove_members([alice.inbox_id])
    await alice_group.sync()
    assert not alice_group.is_active
    [mine] = [m for m in alice_group.messages() if m.message_id == failure.value.message_id]
    assert mine.delivery_status is DeliveryStatus.FAILED and mine.failed
    assert alice.conversations.unpublished() == []
    with pytest.raises(InactiveConversation):
        await alice_group.send_text("anyone?")
    assert "too late" not in await texts_read(bob_group)
    for c in (alice, bob):
        await c.close()


async def test_a_message_the_node_refuses_is_marked_failed(node: Node, tmp_path: Path) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    sends_fail(alice, grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(MessageNotPublished) as failure:
        await alice_group.send_text("refused")
    assert failure.value.delivery_status is DeliveryStatus.FAILED
    [mine] = [m for m in alice_group.messages() if m.message_id == failure.value.message_id]
    assert mine.failed
    await alice_group.sync()  # never published again
    assert await texts_read(bob_group) == Counter()
    with pytest.raises(MessageTooLarge):
        await alice_group.send(b"\x00" * (MAX_CONTENT_BYTES + 1))
    assert len(alice_group.messages()) == 1
    for c in (alice, bob):
        await c.close()


async def test_unpublished_messages_are_published_at_start_up(node: Node, tmp_path: Path) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    sends_fail(alice, grpc.StatusCode.UNAVAILABLE, times=2)
    for text in ("one", "two"):
        with pytest.raises(MessageNotPublished):
            await alice_group.send_text(text)
    wallet = LocalWalletSigner.generate()  # not used: the database holds the installation
    await alice.close()
    alice = await Client.create(node.address, wallet, db_path=tmp_path / "alice.db")
    assert alice.conversations.unpublished() == []
    bob_messages = await bob_group.sync()
    assert [m.content for m in bob_messages] == ["one", "two"]  # in the order sent
    for c in (alice, bob):
        await c.close()


async def test_the_stream_publishes_them_when_it_connects(node: Node, tmp_path: Path) -> None:
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    sends_fail(alice, grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(MessageNotPublished) as failure:
        await alice_group.send_text("via the stream")
    stream = alice.conversations.stream_all_messages()
    message = await asyncio.wait_for(anext(stream), 30)  # the stream yields it once published
    assert message.group_id == alice_group.group_id
    assert message.message_id == failure.value.message_id and message.published
    await stream.close()
    assert await texts_read(bob_group) == Counter({"via the stream": 1})
    for c in (alice, bob):
        await c.close()


async def test_a_group_with_100_texts_of_45_kb_and_a_5_mb_message_syncs(node: Node, tmp_path: Path) -> None:
    """More than the 4 MiB gRPC default in one page of 100, and one message above it: both read."""
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    texts = [f"{i:03d}" + "x" * 45_000 for i in range(100)]
    for text in texts:
        await bob_group.send_text(text)
    big = "y" * (5 * 1024 * 1024)
    await bob_group.send_text(big)
    got = await alice_group.sync()
    assert [m.content for m in got if isinstance(m.content, str)] == [*texts, big]
    stream = alice.conversations.stream_all_messages()
    await bob_group.send_text("and live")
    live = await asyncio.wait_for(anext(stream), 30)
    assert live.content == "and live"
    await stream.close()
    for c in (alice, bob):
        await c.close()


# --- a database made by the pyxmtp before delivery status (schema version 0) ----------------------------------
async def test_a_database_of_the_old_schema_is_migrated_and_its_unpublished_message_sent(
    node: Node, tmp_path: Path
) -> None:
    """The old code kept no bytes of an unpublished message; its idempotency key was the send time. After the
    migration it is encrypted again with that key: the same message id reaches Bob."""
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    await alice_group.send_text("published before")
    sends_fail(alice, grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(MessageNotPublished) as failure:
        await alice_group.send_text("left unpublished by the old code")
    await alice.close()
    to_version_0(tmp_path / "alice.db")

    alice = await Client.create(node.address, LocalWalletSigner.generate(), db_path=tmp_path / "alice.db")
    db = sqlite3.connect(str(tmp_path / "alice.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    assert alice.conversations.unpublished() == []  # published at start-up
    assert await texts_read(bob_group) == Counter(
        {"published before": 1, "left unpublished by the old code": 1}
    )
    ids = {m.content: m.message_id for m in bob_group.messages()}
    assert ids["left unpublished by the old code"] == failure.value.message_id
    [group] = alice.conversations.list()
    assert [m.published for m in group.messages() if isinstance(m.content, str)] == [True, True]
    for c in (alice, bob):
        await c.close()


def test_a_database_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    ClientStore(path).close()
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ClientStoreError, match="schema version 99"):
        ClientStore(path)


async def test_sends_from_two_tasks_never_lose_one(node: Node, tmp_path: Path) -> None:
    """Sends, syncs and a commit at once in one conversation: every message once, each encrypted after its
    conversation caught up (they are all readable)."""
    alice, bob, alice_group, bob_group = await pair(node, tmp_path)
    await asyncio.gather(
        *(alice_group.send_text(f"a{i}") for i in range(5)),
        renames(bob_group, 4),
        *(bob_group.send_text(f"b{i}") for i in range(5)),
    )
    expected = Counter({**{f"a{i}": 1 for i in range(5)}, **{f"b{i}": 1 for i in range(5)}})
    assert await texts_read(bob_group) == expected
    assert await texts_read(alice_group) == expected
    for c in (alice, bob):
        await c.close()
