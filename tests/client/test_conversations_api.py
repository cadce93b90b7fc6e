"""The node-sdk 6.0 surface of conversations, through the public API with real parts (a node on loopback, SQLite):
creating and finding DMs and groups (by inbox id and by identifier), listing with filters, group metadata,
members, optimistic groups and sends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pyxmtp.client import (
    Client,
    ConsentState,
    DeliveryStatus,
    DisappearingSettings,
    Dm,
    Group,
    GroupPermissionsPreset,
    InboxNotFound,
    InboxState,
    ListOrder,
    MembershipUpdateError,
    NotRegistered,
    PermissionLevel,
)
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.node import Node

from .conftest import new_client

pytestmark = pytest.mark.timeout(120)

NOBODY = "0x" + "00" * 20


async def test_create_registers_once_and_build_opens_without_a_signer(node: Node, tmp_path: Path) -> None:
    wallet = LocalWalletSigner.generate()
    async with await Client.create(node.address, wallet, db_path=tmp_path / "a.db") as alice:
        assert await alice.is_registered()
        inbox_id, installation = alice.inbox_id, alice.installation_id
        assert alice.account_identifier == wallet.identifier
    async with await Client.build(node.address, wallet.address, db_path=tmp_path / "a.db") as again:
        assert (again.inbox_id, again.installation_id) == (inbox_id, installation)
        assert await again.is_registered()
        await again.register()  # registered: nothing to sign
    # a new database without a signer: a new installation that cannot register itself
    async with await Client.build(node.address, wallet.address, db_path=tmp_path / "b.db") as fresh:
        assert fresh.inbox_id == inbox_id and not await fresh.is_registered()
        with pytest.raises(NotRegistered):
            await fresh.register()
        await fresh.register(wallet)  # the wallet signs for the second installation
        state = await fresh.inbox_state(refresh=True)
        assert isinstance(state, InboxState) and state.inbox_id == inbox_id
        assert [i.id for i in state.installations] == [installation, fresh.installation_id]
        assert state.installation_ids == [installation, fresh.installation_id]
        assert state.account_identifiers == (wallet.identifier,)
        assert state.recovery_identifier == wallet.identifier
    unregistered = await Client.create(node.address, LocalWalletSigner.generate(), register=False)
    assert not await unregistered.is_registered()
    await unregistered.close()


async def test_identifiers_find_inboxes(node: Node, tmp_path: Path) -> None:
    alice_wallet, bob_wallet = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    alice = await Client.create(node.address, alice_wallet, db_path=tmp_path / "a.db")
    bob = await Client.create(node.address, bob_wallet, db_path=tmp_path / "b.db")
    mixed = bob_wallet.address.upper().replace("0X", "0x")  # any case
    assert await alice.can_message([mixed, MemberIdentifier.ethereum(NOBODY)]) == {
        bob_wallet.address.lower(): True,
        NOBODY: False,
    }
    assert await alice.fetch_inbox_id_by_identifier(mixed) == bob.inbox_id
    assert await alice.fetch_inbox_id_by_identifier(NOBODY) is None
    [state] = await alice.inbox_states_for([bob.inbox_id])
    assert state.inbox_id == bob.inbox_id and state.account_identifiers == (bob_wallet.identifier,)
    with pytest.raises(InboxNotFound) as missing:  # an inbox without a log is named, not left out
        await alice.preferences.get_inbox_states([bob.inbox_id, "ab" * 32])
    assert missing.value.inbox_ids == ["ab" * 32]

    dm = await alice.conversations.create_dm_with_identifier(bob_wallet.address)
    assert isinstance(dm, Dm) and dm.peer_inbox_id == bob.inbox_id
    assert await alice.conversations.fetch_dm_by_identifier(bob_wallet.address) == dm
    assert await alice.conversations.fetch_dm_by_identifier(NOBODY) is None
    with pytest.raises(MembershipUpdateError, match="has no inbox"):
        await alice.conversations.create_dm_with_identifier(NOBODY)
    group = await alice.conversations.create_group_with_identifiers([bob_wallet.address], name="by address")
    assert set(group.member_inbox_ids()) == {alice.inbox_id, bob.inbox_id}
    with pytest.raises(MembershipUpdateError, match="no inbox"):
        await group.add_members_by_identifiers([NOBODY])
    carol_wallet = LocalWalletSigner.generate()
    carol = await Client.create(node.address, carol_wallet, db_path=tmp_path / "c.db")
    await group.add_members_by_identifiers([carol_wallet.identifier])
    assert carol.inbox_id in group.member_inbox_ids()
    await group.remove_members_by_identifiers([carol_wallet.address])
    assert carol.inbox_id not in group.member_inbox_ids()
    for c in (alice, bob, carol):
        await c.close()


async def test_dms_are_found_or_created_and_duplicates_listed_once(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    assert await alice.conversations.create_dm(bob.inbox_id) == dm  # found, not made again
    assert alice.conversations.get_dm_by_inbox_id(bob.inbox_id) == dm
    duplicate = await alice.conversations.new_dm(bob.inbox_id)
    await dm.send_text("the older one is the more active")
    assert alice.conversations.list_dms() == [dm]  # one per peer: the most recently active
    assert set(alice.conversations.list_dms(include_duplicate_dms=True)) == {dm, duplicate}
    assert dm.duplicate_dms() == [duplicate] and duplicate.duplicate_dms() == [dm]
    assert alice.conversations.get_dm_by_inbox_id(bob.inbox_id) == dm
    await duplicate.send_text("now this one")
    assert alice.conversations.list_dms() == [duplicate]
    with pytest.raises(MembershipUpdateError):
        await alice.conversations.create_dm(alice.inbox_id)
    for c in (alice, bob):
        await c.close()


async def test_lists_filter_order_and_find(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    first = await alice.conversations.create_group([bob.inbox_id], name="first")
    middle = await alice.conversations.create_dm(bob.inbox_id)
    last = await alice.conversations.create_group([bob.inbox_id], name="last")
    everything = alice.conversations.list()
    assert everything == [first, middle, last]  # oldest first
    assert alice.conversations.list_groups() == [first, last] and alice.conversations.list_dms() == [middle]
    assert alice.conversations.list(conversation_type=ConversationType.DM) == [middle]
    assert alice.conversations.list(created_after_ns=first.created_at_ns) == [middle, last]
    assert alice.conversations.list(created_before_ns=last.created_at_ns) == [first, middle]
    assert alice.conversations.list(limit=2) == [first, middle]
    await first.send_text("first is active again")
    assert alice.conversations.list(order_by=ListOrder.LAST_ACTIVITY) == [first, last, middle]
    assert first.created_at.timestamp() == pytest.approx(first.created_at_ns / 1e9)

    assert alice.conversations.get_conversation_by_id(first.id) == first  # hex
    assert alice.conversations.get_conversation_by_id(first.group_id) is first  # bytes: the same handle
    assert alice.conversations.get_conversation_by_id("not hex") is None
    assert alice.conversations.get_conversation_by_id(b"\x00" * 16) is None
    [message] = first.messages(content_types=["text"])
    assert alice.conversations.get_message_by_id(message.id) == message
    assert alice.conversations.get_message_by_id(message.message_id) == message
    assert alice.conversations.get_message_by_id("00" * 32) is None
    assert set(alice.conversations.hmac_keys()) == {first.id, middle.id, last.id}
    keys = first.hmac_keys()
    assert [k.epoch for k in keys] == [keys[1].epoch - 1, keys[1].epoch, keys[1].epoch + 1]
    assert all(len(k.key) == 42 for k in keys)

    summary = await bob.conversations.sync_all()
    assert (summary.eligible, summary.synced) == (3, 3)
    bobs = bob.conversations.get_conversation_by_id(first.id)
    assert bobs is not None and bobs.texts() == ["first is active again"]
    bobs.update_consent_state(ConsentState.DENIED)
    assert bob.conversations.list() == [
        bob.conversations.get_conversation_by_id(g.id) for g in (middle, last)
    ]
    assert (await bob.conversations.sync_all()).eligible == 2  # denied ones are not synced by default
    assert (await bob.conversations.sync_all([ConsentState.DENIED])).eligible == 1
    for c in (alice, bob):
        await c.close()


async def test_group_metadata_admins_and_members(node: Node, tmp_path: Path) -> None:
    alice_wallet = LocalWalletSigner.generate()
    alice = await Client.create(node.address, alice_wallet, db_path=tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    settings = DisappearingSettings(time.time_ns() + 10**18, 3600 * 10**9)  # from far ahead: nothing goes
    group = await alice.conversations.create_group(
        [bob.inbox_id],
        name="team",
        description="what we do",
        image_url="https://example.com/team.png",
        app_data="v1",
        permissions=GroupPermissionsPreset.ADMIN_ONLY,
        disappearing=settings,
    )
    [bobs] = await bob.conversations.sync()
    assert isinstance(bobs, Group)
    assert (bobs.name, bobs.description, bobs.image_url, bobs.app_data) == (
        "team",
        "what we do",
        "https://example.com/team.png",
        "v1",
    )
    assert bobs.message_disappearing_settings() == settings and bobs.is_message_disappearing_enabled()
    assert bobs.metadata().creator_inbox_id == alice.inbox_id
    assert bobs.added_by_inbox_id == alice.inbox_id and group.added_by_inbox_id == alice.inbox_id
    assert bobs.list_super_admins() == [alice.inbox_id] and bobs.list_admins() == []
    assert bobs.is_super_admin(alice.inbox_id) and not bobs.is_admin(bob.inbox_id)
    await group.update_name("renamed")
    await group.update_description("new description")
    await group.update_image_url("https://example.com/new.png")
    await group.update_app_data("v2")
    await group.remove_message_disappearing_settings()
    await bobs.sync()
    assert (bobs.name, bobs.description, bobs.image_url, bobs.app_data) == (
        "renamed",
        "new description",
        "https://example.com/new.png",
        "v2",
    )
    assert bobs.message_disappearing_settings() is None

    members = {m.inbox_id: m for m in await bobs.members()}
    assert set(members) == {alice.inbox_id, bob.inbox_id}
    assert members[alice.inbox_id].permission_level is PermissionLevel.SUPER_ADMIN
    assert members[bob.inbox_id].permission_level is PermissionLevel.MEMBER
    assert members[alice.inbox_id].account_identifiers == (alice_wallet.identifier,)
    assert members[alice.inbox_id].installation_ids == (alice.installation_id,)
    assert members[alice.inbox_id].consent_state is ConsentState.UNKNOWN
    for c in (alice, bob):
        await c.close()


async def test_an_optimistic_group_and_optimistic_sends(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    calls: list[str] = []
    real = alice.api._call

    async def counted(name: str, method: object, request: object) -> object:
        calls.append(name)
        return await real(name, method, request)

    alice.api._call = counted  # type: ignore[method-assign]
    group = alice.conversations.create_group_optimistic(name="drafted")
    early = await group.send_text("drafted alone", optimistic=True)
    assert calls == []  # nothing reached the node
    assert alice.conversations.list_groups() == [group] and group.consent_state() is ConsentState.ALLOWED
    [draft] = group.messages()
    assert draft.message_id == early and draft.delivery_status is DeliveryStatus.UNPUBLISHED

    await group.add_members([bob.inbox_id])  # the group reaches the node with its first change of members
    later = await group.send_text("for bob", optimistic=True)
    assert [m.message_id for m in alice.conversations.unpublished()] == [early, later]
    await group.publish_messages()
    assert alice.conversations.unpublished() == []
    assert all(m.published for m in group.messages())
    [bobs] = await bob.conversations.sync()
    await bobs.sync()
    # published after bob joined: encrypted for the epoch he is in, the early one too
    assert bobs.texts() == ["drafted alone", "for bob"]
    for c in (alice, bob):
        await c.close()
