"""Admins, permissions and leave requests between our client and libxmtp 1.10 (xmtp-bindings 0.1.8): what either
side's admins change, the other enforces; a non-admin's rename is refused by both; a leave request from either
side is carried out by the other side's super admin."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import ChangeRefused, Client, Group, PermissionPolicy, PermissionUpdateType
from pyxmtp.conversations.content import GroupUpdated
from pyxmtp.node import Node
from tests.interop.libxmtp import User, until, v

from .conftest import new_client
from .test_group_admin import forge
from .test_libxmtp_interop import group_options, libxmtp_api

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

POLICIES = {
    v.FfiPermissionPolicy.ALLOW: PermissionPolicy.ALLOW,
    v.FfiPermissionPolicy.DENY: PermissionPolicy.DENY,
    v.FfiPermissionPolicy.ADMIN: PermissionPolicy.ADMIN,
    v.FfiPermissionPolicy.SUPER_ADMIN: PermissionPolicy.SUPER_ADMIN,
    v.FfiPermissionPolicy.DOES_NOT_EXIST: PermissionPolicy.DOES_NOT_EXIST,
    v.FfiPermissionPolicy.OTHER: PermissionPolicy.OTHER,
}
FIELDS = (
    "add_member_policy",
    "remove_member_policy",
    "add_admin_policy",
    "remove_admin_policy",
    "update_group_name_policy",
    "update_group_description_policy",
    "update_group_image_url_square_policy",
    "update_message_disappearing_policy",
    "update_app_data_policy",
)


def same_permissions(ours: Group, theirs: Any) -> bool:
    """Our reading of the policy set is libxmtp's, field by field."""
    mine = ours.permissions().policy_set
    their_set = theirs.group_permissions().policy_set()
    return all(getattr(mine, f) is POLICIES[getattr(their_set, f)] for f in FIELDS)


async def joined(client: Client, group_id: bytes) -> Group:
    await client.conversations.sync()
    found = client.conversations.get_conversation_by_id(group_id)
    assert isinstance(found, Group)
    await found.sync()
    return found


async def theirs(user: User, group_id: bytes) -> Any:
    await user.client.conversations().sync()
    conversation = user.client.conversation(group_id)
    await conversation.sync()
    return conversation


async def members(conversation: Any) -> set[str]:
    return {m.inbox_id for m in await conversation.list_members()}


