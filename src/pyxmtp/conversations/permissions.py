"""XMTP group permissions: who may do what (libxmtp's ``group_permissions.rs``), and the rule a commit broke.

A :class:`~pyxmtp.proto.mls.message_contents.group_permissions_pb2.PolicySet` holds one policy per kind of
change; each policy is a base rule (allow, deny, admin, super admin), or all / any of nested policies.
:func:`evaluate_policy` tells whether an :class:`Actor` (an inbox and its roles before the commit) passes one.
:class:`CommitValidationError` and :class:`Rule` are what :mod:`.commit_validation` raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pyxmtp.mls.errors import ValidationError
from pyxmtp.proto.mls.message_contents import group_permissions_pb2

#: A metadata field without a policy whose name starts with this is super-admin-only (libxmtp's
#: ``SUPER_ADMIN_METADATA_PREFIX``); other fields without a policy are admin-only.
SUPER_ADMIN_METADATA_PREFIX = "_"


class Rule(StrEnum):
    """The rule a commit broke (``CommitValidationError.rule``)."""

    SENDER = "sender"
    PSK = "psk"
    REINIT = "reinit"
    IMMUTABLE_METADATA = "immutable_metadata"
    POLICY_SET = "policy_set"
    METADATA_LENGTH = "metadata_length"
    SEQUENCE_ID = "sequence_id"
    UNEXPECTED_ADD = "unexpected_add"
    REMOVALS = "removals"
    ADDED_LEAF = "added_leaf"
    CREDENTIAL_CHANGE = "credential_change"
    INSTALLATION = "installation"
    ADD_MEMBER = "add_member"
    REMOVE_MEMBER = "remove_member"
    REMOVE_SUPER_ADMIN = "remove_super_admin"
    METADATA = "metadata"
    ADD_ADMIN = "add_admin"
    REMOVE_ADMIN = "remove_admin"
    SUPER_ADMINS = "super_admins"
    LAST_SUPER_ADMIN = "last_super_admin"
    PERMISSIONS = "permissions"


class CommitValidationError(ValidationError):
    """A commit breaks one of XMTP's rules; ``rule`` says which (the message starts with it)."""

    def __init__(self, rule: Rule, detail: str) -> None:
        self.rule = rule
        self.detail = detail
        super().__init__(f"{rule.value}: {detail}")


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone who committed or proposed: the inbox and its roles in the group before the commit."""

    inbox_id: str
    is_admin: bool
    is_super_admin: bool


# --- policies (libxmtp's group_permissions.rs) -----------------------------------------------------------------
_Policy = (
    group_permissions_pb2.MembershipPolicy
    | group_permissions_pb2.MetadataPolicy
    | group_permissions_pb2.PermissionsUpdatePolicy
)
_Base = Callable[[Actor], bool]


def _allow(actor: Actor) -> bool:
    return True


def _deny(actor: Actor) -> bool:
    return False


def is_admin(actor: Actor) -> bool:
    return actor.is_admin or actor.is_super_admin


def _super_admin(actor: Actor) -> bool:
    return actor.is_super_admin


#: Base policy values: MembershipPolicy and MetadataPolicy share 1 allow, 2 deny, 3 admin, 4 super admin;
#: PermissionsUpdatePolicy has 1 deny, 2 admin, 3 super admin. 0 (unspecified) is invalid.
_MEMBERSHIP_BASE: Mapping[int, _Base] = {1: _allow, 2: _deny, 3: is_admin, 4: _super_admin}
_METADATA_BASE = _MEMBERSHIP_BASE
_PERMISSIONS_BASE: Mapping[int, _Base] = {1: _deny, 2: is_admin, 3: _super_admin}


def _bases(policy: _Policy) -> Mapping[int, _Base]:
    if isinstance(policy, group_permissions_pb2.PermissionsUpdatePolicy):
        return _PERMISSIONS_BASE
    if isinstance(policy, group_permissions_pb2.MetadataPolicy):
        return _METADATA_BASE
    return _MEMBERSHIP_BASE


def evaluate_policy(policy: _Policy, actor: Actor) -> bool:
    """Whether ``actor`` passes ``policy`` (a base rule, or all of an ``and_condition``, or any of an
    ``any_condition``); :class:`CommitValidationError` (:attr:`Rule.POLICY_SET`) if it is malformed."""
    bases = _bases(policy)
    kind = policy.WhichOneof("kind")
    if kind == "base":
        base = bases.get(policy.base)
        if base is None:
            raise CommitValidationError(Rule.POLICY_SET, f"unknown base policy {policy.base}")
        return base(actor)
    if kind == "and_condition":
        subs: Sequence[_Policy] = list(policy.and_condition.policies)
        if not subs:
            raise CommitValidationError(Rule.POLICY_SET, "an empty and_condition")
        return all(evaluate_policy(sub, actor) for sub in subs)
    if kind == "any_condition":
        subs = list(policy.any_condition.policies)
        if not subs:
            raise CommitValidationError(Rule.POLICY_SET, "an empty any_condition")
        return any(evaluate_policy(sub, actor) for sub in subs)
    raise CommitValidationError(Rule.POLICY_SET, "a policy with no kind")


def _check_well_formed(policy: _Policy, where: str) -> None:
    bases = _bases(policy)
    kind = policy.WhichOneof("kind")
    if kind == "base":
        if policy.base not in bases:
            raise CommitValidationError(Rule.POLICY_SET, f"{where}: unknown base policy {policy.base}")
        return
    if kind is None:
        raise CommitValidationError(Rule.POLICY_SET, f"{where}: a policy with no kind")
    subs: Sequence[_Policy] = list(
        policy.and_condition.policies if kind == "and_condition" else policy.any_condition.policies
    )
    if not subs:
        raise CommitValidationError(Rule.POLICY_SET, f"{where}: an empty {kind}")
    for sub in subs:
        _check_well_formed(sub, where)


def check_policy_set(permissions: group_permissions_pb2.GroupMutablePermissionsV1, whose: str) -> None:
    """Decision: as libxmtp parses it, every policy must be present (an absent one has no kind) and well
    formed."""
    ps = permissions.policies
    singles: tuple[tuple[str, _Policy], ...] = (
        ("add_member_policy", ps.add_member_policy),
        ("remove_member_policy", ps.remove_member_policy),
        ("add_admin_policy", ps.add_admin_policy),
        ("remove_admin_policy", ps.remove_admin_policy),
        ("update_permissions_policy", ps.update_permissions_policy),
    )
    for name, policy in singles:
        _check_well_formed(policy, f"{whose} {name}")
    for field, metadata_policy in ps.update_metadata_policy.items():
        _check_well_formed(metadata_policy, f"{whose} metadata policy for {field!r}")


def check_metadata_policy(policies: group_permissions_pb2.PolicySet, name: str, actor: Actor) -> None:
    if name in policies.update_metadata_policy:
        allowed = evaluate_policy(policies.update_metadata_policy[name], actor)
    elif name.startswith(SUPER_ADMIN_METADATA_PREFIX):
        allowed = actor.is_super_admin
    else:
        allowed = is_admin(actor)
    if not allowed:
        raise CommitValidationError(Rule.METADATA, f"{actor.inbox_id} may not change {name!r}")
