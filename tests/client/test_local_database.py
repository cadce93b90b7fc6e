"""The local database: failing in the middle of a sync (a full disk, an I/O error) keeps nothing of that page,
in the database or in memory, and the next sync delivers every message once; what it lists as conversations."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from pyxmtp.client import Client, ConsentState
from pyxmtp.client.store import ConversationRecord
from pyxmtp.conversations.conversation import Conversation
from pyxmtp.conversations.key_packages import IMMUTABLE_METADATA
from pyxmtp.conversations.new_group import group_extensions, with_extension
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.mls.codec import encode_varint
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.node import Node
from pyxmtp.proto.mls.message_contents import group_metadata_pb2

from .conftest import new_client


async def test_a_store_failure_mid_page_loses_nothing(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    [bob_dm] = await bob.conversations.sync()
    await bob_dm.sync()
    for i in range(6):
        await dm.send_text(f"message {i}")
    cursor, state = bob_dm._session.cursor, bob_dm._session.core.to_bytes()

    real_insert = bob.store.insert_message  # what receiving stores each message with
    calls = 0

    def failing_insert(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise sqlite3.OperationalError("disk I/O error")
        return real_insert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bob.store, "insert_message", failing_insert)
    with pytest.raises(sqlite3.OperationalError):
        await bob_dm.sync()
    assert (
        bob_dm._session.cursor == cursor and bob_dm._session.core.to_bytes() == state
    )  # back to what the database has
    assert bob_dm.texts() == []  # the page was rolled back as a whole
    monkeypatch.undo()

    got = await bob_dm.sync()
    assert [m.content for m in got] == [f"message {i}" for i in range(6)]
    await bob_dm.send_text("all six, once")
    await dm.sync()
    assert dm.texts()[-1] == "all six, once"
    # an existing database keeps its inbox: the owner given is only used for a new one
    reopened = await Client.create(node.address, LocalWalletSigner.generate(), db_path=tmp_path / "bob.db")
    [again] = reopened.conversations.list()
    assert again.texts() == [f"message {i}" for i in range(6)] + ["all six, once"]


async def test_device_sync_groups_are_not_listed_as_conversations(node: Node, tmp_path: Path) -> None:
    """libxmtp's device-sync group (conversation type SYNC) is a channel between one inbox's installations,
    not a conversation: lists and lookups leave it out."""
    bob = await new_client(node, tmp_path / "bob.db")
    sync_extensions = with_extension(
        group_extensions(bob.inbox_id, rng=os.urandom), sync_metadata(bob.inbox_id)
    )
    group = Conversation.create(
        sync_extensions, bob.signer, bob.inbox_id, rng=os.urandom, now=int(time.time())
    )
    with bob.store.transaction():
        bob.store.save_conversation(
            ConversationRecord(group.group_id, group.to_bytes(), 0, time.time_ns(), bob.inbox_id)
        )
    dm = await bob.conversations.create_dm((await new_client(node, tmp_path / "alice.db")).inbox_id)
    assert [c.group_id for c in bob.conversations.list()] == [dm.group_id]
    assert bob.conversations.get_conversation_by_id(group.group_id) is None
    assert bob.conversations.list(consent_states=list(ConsentState)) == [dm]


def sync_metadata(creator: str) -> Extension:
    body = group_metadata_pb2.GroupMetadataV1(
        conversation_type=3, creator_inbox_id=creator
    ).SerializeToString()
    return Extension(IMMUTABLE_METADATA, encode_varint(len(body)) + body)
