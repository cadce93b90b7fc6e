"""The "group updated" entries of a conversation's transcript (``xmtp.org/group_updated:1.0``, local only).

libxmtp shows every commit that changes what members see (who joined or left, a new name, new admins) as a
message of this content type, made by each member from the commit itself and never sent. :func:`group_updated`
compares the XMTP context before and after a commit and builds that entry, or returns None for a commit that
changes none of it (a key update).
"""

from __future__ import annotations

from pyxmtp.proto.mls.message_contents import transcript_messages_pb2

from .content import ContentTypeId, EncodedContent
from .group_context import ConversationContext

GROUP_UPDATED = ContentTypeId("xmtp.org", "group_updated", 1, 0)

_Inbox = transcript_messages_pb2.GroupUpdated.Inbox
_Change = transcript_messages_pb2.GroupUpdated.MetadataFieldChange


def _inboxes(ids: set[str]) -> list[transcript_messages_pb2.GroupUpdated.Inbox]:
    return [_Inbox(inbox_id=i) for i in sorted(ids)]


def group_updated(old: ConversationContext, new: ConversationContext, initiator: str) -> bytes | None:
    """The EncodedContent bytes of the entry for a commit by ``initiator`` (an inbox id) that took the group from
    ``old`` to ``new``; None if nothing a member sees changed."""
    before, after = set(old.membership.members), set(new.membership.members)
    update = transcript_messages_pb2.GroupUpdated(
        initiated_by_inbox_id=initiator,
        added_inboxes=_inboxes(after - before),
        removed_inboxes=_inboxes(before - after),
        added_admin_inboxes=_inboxes(set(new.mutable.admins) - set(old.mutable.admins)),
        removed_admin_inboxes=_inboxes(set(old.mutable.admins) - set(new.mutable.admins)),
        added_super_admin_inboxes=_inboxes(set(new.mutable.super_admins) - set(old.mutable.super_admins)),
        removed_super_admin_inboxes=_inboxes(set(old.mutable.super_admins) - set(new.mutable.super_admins)),
    )
    old_attrs, new_attrs = old.mutable.attributes, new.mutable.attributes
    for name in sorted(set(old_attrs) | set(new_attrs)):
        if name.startswith("_") or old_attrs.get(name) == new_attrs.get(name):
            continue  # internal fields (the commit-log signer) are not shown
        change = _Change(field_name=name)
        if name in old_attrs:
            change.old_value = old_attrs[name]
        if name in new_attrs:
            change.new_value = new_attrs[name]
        update.metadata_field_changes.append(change)
    if update == transcript_messages_pb2.GroupUpdated(initiated_by_inbox_id=initiator):
        return None
    return EncodedContent(GROUP_UPDATED, content=update.SerializeToString(deterministic=True)).to_bytes()
