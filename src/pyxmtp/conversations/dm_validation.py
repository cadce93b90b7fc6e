"""What a Welcome into a DM must be before we join it (libxmtp's ``validate_dm_group``, held more strictly).

A DM is found by its metadata ("a DM between X and Y"), which whoever builds the group writes. So before a DM
is trusted, :func:`check_dm_welcome` holds it to what a DM is:

``dm_members``
    the immutable metadata names two different inboxes, one of them ours;
``added_by``
    the other one is the inbox that added us (the verified signer of the Welcome's GroupInfo), unless one of
    our own installations added us (then the other is our peer);
``members``
    the group's membership lists exactly those two inboxes (the tree was already held against it, so every
    leaf is an installation of one of them); only when one of our installations added us may the peer be
    missing still (a DM its creator's installations share before the peer is in: the peer may always be
    added to its DM later);
``admins``
    the admin and super-admin lists are empty;
``permissions``
    nobody may add or remove members, add or remove admins, or change the permissions (the DM preset's
    membership and permission policies; metadata policies are not looked at, as libxmtp).

libxmtp checks the first, second, fourth and fifth (its permission check only fails if all five policies
differ); the membership and each policy are checked here too, so that a stranger's group that claims to be our
DM with Bob, or a DM whose other side may add an eavesdropper, is refused. A broken rule raises
:class:`DmValidationError` naming it.
"""

from __future__ import annotations

from pyxmtp.mls.errors import ValidationError

from .group_context import ConversationContext, ConversationType
from .new_group import DM_POLICIES

#: The policies of the DM preset a DM must carry (the metadata policies are free).
_FIXED_POLICIES = (
    "add_member_policy",
    "remove_member_policy",
    "add_admin_policy",
    "remove_admin_policy",
    "update_permissions_policy",
)


class DmValidationError(ValidationError):
    """A Welcome's group claims to be a DM but breaks the rule :attr:`rule` (see the module docstring)."""

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        super().__init__(f"not a valid DM: {rule}: {reason}")


def check_dm_welcome(context: ConversationContext, own_inbox_id: str, added_by_inbox_id: str) -> None:
    """Raise :class:`DmValidationError` unless the group of ``context``, which we are joining, added by
    ``added_by_inbox_id``, is a DM between us (``own_inbox_id``) and the one who added us."""
    metadata = context.metadata
    if metadata.conversation_type is not ConversationType.DM or metadata.dm_members is None:
        raise DmValidationError("dm_members", "the metadata does not name the DM's two members")
    one, two = metadata.dm_members
    if one == two:
        raise DmValidationError("dm_members", f"both members are {one}")
    peer = metadata.dm_peer(own_inbox_id)
    if peer is None:
        raise DmValidationError("dm_members", f"a DM between {one} and {two}, neither of them us")
    if added_by_inbox_id not in (own_inbox_id, peer):
        raise DmValidationError(
            "added_by", f"a DM with {peer}, but {added_by_inbox_id} added us (only its members can)"
        )
    members = set(context.membership.members)
    allowed = [{own_inbox_id, peer}] if added_by_inbox_id == peer else [{own_inbox_id, peer}, {own_inbox_id}]
    if members not in allowed:
        listed = ", ".join(sorted(members)) or "nobody"
        raise DmValidationError("members", f"a DM of us and {peer} lists as members: {listed}")
    mutable = context.mutable
    if mutable.admins or mutable.super_admins:
        raise DmValidationError(
            "admins",
            f"a DM has no admins, this one has {len(mutable.admins)} and {len(mutable.super_admins)} super admins",
        )
    policies = context.permissions.policies
    for name in _FIXED_POLICIES:
        if getattr(policies, name) != getattr(DM_POLICIES, name):
            raise DmValidationError("permissions", f"its {name} is not the DM preset's (deny)")
