"""A group's admins, permissions and leave requests through the SDK (``Group``), against a real node: changes the
group's rules allow are made and seen by everyone; those they forbid are refused before anything is sent, and,
when forged below the SDK and sent anyway, refused by every receiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyxmtp.client import (
    ChangeRefused,
    Client,
    ConsentState,
    Group,
    GroupPermissionsOptions,
    InactiveConversation,
    PermissionPolicy,
    PermissionUpdateType,
    commits,
)
from pyxmtp.client.conversations import GroupPermissionsPreset
from pyxmtp.conversations.content import GroupUpdated, LeaveRequest
from pyxmtp.node import Node

from .conftest import new_client

pytestmark = pytest.mark.timeout(300)


async def three(
    node: Node, tmp_path: Path, prefix: str = "", **options: object
) -> tuple[list[Client], list[Group]]:
    """alice (creator, super admin), bob and carol, each with the group."""
    clients = [await new_client(node, tmp_path / f"{prefix}{name}.db") for name in ("alice", "bob", "carol")]
    alice, bob, carol = clients
    group = await alice.conversations.create_group([bob.inbox_id, carol.inbox_id], name="g", **options)  # type: ignore[arg-type]
    groups: list[Group] = [group]
    for client in (bob, carol):
        await client.conversations.sync()
        found = client.conversations.get_conversation_by_id(group.group_id)
        assert isinstance(found, Group)
        groups.append(found)
    return clients, groups


async def closed(*clients: Client) -> None:
    for client in clients:
        await client.close()


def updates(group: Group) -> list[GroupUpdated]:
    return [m.content for m in group.messages() if isinstance(m.content, GroupUpdated)]


async def forge(group: Group, build: object) -> None:
    """Send a commit the SDK would refuse: staged by hand with the conversations layer, published as ours."""
    session = group._session
    async with session.lock:
        staged = build(session.core)  # type: ignore[operator]
        await commits.publish_own_commit(session, staged.message)


async def test_admins_are_made_and_unmade(node: Node, tmp_path: Path) -> None:
    (alice, bob, carol), (ga, gb, gc) = await three(node, tmp_path)
    await ga.add_admin(bob.inbox_id)
    assert ga.list_admins() == [bob.inbox_id]
    await gc.sync()
    assert gc.is_admin(bob.inbox_id) and not gc.is_admin(carol.inbox_id)
    assert updates(gc)[-1] == GroupUpdated(alice.inbox_id, admins_added=(bob.inbox_id,))

    await ga.add_admin(bob.inbox_id)  # already one: nothing is sent
    await ga.add_super_admin(carol.inbox_id)
    await gc.sync()
    assert set(gc.list_super_admins()) == {alice.inbox_id, carol.inbox_id}
    await gc.remove_admin(bob.inbox_id)
    await gc.remove_super_admin(alice.inbox_id)
    for group in (ga, gb):
        await group.sync()
        assert group.list_admins() == [] and group.list_super_admins() == [carol.inbox_id]
    assert updates(gb)[-2:] == [
        GroupUpdated(carol.inbox_id, admins_removed=(bob.inbox_id,)),
        GroupUpdated(carol.inbox_id, super_admins_removed=(alice.inbox_id,)),
    ]

    # the last super admin stays; strangers and a non-super admin are refused before anything is sent
    with pytest.raises(ChangeRefused, match="last super admin"):
        await gc.remove_super_admin(carol.inbox_id)
    with pytest.raises(ChangeRefused, match="not members"):
        await gc.add_admin("ab" * 32)
    with pytest.raises(ChangeRefused, match="super admin"):
        await ga.add_super_admin(bob.inbox_id)
    with pytest.raises(ChangeRefused, match="do not let"):
        await gb.add_admin(bob.inbox_id)
    epoch = gc._session.core.epoch
    await gc.sync()
    assert gc._session.core.epoch == epoch  # nothing was committed
    dm = await alice.conversations.create_dm(bob.inbox_id)
    assert not hasattr(dm, "add_admin")
    await closed(alice, bob, carol)


async def test_what_a_member_may_not_do_is_refused_locally_and_by_the_receivers(
    node: Node, tmp_path: Path
) -> None:
    (alice, bob, carol), (ga, gb, gc) = await three(
        node, tmp_path, permissions=GroupPermissionsPreset.ADMIN_ONLY
    )
    with pytest.raises(ChangeRefused, match="group_name"):
        await gb.update_name("bob's")
    with pytest.raises(ChangeRefused, match="add members"):
        await gb.add_members([alice.inbox_id])
    with pytest.raises(ChangeRefused, match="remove members"):
        await gb.remove_members([carol.inbox_id])

    # forged: a rename, then making himself an admin, then opening the permissions; nobody follows
    def rename(core: object) -> object:
        return core.commit_metadata({"group_name": "forged"}, rng=gb._ctx.rng, now=gb._ctx.now_s())  # type: ignore[attr-defined]

    await forge(gb, rename)
    for group in (ga, gc):
        await group.sync()
        assert group.name == "g"
    assert gb.name == "forged"  # only bob's own (forked) view

    (alice2, bob2, carol2), (ga2, gb2, gc2) = await three(node, tmp_path, "2")

    def admin(core: object) -> object:
        ctx = core.context  # type: ignore[attr-defined]
        return core.commit_admin_lists(  # type: ignore[attr-defined]
            (bob2.inbox_id,), ctx.mutable.super_admins, rng=gb2._ctx.rng, now=gb2._ctx.now_s()
        )

    await forge(gb2, admin)
    for group in (ga2, gc2):
        await group.sync()
        assert group.list_admins() == []

    def permissions(core: object) -> object:
        new = type(core.context.permissions)()  # type: ignore[attr-defined]
        new.CopyFrom(core.context.permissions)  # type: ignore[attr-defined]
        new.policies.update_metadata_policy["group_name"].base = 2  # deny
        return core.commit_permissions(new, rng=gb2._ctx.rng, now=gb2._ctx.now_s())  # type: ignore[attr-defined]

    await ga2.sync()
    await forge(gc2, permissions)
    await ga2.sync()
    assert ga2.permissions().policy_set.update_group_name_policy is PermissionPolicy.ALLOW
    await closed(alice, bob, carol, alice2, bob2, carol2)


async def test_permissions_are_read_and_updated_by_super_admins_only(node: Node, tmp_path: Path) -> None:
    (alice, bob, carol), (ga, gb, gc) = await three(node, tmp_path)
    seen = gb.permissions()
    assert seen.policy_type is GroupPermissionsOptions.DEFAULT
    ps = seen.policy_set
    assert (ps.add_member_policy, ps.remove_member_policy) == (PermissionPolicy.ALLOW, PermissionPolicy.ADMIN)
    assert (ps.add_admin_policy, ps.remove_admin_policy) == (PermissionPolicy.SUPER_ADMIN,) * 2
    assert ps.update_group_name_policy is PermissionPolicy.ALLOW
    assert ps.update_message_disappearing_policy is PermissionPolicy.ADMIN

    with pytest.raises(ChangeRefused, match="super admin"):
        await gb.update_permission(PermissionUpdateType.ADD_MEMBER, PermissionPolicy.DENY)
    with pytest.raises(ChangeRefused, match="admin-list policy"):
        await ga.update_permission(PermissionUpdateType.ADD_ADMIN, PermissionPolicy.ALLOW)
    with pytest.raises(ChangeRefused, match="names the metadata field"):
        await ga.update_permission(PermissionUpdateType.UPDATE_METADATA, PermissionPolicy.ADMIN)

    await ga.update_permission(PermissionUpdateType.UPDATE_METADATA, PermissionPolicy.ADMIN, "group_name")
    await ga.update_permission(PermissionUpdateType.ADD_MEMBER, PermissionPolicy.SUPER_ADMIN)
    await gb.sync()
    seen = gb.permissions()
    assert seen.policy_type is GroupPermissionsOptions.CUSTOM_POLICY
    assert seen.policy_set.update_group_name_policy is PermissionPolicy.ADMIN
    assert seen.policy_set.add_member_policy is PermissionPolicy.SUPER_ADMIN
    with pytest.raises(ChangeRefused, match="group_name"):
        await gb.update_name("bob's")
    await ga.add_admin(bob.inbox_id)
    await gb.update_name("bob's")
    with pytest.raises(ChangeRefused, match="add members"):
        await gb.add_members([alice.inbox_id])
    await gc.sync()
    assert gc.name == "bob's"
    await closed(alice, bob, carol)


async def test_a_leave_request_is_carried_out_by_the_super_admin(node: Node, tmp_path: Path) -> None:
    (alice, bob, carol), (ga, gb, gc) = await three(node, tmp_path)
    assert not gb.is_pending_removal()
    await gb.request_removal()
    assert gb.is_pending_removal()
    await gb.request_removal()  # pending already: not sent again
    await gc.sync()
    requests = [m for m in gc.messages() if isinstance(m.content, LeaveRequest)]
    assert [m.sender_inbox_id for m in requests] == [bob.inbox_id]
    assert set(gc.member_inbox_ids()) == {
        alice.inbox_id,
        bob.inbox_id,
        carol.inbox_id,
    }  # carol may not remove

    await ga.sync()  # the super admin's client removes bob
    assert set(ga.member_inbox_ids()) == {alice.inbox_id, carol.inbox_id}
    for group in (ga, gc):
        await group.sync()
        assert updates(group)[-1] == GroupUpdated(alice.inbox_id, left_inboxes=(bob.inbox_id,))
        assert group._ctx.store.pending_removals(group.group_id) == []
    await gb.sync()
    assert not gb.is_active and gb.is_pending_removal()
    with pytest.raises(InactiveConversation):
        await gb.request_removal()

    # a super admin cannot leave; added back, bob is no longer pending and his consent is reset
    with pytest.raises(ChangeRefused, match="super admin"):
        await ga.request_removal()
    await ga.add_members([bob.inbox_id])
    await bob.conversations.sync()
    back = bob.conversations.get_conversation_by_id(ga.group_id)
    assert isinstance(back, Group) and back.is_active and not back.is_pending_removal()
    assert back.consent_state() is ConsentState.UNKNOWN
    await closed(alice, bob, carol)


async def test_leave_requests_that_cannot_be_carried_out_are_handled(node: Node, tmp_path: Path) -> None:
    (alice, bob, carol), (ga, gb, gc) = await three(node, tmp_path)
    # a DM cannot be left (a Dm has no request_removal), and a leave request sent into one anyway is only a message
    dm = await alice.conversations.create_dm(bob.inbox_id)
    assert not hasattr(dm, "request_removal")
    await bob.conversations.sync()
    bob_dm = bob.conversations.get_conversation_by_id(dm.group_id)
    assert bob_dm is not None
    await bob_dm.send(LeaveRequest())
    await dm.sync()
    assert len(dm.member_inbox_ids()) == 2 and dm._ctx.store.pending_removals(dm.group_id) == []

    # a super admin's request (sent as plain content) is recorded but never carried out: super admins stay
    await ga.add_super_admin(carol.inbox_id)
    await gc.sync()
    await gc.send(LeaveRequest())
    await ga.sync()
    assert carol.inbox_id in ga.member_inbox_ids()

    # a request of an inbox that is not a member (as a lying peer could leave behind) is dropped, not carried out
    ga._ctx.store.add_pending_removal(ga.group_id, "cd" * 32, b"\x00" * 32)
    epoch = ga._session.core.epoch
    await ga.sync()
    assert ga._session.core.epoch == epoch
    assert ga._ctx.store.pending_removals(ga.group_id) == [carol.inbox_id]

    # the same request twice (a client's resend under a new id) is carried out once
    await gb.send(LeaveRequest())
    await gb.send(LeaveRequest())
    await ga.sync()
    await gc.sync()
    assert set(gc.member_inbox_ids()) == {alice.inbox_id, carol.inbox_id}
    assert [u.left_inboxes for u in updates(gc) if u.left_inboxes] == [(bob.inbox_id,)]
    await closed(alice, bob, carol)


async def test_a_streaming_super_admin_carries_out_a_leave_request_at_once(
    node: Node, tmp_path: Path
) -> None:
    (alice, bob, carol), (ga, gb, _gc) = await three(node, tmp_path)
    async with alice.conversations.stream_all_messages() as stream:
        await stream.wait_ready()
        await gb.request_removal()
        async for message in stream:  # the request, then (its commit streams after it) the removal
            if isinstance(message.content, GroupUpdated):
                assert message.content.left_inboxes == (bob.inbox_id,)
                break
    assert set(ga.member_inbox_ids()) == {alice.inbox_id, carol.inbox_id}
    await gb.sync()
    assert not gb.is_active
    await closed(alice, bob, carol)
