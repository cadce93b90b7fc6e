"""A direct-message conversation between two inboxes (node-sdk's ``Dm``)."""

from __future__ import annotations

from pyxmtp.conversations.group_context import ConversationType

from .conversation import Conversation


class Dm(Conversation):
    """A DM (see :class:`~.conversation.Conversation` for what every conversation does)."""

    @property
    def peer_inbox_id(self) -> str:
        """The other member's inbox id."""
        peer = self._core.dm_peer
        assert peer is not None  # a DM's metadata names both members, us among them (checked when joined)
        return peer

    def duplicate_dms(self) -> list[Dm]:
        """The other DMs with the same peer (two inboxes may end up with several MLS groups, e.g. each created
        one before seeing the other's), oldest first."""
        out = []
        for session in self._hub.sessions.all():
            if (
                session is not self._session
                and session.conversation_type is ConversationType.DM
                and session.core.dm_peer == self.peer_inbox_id
            ):
                handle = self._hub.handle(session)
                assert isinstance(handle, Dm)
                out.append(handle)
        return out
