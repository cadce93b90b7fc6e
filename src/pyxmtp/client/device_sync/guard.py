"""Who may put us in a device-sync group: only our own inbox (stricter than libxmtp 1.10, which does not check).

A sync group carries consent, HMAC keys and archive keys between an inbox's installations; a group of that type
made or joined through anyone else is a way to feed us forged preferences or archives, so its welcome is
refused: the creator, the installation that added us and every member must be our inbox.
"""

from __future__ import annotations

from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.mls.errors import RemoteMLSError


class ForeignSyncGroup(RemoteMLSError):
    """A welcome into a device-sync group that is not our inbox's alone (another creator, adder or member)."""


def check_sync_welcome(core: CoreConversation, own_inbox_id: str) -> None:
    """:class:`ForeignSyncGroup` if ``core`` (just joined from a welcome) is a sync group that any inbox but
    ``own_inbox_id`` made, added us to or is a member of; nothing for other conversation types."""
    if core.conversation_type is not ConversationType.SYNC:
        return
    creator = core.context.metadata.creator_inbox_id
    adder = core.added_by.inbox_id if core.added_by is not None else None
    others = sorted(set(core.member_inbox_ids()) - {own_inbox_id})
    if creator != own_inbox_id or adder != own_inbox_id or others:
        raise ForeignSyncGroup(
            f"sync group {core.group_id.hex()} is not our inbox's alone (creator {creator}, added by {adder}, "
            f"other members {others}): refused"
        )
