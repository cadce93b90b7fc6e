"""A pyxmtp client's archives against libxmtp 1.10 (xmtp-bindings 0.1.8), both ways, between installations of
one inbox: the pyxmtp client's ``create_archive`` file imports into a new libxmtp installation (its groups
restored, readable, then live once the pyxmtp installation adds it, without duplicated messages); libxmtp's
``create_archive`` file imports into a new pyxmtp installation (restored conversations with libxmtp's message ids,
consent, idempotent)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import Client, Consent, ConsentEntityType, ConsentState
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from tests.interop.libxmtp import User, list_options, texts, until, v

from .conftest import new_client
from .test_archive_libxmtp_interop import list_conversations, options
from .test_libxmtp_interop import group_options, libxmtp_api, open_dm

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]


@pytest.fixture
async def api(node: Node) -> Any:
    return await libxmtp_api(node)


async def test_a_pyxmtp_archive_restores_a_new_libxmtp_installation(
    node: Node, api: Any, tmp_path: Path
) -> None:
    key = os.urandom(32)
    phone = await Client.create(node.address, LocalWalletSigner(key), db_path=tmp_path / "phone.db")
    bob = await new_client(node, tmp_path / "bob.db")
    group = await phone.conversations.create_group([bob.inbox_id], name="from pyxmtp")
    await group.send_text("first")
    [bobs] = await bob.conversations.sync()
    await bobs.send_text("second")
    await group.sync()
    dm = await phone.conversations.create_dm(bob.inbox_id)
    await dm.send_text("direct")
    phone.preferences.set_consent_states([Consent(ConsentEntityType.INBOX, "cd" * 32, ConsentState.DENIED)])
    archive_key = os.urandom(32)
    path = tmp_path / "phone.archive"
    ours = await phone.create_archive(path, archive_key)

    laptop = await User.register(api, key)  # libxmtp, same inbox
    assert laptop.inbox_id == phone.inbox_id
    theirs = await laptop.client.archive_metadata(str(path), archive_key)
    assert theirs.exported_at_ns == ours.exported_at_ns and theirs.backup_version == 0
    await laptop.client.import_archive(str(path), archive_key)
    restored = laptop.client.conversation(group.group_id)
    assert restored.group_name() == "from pyxmtp"
    assert await texts(restored) == ["first", "second"]
    assert await texts(laptop.client.conversation(dm.group_id)) == ["direct"]
    assert {c.id() for c in list_conversations(laptop)} == {group.group_id, dm.group_id}
    consent = laptop.client.get_consent_state
    assert await consent(v.FfiConsentEntityType.INBOX_ID, "cd" * 32) == v.FfiConsentState.DENIED
    assert await consent(v.FfiConsentEntityType.CONVERSATION_ID, group.id) == v.FfiConsentState.ALLOWED
    # libxmtp has the same ids as ours
    ids = {m.id for m in await restored.find_messages(list_options())}
    assert {m.message_id for m in group.messages(content_types=["text"])} <= ids

    # the pyxmtp installation adds the libxmtp one: the real group replaces the restored one, history kept once
    await group.update_installations()
    await laptop.client.conversations().sync()

    async def live() -> bool:
        conversation = laptop.client.conversation(group.group_id)
        await conversation.sync()
        return bool(conversation.is_active())

    await until(live, "the libxmtp installation to join the group by welcome")
    await group.send_text("third")
    live_group = laptop.client.conversation(group.group_id)
    await live_group.sync()
    assert await texts(live_group) == ["first", "second", "third"]
    for c in (phone, bob):
        await c.close()


async def test_a_libxmtp_archive_restores_a_new_pyxmtp_installation(
    node: Node, api: Any, tmp_path: Path
) -> None:
    key = os.urandom(32)
    phone = await User.register(api, key)
    bob = await new_client(node, tmp_path / "bob.db")
    group = await phone.client.conversations().create_group([bob.inbox_id], group_options("from libxmtp"))
    await group.send_text("hello team")
    dm = await open_dm(phone, bob.inbox_id)
    await dm.send_text("hi bob")
    await phone.client.set_consent_states(
        [
            v.FfiConsent(
                entity_type=v.FfiConsentEntityType.INBOX_ID, state=v.FfiConsentState.DENIED, entity="ef" * 32
            )
        ]
    )
    archive_key = os.urandom(32)
    path = tmp_path / "libxmtp.archive"
    theirs = await phone.client.create_archive(str(path), options(), archive_key)

    laptop = await Client.create(node.address, LocalWalletSigner(key), db_path=tmp_path / "laptop.db")
    assert laptop.inbox_id == phone.inbox_id
    metadata = await laptop.archive_metadata(path, archive_key)
    assert metadata.exported_at_ns == theirs.exported_at_ns
    summary = await laptop.import_archive(path, archive_key)
    assert summary.conversations_restored == 2 and summary.skipped == 0
    restored = laptop.conversations.get_restored_by_id(group.id())
    assert restored is not None and restored.name == "from libxmtp"
    assert restored.texts() == ["hello team"]
    theirs_ids = {m.id for m in await group.find_messages(list_options())}
    assert {m.message_id for m in restored.messages()} <= theirs_ids
    restored_dm = laptop.conversations.get_restored_by_id(dm.id())
    assert restored_dm is not None and restored_dm.peer_inbox_id == bob.inbox_id
    assert restored_dm.texts() == ["hi bob"]
    assert laptop.preferences.get_consent_state(ConsentEntityType.INBOX, "ef" * 32) is ConsentState.DENIED
    assert restored.consent_state() is ConsentState.ALLOWED

    again = await laptop.import_archive(path, archive_key)
    assert again.messages_imported == 0 and again.messages_duplicate == summary.messages_imported

    # a member adds the pyxmtp installation: the group goes live with its history
    [bobs, _] = sorted(await bob.conversations.sync(), key=lambda c: c.id != group.id().hex())
    await bobs.update_installations()
    await bobs.send_text("after the welcome")

    async def joined() -> bool:
        await laptop.conversations.sync()
        return laptop.conversations.get_conversation_by_id(group.id()) is not None

    await until(joined, "the pyxmtp installation to join the group by welcome")
    live = laptop.conversations.get_conversation_by_id(group.id())
    assert live is not None
    await live.sync()
    assert live.texts() == ["hello team", "after the welcome"]
    for c in (laptop, bob):
        await c.close()
