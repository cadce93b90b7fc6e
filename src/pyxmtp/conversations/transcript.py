"""The "group updated" entries of a conversation's transcript (``xmtp.org/group_updated:1.0``, local only).

libxmtp shows every commit that changes what members see (who joined or left, a new name, new admins) as a
message of this content type, made by each member from the commit itself and never sent. :func:`group_updated`
compares the XMTP context before and after a commit and builds that entry, or returns None for a commit that
changes none of it (a key update).
"""

from __future__ import annotations

from .content import GroupUpdated, GroupUpdatedCodec
from .group_context import ConversationContext


def group_updated(old: ConversationContext, new: ConversationContext, initiator: str) -> bytes | None:
    """The EncodedContent bytes of the entry for a commit by ``initiator`` (an inbox id) that took the group from
    ``old`` to ``new``; None if nothing a member sees changed."""
    before, after = set(old.membership.members), set(new.membership.members)
    old_attrs, new_attrs = old.mutable.attributes, new.mutable.attributes
    changes = tuple(
        (name, old_attrs.get(name), new_attrs.get(name))
        for name in sorted(set(old_attrs) | set(new_attrs))
        # internal fields (the commit-log signer) are not shown
        if not name.startswith("_") and old_attrs.get(name) != new_attrs.get(name)
    )
    update = GroupUpdated(
        initiator,
        added_inboxes=tuple(sorted(after - before)),
        removed_inboxes=tuple(sorted(before - after)),
        metadata_changes=changes,
        admins_added=tuple(sorted(set(new.mutable.admins) - set(old.mutable.admins))),
        admins_removed=tuple(sorted(set(old.mutable.admins) - set(new.mutable.admins))),
        super_admins_added=tuple(sorted(set(new.mutable.super_admins) - set(old.mutable.super_admins))),
        super_admins_removed=tuple(sorted(set(old.mutable.super_admins) - set(new.mutable.super_admins))),
    )
    if update == GroupUpdated(initiator):
        return None
    return GroupUpdatedCodec().encode(update).to_bytes()
