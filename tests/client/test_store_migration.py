"""A database of schema version 1 (before message kinds, content types, references and consent) is migrated
when opened: every stored message gets its kind, content type and referenced message, and each conversation the
consent libxmtp would have recorded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pyxmtp.client import Client
from pyxmtp.client.store import (
    CONSENT_CONVERSATION,
    SCHEMA_VERSION,
    ClientStore,
    MessageKind,
    MessageQuery,
)
from pyxmtp.conversations.content import (
    REACTION_V2,
    REPLY,
    TEXT,
    Reaction,
    Reply,
    encode_content,
    encode_for_sending,
)
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

from .conftest import new_client
from .old_schemas import to_version_1, to_version_2


async def test_a_version_1_database_gets_kinds_content_types_references_and_consent(
    node: Node, tmp_path: Path
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    carol = await new_client(node, tmp_path / "carol.db")
    talked = await alice.conversations.create_group([bob.inbox_id], name="talked")
    await carol.conversations.create_group([bob.inbox_id], name="only read")
    joined = {c.name: c for c in await bob.conversations.sync()}
    bob_talked = joined["talked"]
    hello = await talked.send_text("hello bob")
    await bob_talked.sync()
    reply = Reply(hello.hex(), encode_content("hello alice"))
    content, push = encode_for_sending(reply)
    answer = await bob_talked.send(content, should_push=push)
    await talked.sync()
    content, push = encode_for_sending(Reaction(answer.hex(), "added", "👍", "unicode"))
    await talked.send(content, should_push=push)
    await talked.update_name("talked, renamed")
    await bob_talked.sync()
    await bob.close()
    await alice.close()
    to_version_1(tmp_path / "bob.db")
    to_version_1(tmp_path / "alice.db")

    store = ClientStore(tmp_path / "bob.db")
    try:
        db = sqlite3.connect(str(tmp_path / "bob.db"))
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.close()
        messages = store.messages(bob_talked.group_id)
        by_type = {m.content_type.type_id if m.content_type else None: m for m in messages}
        assert set(by_type) == {"text", "reply", "reaction", "group_updated"}
        assert by_type["text"].content_type == TEXT and by_type["text"].reference_id is None
        assert by_type["reply"].content_type == REPLY and by_type["reply"].reference_id == hello
        assert by_type["reaction"].content_type == REACTION_V2 and by_type["reaction"].reference_id == answer
        assert [m.kind for m in messages].count(MessageKind.MEMBERSHIP_CHANGE) == 1
        assert by_type["group_updated"].kind is MessageKind.MEMBERSHIP_CHANGE
        assert all(m.inserted_ns == m.sent_ns for m in messages)
        only_texts = MessageQuery(content_types=(("xmtp.org", "text"),))
        assert [m.message_id for m in store.query_messages(bob_talked.group_id, only_texts)] == [hello]
        # bob sent into the first group (allowed); the second he only read (no record: unknown)
        consents = {c.entity: c.state for c in store.consents(CONSENT_CONVERSATION)}
        assert consents == {bob_talked.group_id.hex(): 1}
    finally:
        store.close()
    store = ClientStore(tmp_path / "alice.db")
    try:  # alice created hers
        assert {c.entity: c.state for c in store.consents()} == {talked.group_id.hex(): 1}
    finally:
        store.close()
    await carol.close()


async def test_a_version_2_database_gets_the_tables_of_leave_requests_and_owed_welcomes(
    node: Node, tmp_path: Path
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    await alice.close()
    to_version_2(tmp_path / "alice.db")
    store = ClientStore(tmp_path / "alice.db")
    try:
        assert store.groups_owing_welcomes() == []
    finally:
        store.close()
    alice = await Client.create(node.address, LocalWalletSigner.generate(), db_path=tmp_path / "alice.db")
    group = await alice.conversations.create_group([bob.inbox_id], name="after the migration")
    assert [c.id for c in await bob.conversations.sync()] == [group.id]
    for c in (alice, bob):
        await c.close()
