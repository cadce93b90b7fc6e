"""Our own admin-list and permission changes, checked before they are made (libxmtp's ``UpdateAdminLists`` and
``UpdatePermission`` intents), and a readable view of a group's policy set (node-sdk's ``permissions()``), sans-IO.

A change is computed from the group's current context: :func:`admin_lists_after` gives the new admin lists,
:func:`permissions_after` the new policy set. Each first checks that we may make it, with the same rules the
receivers apply (:mod:`.commit_validation` through :mod:`.permissions`), and raises :class:`ChangeRefused` (misuse
by the caller: nothing is committed) if not. The commit itself is
:meth:`~.conversation.Conversation.commit_admin_lists` / :meth:`~.conversation.Conversation.commit_permissions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum

from pyxmtp.mls.errors import LocalMLSError
from pyxmtp.proto.mls.message_contents import group_permissions_pb2

from .group_context import ConversationContext, ConversationType
from .new_group import ADMIN_ONLY_POLICIES, DEFAULT_POLICIES
from .permissions import Actor, CommitValidationError, check_metadata_policy, evaluate_policy


class ChangeRefused(LocalMLSError):
    """A change to a group that its rules (or what the group is) do not let us make; nothing was committed."""


class AdminListUpdate(Enum):
    """Which admin list changes, and how (libxmtp's ``UpdateAdminListType``)."""

    ADD_ADMIN = "add_admin"
    REMOVE_ADMIN = "remove_admin"
    ADD_SUPER_ADMIN = "add_super_admin"
    REMOVE_SUPER_ADMIN = "remove_super_admin"


class PermissionUpdateType(Enum):
    """The policy :func:`permissions_after` replaces (node-sdk's ``PermissionUpdateType``)."""

    ADD_MEMBER = "add_member"
    REMOVE_MEMBER = "remove_member"
    ADD_ADMIN = "add_admin"
    REMOVE_ADMIN = "remove_admin"
    UPDATE_METADATA = "update_metadata"


class PermissionPolicy(Enum):
    """One policy, as node-sdk shows it: a base rule, ``DOES_NOT_EXIST`` (a metadata field without a policy) or
    ``OTHER`` (a combination of rules)."""

    ALLOW = "allow"
    DENY = "deny"
    ADMIN = "admin"
    SUPER_ADMIN = "super_admin"
    DOES_NOT_EXIST = "does_not_exist"
    OTHER = "other"


class GroupPermissionsOptions(IntEnum):
    """Which preset a policy set is (node-sdk's ``GroupPermissionsOptions``): libxmtp's default, admins only, or
    neither."""

    DEFAULT = 0
    ADMIN_ONLY = 1
    CUSTOM_POLICY = 2


@dataclass(frozen=True, slots=True)
class PermissionPolicySet:
    """Who may do what in a group (node-sdk's ``PermissionPolicySet``)."""

    add_member_policy: PermissionPolicy
    remove_member_policy: PermissionPolicy
    add_admin_policy: PermissionPolicy
    remove_admin_policy: PermissionPolicy
    update_group_name_policy: PermissionPolicy
    update_group_description_policy: PermissionPolicy
    update_group_image_url_square_policy: PermissionPolicy
    update_message_disappearing_policy: PermissionPolicy
    update_app_data_policy: PermissionPolicy


@dataclass(frozen=True, slots=True)
class GroupPermissions:
    """A group's permissions (node-sdk's ``permissions()``): the preset it matches and each action's policy."""

    policy_type: GroupPermissionsOptions
    policy_set: PermissionPolicySet


# --- reading the policy set ----------------------------------------------------------------------------------
_Policy = (
    group_permissions_pb2.MembershipPolicy
    | group_permissions_pb2.MetadataPolicy
    | group_permissions_pb2.PermissionsUpdatePolicy
)
#: base values of MembershipPolicy and MetadataPolicy; PermissionsUpdatePolicy's differ (1 deny, 2 admin, 3 super)
_MEMBERSHIP_NAMES: Mapping[int, PermissionPolicy] = {
    1: PermissionPolicy.ALLOW,
    2: PermissionPolicy.DENY,
    3: PermissionPolicy.ADMIN,
    4: PermissionPolicy.SUPER_ADMIN,
}
_PERMISSIONS_NAMES: Mapping[int, PermissionPolicy] = {
    1: PermissionPolicy.DENY,
    2: PermissionPolicy.ADMIN,
    3: PermissionPolicy.SUPER_ADMIN,
}


def _name(policy: _Policy) -> PermissionPolicy:
    if policy.WhichOneof("kind") != "base":
        return PermissionPolicy.OTHER
    names = (
        _PERMISSIONS_NAMES
        if isinstance(policy, group_permissions_pb2.PermissionsUpdatePolicy)
        else _MEMBERSHIP_NAMES
    )
    return names.get(policy.base, PermissionPolicy.OTHER)


def _metadata(policies: group_permissions_pb2.PolicySet, field: str) -> PermissionPolicy:
    if field not in policies.update_metadata_policy:
        return PermissionPolicy.DOES_NOT_EXIST
    return _name(policies.update_metadata_policy[field])


def _is_preset(policies: group_permissions_pb2.PolicySet, preset: group_permissions_pb2.PolicySet) -> bool:
    """As libxmtp compares: the five fixed policies equal the preset's, and every metadata policy present equals
    the preset's for that field (a group made by an older libxmtp may lack some fields; a field the preset does
    not name must be what the preset gives to ordinary fields)."""
    singles = (
        "add_member_policy",
        "remove_member_policy",
        "add_admin_policy",
        "remove_admin_policy",
        "update_permissions_policy",
    )
    if any(getattr(policies, name) != getattr(preset, name) for name in singles):
        return False
    ordinary = preset.update_metadata_policy["group_name"]
    return all(
        policy == preset.update_metadata_policy.get(field, ordinary)
        for field, policy in policies.update_metadata_policy.items()
    )


def group_permissions(permissions: group_permissions_pb2.GroupMutablePermissionsV1) -> GroupPermissions:
    """The readable view of a group's permissions extension."""
    ps = permissions.policies
    if _is_preset(ps, DEFAULT_POLICIES):
        kind = GroupPermissionsOptions.DEFAULT
    elif _is_preset(ps, ADMIN_ONLY_POLICIES):
        kind = GroupPermissionsOptions.ADMIN_ONLY
    else:
        kind = GroupPermissionsOptions.CUSTOM_POLICY
    return GroupPermissions(
        kind,
        PermissionPolicySet(
            add_member_policy=_name(ps.add_member_policy),
            remove_member_policy=_name(ps.remove_member_policy),
            add_admin_policy=_name(ps.add_admin_policy),
            remove_admin_policy=_name(ps.remove_admin_policy),
            update_group_name_policy=_metadata(ps, "group_name"),
            update_group_description_policy=_metadata(ps, "description"),
            update_group_image_url_square_policy=_metadata(ps, "group_image_url_square"),
            update_message_disappearing_policy=_metadata(ps, "message_disappear_in_ns"),
            update_app_data_policy=_metadata(ps, "app_data"),
        ),
    )


# --- our own changes -----------------------------------------------------------------------------------------
def _actor(context: ConversationContext, inbox_id: str) -> Actor:
    mutable = context.mutable
    return Actor(inbox_id, inbox_id in mutable.admins, inbox_id in mutable.super_admins)


def _check_group(context: ConversationContext) -> None:
    if context.metadata.conversation_type is not ConversationType.GROUP:
        raise ChangeRefused("this is a DM: it has no admins or permissions to change")


def admin_lists_after(
    context: ConversationContext, own_inbox_id: str, update: AdminListUpdate, inbox_id: str
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The admin and super-admin lists after ``update`` of ``inbox_id`` by us, None if they would not change
    (added already, or not on the list); :class:`ChangeRefused` if the inbox is not a member, or the group's
    rules do not let us (as the receivers judge: :func:`~.commit_validation.validate_commit`)."""
    _check_group(context)
    if inbox_id not in context.membership.members:
        raise ChangeRefused(f"not members of this group: {inbox_id}")
    admins, supers = list(context.mutable.admins), list(context.mutable.super_admins)
    if update is AdminListUpdate.ADD_ADMIN:
        target, adding = admins, True
    elif update is AdminListUpdate.REMOVE_ADMIN:
        target, adding = admins, False
    elif update is AdminListUpdate.ADD_SUPER_ADMIN:
        target, adding = supers, True
    else:
        target, adding = supers, False
    if adding == (inbox_id in target):
        return None
    actor = _actor(context, own_inbox_id)
    policies = context.permissions.policies
    if target is supers:
        if not actor.is_super_admin:
            raise ChangeRefused("only a super admin may change the super-admin list")
    else:
        policy = policies.add_admin_policy if adding else policies.remove_admin_policy
        if not evaluate_policy(policy, actor):
            verb = "make admins" if adding else "remove admins"
            raise ChangeRefused(
                f"the group's rules do not let {own_inbox_id} {verb} ({_name(policy).value} only)"
            )
    if adding:
        target.append(inbox_id)
    else:
        target.remove(inbox_id)
    if not supers:
        raise ChangeRefused("the last super admin cannot be removed")
    return tuple(admins), tuple(supers)


#: The base values a policy option has in each kind of policy (PermissionsUpdatePolicy has no "allow").
_MEMBERSHIP_BASE: Mapping[PermissionPolicy, int] = {
    policy: base for base, policy in _MEMBERSHIP_NAMES.items()
}
_PERMISSIONS_BASE: Mapping[PermissionPolicy, int] = {
    policy: base for base, policy in _PERMISSIONS_NAMES.items()
}


def permissions_after(
    context: ConversationContext,
    own_inbox_id: str,
    update_type: PermissionUpdateType,
    policy: PermissionPolicy,
    metadata_field: str | None = None,
) -> group_permissions_pb2.GroupMutablePermissionsV1:
    """The permissions extension with one policy replaced (libxmtp's ``build_extensions_for_permissions_update``);
    :class:`ChangeRefused` if we are not a super admin (receivers refuse any permissions change by anyone else),
    the policy cannot be set (``DOES_NOT_EXIST`` / ``OTHER``, or ``ALLOW`` for an admin-list policy), or a metadata
    update names no field.

    Decision: libxmtp quietly turns ``ALLOW`` for an admin-list policy into super-admin-only; we refuse it."""
    _check_group(context)
    if not _actor(context, own_inbox_id).is_super_admin:
        raise ChangeRefused("only a super admin may change the group's permissions")
    new = group_permissions_pb2.GroupMutablePermissionsV1()
    new.CopyFrom(context.permissions)
    ps = new.policies
    if update_type in (PermissionUpdateType.ADD_ADMIN, PermissionUpdateType.REMOVE_ADMIN):
        base = _PERMISSIONS_BASE.get(policy)
        if base is None:
            raise ChangeRefused(f"an admin-list policy cannot be {policy.value}")
        field = (
            ps.add_admin_policy if update_type is PermissionUpdateType.ADD_ADMIN else ps.remove_admin_policy
        )
        field.Clear()
        field.base = base  # type: ignore[assignment]
        return new
    base = _MEMBERSHIP_BASE.get(policy)
    if base is None:
        raise ChangeRefused(f"a policy cannot be set to {policy.value}")
    if update_type is PermissionUpdateType.UPDATE_METADATA:
        if not metadata_field:
            raise ChangeRefused("a metadata permission update names the metadata field")
        ps.update_metadata_policy[metadata_field].Clear()
        ps.update_metadata_policy[metadata_field].base = base  # type: ignore[assignment]
        return new
    membership = (
        ps.add_member_policy if update_type is PermissionUpdateType.ADD_MEMBER else ps.remove_member_policy
    )
    membership.Clear()
    membership.base = base  # type: ignore[assignment]
    return new


def may_change_metadata(
    context: ConversationContext, own_inbox_id: str, attributes: Mapping[str, str]
) -> None:
    """:class:`ChangeRefused` unless the group's metadata policies let us change these attributes (those whose
    value would change)."""
    actor = _actor(context, own_inbox_id)
    for name, value in attributes.items():
        if context.mutable.attributes.get(name) == value:
            continue
        try:
            check_metadata_policy(context.permissions.policies, name, actor)
        except CommitValidationError as exc:
            raise ChangeRefused(f"the group's rules do not let us change it: {exc.detail}") from None


def may_change_members(
    context: ConversationContext, own_inbox_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> None:
    """:class:`ChangeRefused` unless the group's membership policies let us add and remove these inboxes (a
    super admin is never removed), as the receivers judge."""
    actor = _actor(context, own_inbox_id)
    policies = context.permissions.policies
    if context.metadata.conversation_type is ConversationType.DM and (add or remove):
        raise ChangeRefused("this is a DM: its two members cannot change")
    if add and not evaluate_policy(policies.add_member_policy, actor):
        raise ChangeRefused(
            f"the group's rules do not let {own_inbox_id} add members ({_name(policies.add_member_policy).value} only)"
        )
    if remove:
        supers = [i for i in remove if i in context.mutable.super_admins]
        if supers:
            raise ChangeRefused(f"a super admin cannot be removed: {', '.join(supers)}")
        if not evaluate_policy(policies.remove_member_policy, actor):
            raise ChangeRefused(
                f"the group's rules do not let {own_inbox_id} remove members "
                f"({_name(policies.remove_member_policy).value} only)"
            )
