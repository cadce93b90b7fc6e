"""Welcomes and received key packages cannot be used against us (issue 11, items 2, 3, 4 and part of 7).

Each test is an attack as someone with pyxmtp's own code would make it: a stranger (with a registered inbox, or
none), a former member or a hostile member builds a group and its Welcome with our MLS and conversations layers
(sans-IO; a few checks of ours are switched off where an attacker's copy would not have them) and sends it
through a real node. The victim, a real client, refuses it: its conversations are as they were, and its next
genuine conversation with Bob works.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from pyxmtp.client import Client, Dm, MembershipUpdateError
from pyxmtp.conversations import key_packages as xmtp_key_packages
from pyxmtp.conversations.conversation import CONVERSATION_CONFIG, Conversation, Received
from pyxmtp.conversations.credential import build_credential
from pyxmtp.conversations.key_packages import XMTP_CAPABILITIES, XMTP_CIPHER_SUITE, create_xmtp_key_package
from pyxmtp.conversations.new_group import (
    DM_POLICIES,
    dm_extensions,
    membership_extension,
    mutable_metadata_extension,
    with_extension,
)
from pyxmtp.conversations.welcome_send import welcome_inputs
from pyxmtp.conversations.welcome_wrap import CURVE25519, CURVE25519_WRAPPER, wrap_welcome
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.mls.errors import RemoteMLSError
from pyxmtp.mls.group import XMTP_CONFIG, Group
from pyxmtp.mls.group.errors import InvalidArgument
from pyxmtp.mls.key_package_validation import parse_key_package
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import GroupContextExtensions, Proposal
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2
from pyxmtp.proto.mls.message_contents import group_permissions_pb2

from .conftest import new_client

pytestmark = pytest.mark.timeout(300)

DAY_NS = 24 * 3600 * 10**9
GROUP_MUTABLE_PERMISSIONS = 0xFF02


class Clock:
    """The real clock, moved by ``offset_ns`` (a client that syncs weeks later, or runs slow)."""

    def __init__(self, offset_ns: int = 0) -> None:
        self.offset_ns = offset_ns

    def __call__(self) -> int:
        return time.time_ns() + self.offset_ns


# --- the attacker's tools ------------------------------------------------------------------------------------
async def forge(
    attacker: Client,
    members: Sequence[Client],
    extensions: tuple[Extension, ...],
    *,
    group_id: bytes | None = None,
    epochs: int = 0,
    send: bool = True,
) -> tuple[Conversation, bytes, list[KeyPackage]]:
    """A group of the attacker's making: its id and context extensions as given, ``epochs`` empty commits
    ahead, then one commit adding every installation of ``members`` (never published: only the Welcome is
    needed). The welcomes are sent through the node unless ``send`` is false. ``(group, welcome, key packages)``."""
    now = attacker.clock_ns() // 10**9
    group = Group.create(
        XMTP_CIPHER_SUITE,
        attacker.signer,
        build_credential(attacker.inbox_id),
        rng=os.urandom,
        now=now,
        config=XMTP_CONFIG,
        group_id=os.urandom(16) if group_id is None else group_id,
        extensions=extensions,
        capabilities=XMTP_CAPABILITIES,
    )
    for _ in range(epochs):
        group.commit(rng=os.urandom, now=now, force_path=True)
        group.merge_pending_commit()
    conversation = Conversation(group, attacker.inbox_id)
    inboxes = [attacker.inbox_id, *(m.inbox_id for m in members)]
    await attacker.identities.fetch(attacker.api, inboxes)
    sequence_ids = {inbox: attacker.identities.last_sequence_id(inbox) for inbox in inboxes}
    data = await attacker.api.fetch_key_packages([m.installation_id for m in members])
    kps = [parse_key_package(d) for d in data]
    staged = conversation.commit_membership(sequence_ids, add=kps, rng=os.urandom, now=now)
    conversation.merge_own_commit()
    assert staged.welcome is not None
    if send:
        await attacker.api.send_welcome_messages(welcome_inputs(staged.welcome, 0, kps, os.urandom))
    return conversation, staged.welcome, kps


def dm_claiming(one: str, two: str, *, members: dict[str, int]) -> tuple[Extension, ...]:
    """The context of "a DM between ``one`` and ``two``" whose membership is ``members`` (before the add)."""
    return with_extension(dm_extensions(one, two, rng=os.urandom), membership_extension(members))


def with_policies(extensions: tuple[Extension, ...], **bases: int) -> tuple[Extension, ...]:
    """``extensions`` with the DM preset's policies changed (``add_member_policy=1``: anyone adds)."""
    policies = group_permissions_pb2.PolicySet()
    policies.CopyFrom(DM_POLICIES)
    for name, base in bases.items():
        getattr(policies, name).base = base
    body = group_permissions_pb2.GroupMutablePermissionsV1(policies=policies)
    return with_extension(extensions, Extension(GROUP_MUTABLE_PERMISSIONS, body.SerializeToString()))


