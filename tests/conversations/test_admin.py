"""Our own admin-list and permission changes, checked before they are made (sans-IO), and the readable view of a
group's policy set."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from pyxmtp.conversations.admin import (
    AdminListUpdate,
    ChangeRefused,
    GroupPermissionsOptions,
    PermissionPolicy,
    PermissionUpdateType,
    admin_lists_after,
    group_permissions,
    may_change_members,
    may_change_metadata,
    permissions_after,
)
from pyxmtp.conversations.group_context import ConversationContext, Membership, parse_group_context
from pyxmtp.conversations.new_group import (
    ADMIN_ONLY_POLICIES,
    DEFAULT_POLICIES,
    dm_extensions,
    group_extensions,
)
from pyxmtp.conversations.permissions import Actor, evaluate_policy
from pyxmtp.proto.mls.message_contents import group_permissions_pb2

ALICE, BOB, CAROL = "a" * 64, "b" * 64, "c" * 64


def context(policies: group_permissions_pb2.PolicySet = DEFAULT_POLICIES) -> ConversationContext:
    """alice's group (she is its super admin) with bob and carol as members."""
    parsed = parse_group_context(group_extensions(ALICE, rng=os.urandom, policies=policies))
    return replace(parsed, membership=Membership({ALICE: 1, BOB: 1, CAROL: 1}, ()))


def with_lists(
    ctx: ConversationContext, admins: tuple[str, ...], supers: tuple[str, ...]
) -> ConversationContext:
    return replace(ctx, mutable=replace(ctx.mutable, admins=admins, super_admins=supers))


def test_the_presets_and_a_custom_set_read_as_node_sdk_shows_them() -> None:
    default = group_permissions(context().permissions)
    assert default.policy_type is GroupPermissionsOptions.DEFAULT
    ps = default.policy_set
    assert (ps.add_member_policy, ps.remove_member_policy) == (PermissionPolicy.ALLOW, PermissionPolicy.ADMIN)
    assert (ps.add_admin_policy, ps.remove_admin_policy) == (PermissionPolicy.SUPER_ADMIN,) * 2
    assert ps.update_message_disappearing_policy is PermissionPolicy.ADMIN
    assert (
        group_permissions(context(ADMIN_ONLY_POLICIES).permissions).policy_type
        is GroupPermissionsOptions.ADMIN_ONLY
    )

    custom = group_permissions_pb2.PolicySet()
    custom.CopyFrom(DEFAULT_POLICIES)
    del custom.update_metadata_policy["app_data"]
    custom.add_member_policy.Clear()
    custom.add_member_policy.and_condition.policies.add(base=1)
    seen = group_permissions(group_permissions_pb2.GroupMutablePermissionsV1(policies=custom))
    assert seen.policy_type is GroupPermissionsOptions.CUSTOM_POLICY
    assert seen.policy_set.add_member_policy is PermissionPolicy.OTHER
    assert seen.policy_set.update_app_data_policy is PermissionPolicy.DOES_NOT_EXIST


def test_admin_list_changes_follow_the_rules_receivers_apply() -> None:
    ctx = context()
    assert admin_lists_after(ctx, ALICE, AdminListUpdate.ADD_ADMIN, BOB) == ((BOB,), (ALICE,))
    assert admin_lists_after(ctx, ALICE, AdminListUpdate.REMOVE_ADMIN, BOB) is None  # not one: nothing to do
    assert admin_lists_after(ctx, ALICE, AdminListUpdate.ADD_SUPER_ADMIN, CAROL) == ((), (ALICE, CAROL))
    with pytest.raises(ChangeRefused, match="last super admin"):
        admin_lists_after(ctx, ALICE, AdminListUpdate.REMOVE_SUPER_ADMIN, ALICE)
    with pytest.raises(ChangeRefused, match="not members"):
        admin_lists_after(ctx, ALICE, AdminListUpdate.ADD_ADMIN, "d" * 64)
    admin = with_lists(ctx, (BOB,), (ALICE,))
    with pytest.raises(ChangeRefused, match="do not let"):
        admin_lists_after(admin, BOB, AdminListUpdate.ADD_ADMIN, CAROL)
    with pytest.raises(ChangeRefused, match="super admin"):
        admin_lists_after(admin, BOB, AdminListUpdate.ADD_SUPER_ADMIN, BOB)
    two = with_lists(ctx, (), (ALICE, CAROL))
    assert admin_lists_after(two, CAROL, AdminListUpdate.REMOVE_SUPER_ADMIN, ALICE) == ((), (CAROL,))
    dm = parse_group_context(dm_extensions(ALICE, BOB, rng=os.urandom))
    with pytest.raises(ChangeRefused, match="DM"):
        admin_lists_after(dm, ALICE, AdminListUpdate.ADD_ADMIN, BOB)


def test_permission_updates_are_for_super_admins_and_replace_one_policy() -> None:
    ctx = context()
    new = permissions_after(ctx, ALICE, PermissionUpdateType.ADD_MEMBER, PermissionPolicy.ADMIN)
    assert not evaluate_policy(new.policies.add_member_policy, Actor(BOB, False, False))
    assert new.policies.remove_member_policy == ctx.permissions.policies.remove_member_policy
    new = permissions_after(
        ctx, ALICE, PermissionUpdateType.UPDATE_METADATA, PermissionPolicy.DENY, "group_name"
    )
    assert new.policies.update_metadata_policy["group_name"].base == 2
    new = permissions_after(ctx, ALICE, PermissionUpdateType.REMOVE_ADMIN, PermissionPolicy.ADMIN)
    assert new.policies.remove_admin_policy.base == 2  # PermissionsUpdatePolicy's "admin"
    assert (
        ctx.permissions.policies.update_metadata_policy["group_name"].base == 1
    )  # the group's own is untouched
    with pytest.raises(ChangeRefused, match="super admin"):
        permissions_after(
            with_lists(ctx, (BOB,), (ALICE,)), BOB, PermissionUpdateType.ADD_MEMBER, PermissionPolicy.DENY
        )
    with pytest.raises(ChangeRefused, match="admin-list policy"):
        permissions_after(ctx, ALICE, PermissionUpdateType.ADD_ADMIN, PermissionPolicy.ALLOW)
    with pytest.raises(ChangeRefused, match="cannot be set"):
        permissions_after(ctx, ALICE, PermissionUpdateType.ADD_MEMBER, PermissionPolicy.OTHER)
    with pytest.raises(ChangeRefused, match="names the metadata field"):
        permissions_after(ctx, ALICE, PermissionUpdateType.UPDATE_METADATA, PermissionPolicy.ALLOW)


def test_member_and_metadata_changes_are_checked_against_the_policies() -> None:
    admin_only = context(ADMIN_ONLY_POLICIES)
    with pytest.raises(ChangeRefused, match="add members"):
        may_change_members(admin_only, BOB, add=[CAROL])
    with pytest.raises(ChangeRefused, match="remove members"):
        may_change_members(context(), BOB, remove=[CAROL])
    with pytest.raises(ChangeRefused, match="super admin cannot be removed"):
        may_change_members(context(), ALICE, remove=[ALICE])
    may_change_members(context(), BOB, add=[CAROL])
    with pytest.raises(ChangeRefused, match="group_name"):
        may_change_metadata(admin_only, BOB, {"group_name": "x"})
    may_change_metadata(admin_only, BOB, {"group_name": ""})  # unchanged: nothing to check
    with pytest.raises(ChangeRefused, match="message_disappear_in_ns"):
        may_change_metadata(context(), BOB, {"message_disappear_in_ns": "5"})
    may_change_metadata(context(), BOB, {"description": "open to all"})