async def test_libxmtps_admins_and_permissions_bind_our_client(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice, carol = await User.register(api), await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")
    ag = await alice.client.conversations().create_group([bob.inbox_id, carol.inbox_id], group_options("g"))
    gid = bytes(ag.id())
    bg, cg = await joined(bob, gid), await theirs(carol, gid)
    assert same_permissions(bg, ag)

    # libxmtp's super admin makes bob an admin and names admin-only; bob may rename, carol may not (both agree)
    await ag.add_admin(bob.inbox_id)
    await ag.update_permission_policy(
        v.FfiPermissionUpdateType.UPDATE_METADATA, v.FfiPermissionPolicy.ADMIN, v.FfiMetadataField.GROUP_NAME
    )
    await bg.sync()
    assert bg.is_admin(bob.inbox_id) and same_permissions(bg, ag)
    assert bg.permissions().policy_set.update_group_name_policy is PermissionPolicy.ADMIN
    with pytest.raises(ChangeRefused, match="super admin"):
        await bg.add_super_admin(bob.inbox_id)
    await bg.update_name("named by bob")
    await cg.sync()
    assert cg.group_name() == "named by bob"
    with pytest.raises(v.FfiError.Error):
        await cg.update_group_name("named by carol")
    await bg.sync()
    assert bg.name == "named by bob"

    # bob is an admin no longer: our client refuses his rename, and libxmtp refuses it forged
    await ag.remove_admin(bob.inbox_id)
    await bg.sync()
    assert not bg.is_admin(bob.inbox_id)
    assert [u.admins_removed for u in map(lambda m: m.content, bg.messages()) if isinstance(u, GroupUpdated)][
        -1
    ] == (bob.inbox_id,)
    with pytest.raises(ChangeRefused, match="group_name"):
        await bg.update_name("again")

    def rename(core: Any) -> Any:
        return core.commit_metadata({"group_name": "forged"}, rng=bg._ctx.rng, now=bg._ctx.now_s())

    await forge(bg, rename)
    await ag.sync()
    assert ag.group_name() == "named by bob"
    await bob.close()


async def test_our_admins_and_permissions_bind_libxmtp(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice, carol = await User.register(api), await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")
    bg = await bob.conversations.create_group([alice.inbox_id, carol.inbox_id], name="ours")
    ag, cg = await theirs(alice, bg.group_id), await theirs(carol, bg.group_id)
    assert same_permissions(bg, cg)

    await bg.add_admin(alice.inbox_id)
    await bg.update_permission(PermissionUpdateType.UPDATE_METADATA, PermissionPolicy.ADMIN, "group_name")
    await bg.add_super_admin(carol.inbox_id)
    await ag.sync()
    await cg.sync()
    assert ag.is_admin(alice.inbox_id) and cg.is_super_admin(carol.inbox_id)
    assert same_permissions(bg, ag) and same_permissions(bg, cg)
    assert POLICIES[cg.group_permissions().policy_set().update_group_name_policy] is PermissionPolicy.ADMIN

    # alice (admin) renames; carol, a super admin, removes alice's admin role; alice can rename no more
    await ag.update_group_name("named by alice")
    await bg.sync()
    assert bg.name == "named by alice"
    await cg.sync()
    await cg.remove_admin(alice.inbox_id)
    await bg.sync()
    assert bg.list_admins() == []
    await ag.sync()
    with pytest.raises(v.FfiError.Error):
        await ag.update_group_name("again")
    await bg.sync()
    assert bg.name == "named by alice"
    await bob.close()


async def test_our_super_admin_carries_out_a_libxmtp_leave_request(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice, carol = await User.register(api), await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")
    bg = await bob.conversations.create_group([alice.inbox_id, carol.inbox_id], name="leaving")
    ag = await theirs(alice, bg.group_id)
    await ag.leave_group()
    assert ag.membership_state() == v.FfiGroupMembershipState.PENDING_REMOVE

    await bg.sync()  # our client, super admin, removes alice
    assert set(bg.member_inbox_ids()) == {bob.inbox_id, carol.inbox_id}
    updates = [m.content for m in bg.messages() if isinstance(m.content, GroupUpdated)]
    assert updates[-1] == GroupUpdated(bob.inbox_id, left_inboxes=(alice.inbox_id,))
    cg = await theirs(carol, bg.group_id)
    assert await members(cg) == {bob.inbox_id, carol.inbox_id}
    with contextlib.suppress(v.FfiError.Error):
        await ag.sync()
    assert not ag.is_active()
    await bob.close()


async def test_libxmtps_super_admin_carries_out_our_leave_request(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice, carol = await User.register(api), await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")
    ag = await alice.client.conversations().create_group([bob.inbox_id, carol.inbox_id], group_options("g"))
    gid = bytes(ag.id())
    bg = await joined(bob, gid)
    await bg.request_removal()
    assert bg.is_pending_removal()

    async def bob_gone() -> bool:  # libxmtp's worker removes pending members every two seconds
        await ag.sync()
        return bob.inbox_id not in await members(ag)

    await until(bob_gone, "libxmtp's super admin to remove bob")
    await bg.sync()
    assert not bg.is_active and bg.is_pending_removal()
    updates = [m.content for m in bg.messages() if isinstance(m.content, GroupUpdated)]
    assert updates[-1] == GroupUpdated(alice.inbox_id, left_inboxes=(bob.inbox_id,))
    cg = await theirs(carol, gid)
    assert await members(cg) == {alice.inbox_id, carol.inbox_id}
    await bob.close()