# --- the victim's side ---------------------------------------------------------------------------------------
async def dm_works(alice: Client, bob: Client, text: str) -> Dm:
    """Alice's DM with Bob (found or made) carries ``text`` to Bob, and Bob's answer back."""
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await dm.send_text(text)
    await bob.conversations.sync()
    theirs = bob.conversations.get_conversation_by_id(dm.group_id)
    assert theirs is not None
    await theirs.sync()
    assert text in theirs.texts()
    await theirs.send_text(f"re: {text}")
    await dm.sync()
    assert f"re: {text}" in dm.texts()
    return dm


async def refused(victim: Client, because: str, caplog: pytest.LogCaptureFixture) -> None:
    """The victim processes its welcomes: nothing joined (for the reason ``because`` names, as logged), its
    conversations exactly as they were."""
    before = victim.store.conversations()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pyxmtp.client"):
        assert await victim.conversations.sync() == []
    assert because in caplog.text
    assert victim.store.conversations() == before


def cannot_read(conversation: Conversation, messages: Sequence[mls_pb2.GroupMessage], now: int) -> bool:
    """Whether none of ``messages`` decrypts in the attacker's ``conversation``."""
    for message in messages:
        try:
            outcome = conversation.process(message.v1.data, now=now, states_for=lambda wanted: {})
        except RemoteMLSError:
            continue
        if isinstance(outcome, Received):
            return False
    return True


# --- item 2: DMs are what they claim --------------------------------------------------------------------------
@pytest.mark.parametrize("bob_too", [False, True], ids=["stranger-and-alice", "stranger-alice-and-bob"])
async def test_a_strangers_group_claiming_to_be_our_dm_with_bob_is_refused(
    node: Node, tmp_path: Path, bob_too: bool, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    mallory = await new_client(node, tmp_path / "mallory.db")
    extensions = dm_claiming(alice.inbox_id, bob.inbox_id, members={mallory.inbox_id: 0})
    members = [alice, bob] if bob_too else [alice]
    forged, _, _ = await forge(mallory, members, extensions)
    await refused(alice, "not a valid DM: added_by", caplog)
    if bob_too:
        await refused(bob, "not a valid DM: added_by", caplog)
    assert alice.conversations.get_dm_by_inbox_id(bob.inbox_id) is None  # not the stranger's group
    dm = await dm_works(alice, bob, "for bob only")
    assert dm.group_id != forged.group_id


async def test_a_stranger_without_an_inbox_cannot_pose_as_bob(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    stranger = await Client.create(
        node.address, LocalWalletSigner.generate(), db_path=tmp_path / "s.db", register=False
    )
    stranger.ctx = replace(
        stranger.ctx, inbox_id=bob.inbox_id
    )  # its leaf names Bob's; its installation is in no log
    await stranger.rotate_key_package()  # the node takes key packages from anyone
    await forge(stranger, [alice], dm_claiming(bob.inbox_id, alice.inbox_id, members={bob.inbox_id: 0}))
    await refused(alice, "identity log", caplog)
    await dm_works(alice, bob, "the real bob")


async def test_a_dm_from_bob_that_also_has_mallory_in_it_is_refused(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    mallory = await new_client(node, tmp_path / "mallory.db")
    extensions = dm_claiming(bob.inbox_id, alice.inbox_id, members={bob.inbox_id: 0})
    await forge(bob, [alice, mallory], extensions)  # Bob's DM with Alice, and Mallory listening
    await refused(alice, "not a valid DM: members", caplog)
    await refused(mallory, "not a valid DM: dm_members", caplog)  # a DM between two others: not hers either
    await dm_works(alice, bob, "just us")


@pytest.mark.parametrize(
    "change",
    ["anyone_adds", "anyone_removes", "admins_change_permissions", "bob_is_super_admin", "alice_is_admin"],
)
async def test_a_dm_whose_other_side_could_add_or_administer_is_refused(
    node: Node, tmp_path: Path, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    extensions = dm_claiming(bob.inbox_id, alice.inbox_id, members={bob.inbox_id: 0})
    attributes = {"group_name": "", "description": "", "group_image_url_square": ""}
    if change == "anyone_adds":
        extensions = with_policies(extensions, add_member_policy=1)
    elif change == "anyone_removes":
        extensions = with_policies(extensions, remove_member_policy=1)
    elif change == "admins_change_permissions":
        extensions = with_policies(extensions, update_permissions_policy=2)
    elif change == "bob_is_super_admin":
        extensions = with_extension(extensions, mutable_metadata_extension(attributes, (), (bob.inbox_id,)))
    else:
        extensions = with_extension(extensions, mutable_metadata_extension(attributes, (alice.inbox_id,), ()))
    await forge(bob, [alice], extensions)
    rule = "admins" if change.endswith("admin") else "permissions"
    await refused(alice, f"not a valid DM: {rule}", caplog)
    await dm_works(alice, bob, "a real DM")


async def test_a_welcome_whose_context_repeats_an_extension_type_is_refused(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 9420 13.4: the DM preset first (what we would read), "anyone adds" second (what another client might)."""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    extensions = dm_claiming(bob.inbox_id, alice.inbox_id, members={bob.inbox_id: 0})
    permissive = with_policies(extensions, add_member_policy=1)
    second = next(e for e in permissive if e.extension_type == GROUP_MUTABLE_PERMISSIONS)
    with monkeypatch.context() as patched:  # Bob's copy of the engine does not check for repeats
        patched.setattr("pyxmtp.mls.group.create.check_group_context_extensions", lambda *a: None)
        patched.setattr("pyxmtp.mls.group.proposals.check_group_context_extensions", lambda *a: None)
        await forge(bob, [alice], (*extensions, second))
    await refused(alice, "GroupContext has extension type 0xff02 twice", caplog)
    await dm_works(alice, bob, "one context")


# --- item 3: a Welcome never replaces a conversation we hold ---------------------------------------------------
async def test_a_welcome_reusing_the_id_of_a_group_we_are_in_is_refused(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    mallory = await new_client(node, tmp_path / "mallory.db")  # knows the id: the node, or a former member
    dm = await dm_works(alice, bob, "before")
    # a group of Mallory's with the DM's id, five epochs ahead of it, welcoming Alice
    extensions = dm_claiming(mallory.inbox_id, alice.inbox_id, members={mallory.inbox_id: 0})
    forged, _, _ = await forge(mallory, [alice], extensions, group_id=dm.group_id, epochs=5)
    await refused(alice, "which we are in", caplog)
    assert (
        alice.conversations.get_dm_by_inbox_id(bob.inbox_id) is not None
        and alice.conversations.get_dm_by_inbox_id(bob.inbox_id).group_id == dm.group_id
    )  # type: ignore[union-attr]
    await dm_works(alice, bob, "after")
    messages = [m async for m in mallory.api.group_messages_after(dm.group_id, 0)]
    assert messages and cannot_read(forged, messages, mallory.clock_ns() // 10**9)


async def test_a_group_that_removed_us_is_replaced_only_by_a_welcome_for_a_later_epoch(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bob removes Alice and adds her back (libxmtp's re-add); before that, Mallory, who knows the id, sends a
    welcome of hers for an epoch Alice was already in: refused. The re-add keeps what Alice had read."""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    mallory = await new_client(node, tmp_path / "mallory.db")
    group = await bob.conversations.create_group([alice.inbox_id], name="ours")
    await group.send_text("before")
    [theirs] = await alice.conversations.sync()
    await theirs.sync()
    created_ns = alice.store.conversation(group.group_id).created_ns  # type: ignore[union-attr]
    await group.remove_members([alice.inbox_id])
    await group.send_text("while alice is out")
    await theirs.sync()  # alice learns she is out: the group is still listed, as it was when she left
    assert not theirs.is_active and theirs.name == "ours"
    assert [c.group_id for c in alice.conversations.list()] == [group.group_id]
    assert alice.conversations.get_dm_by_inbox_id(bob.inbox_id) is None
    extensions = dm_claiming(mallory.inbox_id, alice.inbox_id, members={mallory.inbox_id: 0})
    await forge(mallory, [alice], extensions, group_id=group.group_id)
    await group.add_members([alice.inbox_id])
    await group.send_text("welcome back")

    with caplog.at_level(logging.WARNING, logger="pyxmtp.client"):
        [again] = await alice.conversations.sync()  # Mallory's passed over, Bob's taken
    assert "which we left at epoch 1: not a later one" in caplog.text
    assert again.group_id == group.group_id and again.is_active
    await again.sync()
    assert again.texts() == ["before", "welcome back"]
    record = alice.store.conversation(group.group_id)
    assert record is not None and record.added_by == bob.inbox_id and record.created_ns == created_ns
    assert len([c for c in alice.conversations.list() if c.group_id == group.group_id]) == 1
    await again.send_text("glad to be back")
    await group.sync()
    assert "glad to be back" in group.texts()


# --- item 4: received key packages are judged as libxmtp judges them -------------------------------------------
async def test_a_member_who_syncs_90_days_late_follows_the_adds_it_missed(node: Node, tmp_path: Path) -> None:
    later = Clock()
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db", clock_ns=later)
    carol = await new_client(node, tmp_path / "carol.db")
    group = await alice.conversations.create_group([bob.inbox_id])
    [bobs] = await bob.conversations.sync()
    await group.add_members([carol.inbox_id])  # carol's key package lives 84 days
    [carols] = await carol.conversations.sync()
    await carols.send_text("hi, I'm carol")
    later.offset_ns = 90 * DAY_NS
    await bobs.sync()
    assert bobs.texts() == ["hi, I'm carol"]
    assert sorted(bobs.member_inbox_ids()) == sorted([alice.inbox_id, bob.inbox_id, carol.inbox_id])
    await bobs.send_text("back after 90 days")
    for theirs in (group, carols):
        await theirs.sync()
        assert "back after 90 days" in theirs.texts()


async def test_a_member_adding_a_key_package_not_valid_yet_does_not_leave_us_behind(
    node: Node, tmp_path: Path
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    wallet = LocalWalletSigner.generate()
    mallory = await Client.create(node.address, wallet, db_path=tmp_path / "mallory.db")
    await mallory.register(wallet)
    group = await alice.conversations.create_group([mallory.inbox_id])  # "all members": anyone adds
    [malloris] = await mallory.conversations.sync()
    second = await Client.create(node.address, wallet, db_path=tmp_path / "mallory2.db")
    await second.register(wallet)  # a new installation of hers
    # she adds it herself, with a key package valid only from 30 days on (her commit, her clock)
    later = mallory.clock_ns() // 10**9 + 30 * 24 * 3600
    kp = create_xmtp_key_package(mallory.inbox_id, second.signer, rng=os.urandom, now=later).key_package
    await mallory.identities.fetch(mallory.api, [mallory.inbox_id])
    members = dict(malloris._session.core.context.membership.members)
    members[mallory.inbox_id] = mallory.identities.last_sequence_id(mallory.inbox_id)
    staged = malloris._session.core.commit_membership(members, add=[kp], rng=os.urandom, now=later)
    assert staged.message is not None
    await mallory.api.send_group_messages(
        [mls_pb2.GroupMessageInput(v1=mls_pb2.GroupMessageInput.V1(data=staged.message))]
    )
    malloris._session.core.merge_own_commit()
    await malloris.send_text("one epoch on")
    await group.sync()
    assert group.texts() == ["one epoch on"]
    assert group.epoch == malloris.epoch
    await group.send_text("still in step")
    await malloris.sync()
    assert "still in step" in malloris.texts()


async def test_a_joiner_whose_clock_is_behind_joins_a_tree_of_leaves_not_valid_yet(
    node: Node, tmp_path: Path
) -> None:
    """Bob's leaf keeps his key package's lifetime (from an hour ago) until he commits; Dave's clock is 30 days
    behind: libxmtp does not hold a joined tree's leaves to their lifetimes, nor do we."""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dave = await new_client(node, tmp_path / "dave.db", clock_ns=Clock(-30 * DAY_NS))
    group = await alice.conversations.create_group([bob.inbox_id])
    await bob.conversations.sync()
    await group.add_members([dave.inbox_id])
    await group.send_text("hello dave")
    [daves] = await dave.conversations.sync()
    await daves.sync()
    assert daves.texts() == ["hello dave"]
    await daves.send_text("hello alice")
    await group.sync()
    assert "hello alice" in group.texts()


async def test_a_key_package_whose_lifetime_spans_more_than_84_days_is_not_added(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 9420 7.2 when sending: a key package valid for ten years (the node, as xmtp-node-go, takes it)."""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    carol = await new_client(node, tmp_path / "carol.db")
    mallory = await new_client(node, tmp_path / "mallory.db")
    with monkeypatch.context() as patched:
        patched.setattr(xmtp_key_packages, "KEY_PACKAGE_LIFETIME", 10 * 365 * 24 * 3600)
        await mallory.rotate_key_package()
    group = await alice.conversations.create_group([bob.inbox_id])
    before = alice.store.conversation(group.group_id)
    with pytest.raises(MembershipUpdateError):
        await group.add_members([mallory.inbox_id])
    assert alice.store.conversation(group.group_id) == before
    # the conversation's MLS engine holds its own Adds to the same bound (84 days and an hour)
    [data] = await alice.api.fetch_key_packages([mallory.installation_id])
    members = {**group._session.core.context.membership.members, mallory.inbox_id: 1}
    with pytest.raises(InvalidArgument, match="lifetime_range"):
        group._session.core.commit_membership(
            members, add=[parse_key_package(data)], rng=os.urandom, now=alice.clock_ns() // 10**9
        )
    assert CONVERSATION_CONFIG.max_lifetime_range == 84 * 24 * 3600 + 3600
    assert group._session.core.to_bytes() == before.state  # type: ignore[union-attr]
    await group.add_members([carol.inbox_id])
    [carols] = await carol.conversations.sync()
    assert mallory.inbox_id not in carols.member_inbox_ids()


# --- item 7 ----------------------------------------------------------------------------------------------------
async def test_added_by_is_who_signed_the_welcome_not_the_creator_field(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    carol = await new_client(node, tmp_path / "carol.db")
    group = await carol.conversations.create_group([bob.inbox_id])
    [bobs] = await bob.conversations.sync()
    await bobs.add_members([alice.inbox_id])
    [alices] = await alice.conversations.sync()
    record = alice.store.conversation(alices.group_id)
    assert record is not None and record.added_by == bob.inbox_id
    assert alices._session.core.context.metadata.creator_inbox_id == carol.inbox_id
    assert group._session.core.context.metadata.creator_inbox_id == carol.inbox_id


async def test_a_welcome_wrapped_with_another_algorithm_than_its_keys_is_refused(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The welcome names Alice's X-Wing wrapper key but says Curve25519: her X-Wing seed must not serve as an
    X25519 key. (White box: the test uses that seed to make a welcome that would otherwise open.)"""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    xwing_public, seed = alice.store._db.execute(
        "SELECT hpke_public_key, wrapper_private_key FROM key_packages WHERE delete_at_ns IS NULL"
    ).fetchone()
    extensions = dm_claiming(bob.inbox_id, alice.inbox_id, members={bob.inbox_id: 0})
    _, welcome, _ = await forge(bob, [alice], extensions, send=False)
    x25519_public = CURVE25519_WRAPPER.kem.private_key_from_bytes(bytes(seed)).public_bytes()
    metadata = mls_pb2.WelcomeMetadata(message_cursor=0).SerializeToString()
    data, sealed = wrap_welcome(welcome, metadata, x25519_public, CURVE25519, os.urandom)
    v1 = mls_pb2.WelcomeMessageInput.V1(
        installation_key=alice.installation_id,
        data=data,
        hpke_public_key=bytes(xwing_public),
        wrapper_algorithm=CURVE25519,  # type: ignore[arg-type]
        welcome_metadata=sealed,
    )
    await bob.api.send_welcome_messages([mls_pb2.WelcomeMessageInput(v1=v1)])
    await refused(alice, "names an X-Wing wrapper key of ours but wrapper algorithm 1", caplog)
    await dm_works(alice, bob, "wrapped as it should be")


async def test_proposals_by_reference_are_bounded_in_bytes_over_the_wire(node: Node, tmp_path: Path) -> None:
    """A member floods the group with 300 kB proposals nobody commits: Alice keeps at most 1 MiB of them,
    refuses the rest with her state unchanged, and the group goes on; the next commit empties the store."""
    alice = await new_client(node, tmp_path / "alice.db")
    mallory = await new_client(node, tmp_path / "mallory.db")
    group = await alice.conversations.create_group([mallory.inbox_id])
    [malloris] = await mallory.conversations.sync()
    engine = malloris._session.core.group
    bulky = (*engine.extensions, Extension(0xFF7D, bytes(300_000)))
    now = mallory.clock_ns() // 10**9
    for n in range(5):
        data = engine.propose(
            Proposal(GroupContextExtensions(bulky)), rng=os.urandom, now=now, authenticated_data=bytes([n])
        )
        engine._state.proposals.clear()  # her engine keeps none, so ours never stops her sending
        await mallory.api.send_group_messages(
            [mls_pb2.GroupMessageInput(v1=mls_pb2.GroupMessageInput.V1(data=data))]
        )
    await group.sync()
    assert len(group._session.core.group.pending_proposals) == 3
    assert len(group._session.core.to_bytes()) < 1_100_000
    await malloris.send_text("still here")
    await group.sync()
    assert group.texts() == ["still here"]
    await group.update_name("committed")  # a new epoch: the store is empty again
    assert len(group._session.core.group.pending_proposals) == 0
    await malloris.sync()
    assert malloris.name == "committed"
