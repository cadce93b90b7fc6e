"""A conversation restored from an archive (:mod:`.archive`): :class:`RestoredConversation`.

libxmtp 1.10 imports a group it holds no MLS state for as a stub in state ``Restored``: listed, its messages
readable, but it cannot send or sync until a real welcome for the same group id replaces it. The same here: a
restored conversation has the read side of :class:`~.conversation.Conversation` (id, kind, name, consent,
``messages``, ``count_messages``, ``last_message``, ``texts``) and raises
:class:`~.errors.ConversationRestored` (an :class:`~.errors.InactiveConversation`) from every call that would
need the group's keys (``send*``, ``sync``, ``members``, metadata changes). When a welcome for its id arrives,
the live conversation takes its place (``conversations.get_conversation_by_id``) with the imported messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from pyxmtp.conversations.group_context import ConversationType

from .conversation import DisappearingSettings, MessageHistory
from .errors import ConversationRestored
from .messages import DecodedMessage
from .store_archive import RestoredRecord

if TYPE_CHECKING:
    from .context import ClientContext
    from .hub import ConversationHub


class RestoredConversation(MessageHistory):
    """A group or DM known from an archive only (see the module docstring)."""

    def __init__(self, hub: ConversationHub, record: RestoredRecord) -> None:
        self._hub = hub
        self._record = record

    @property
    def _ctx(self) -> ClientContext:
        return self._hub.ctx

    # --- what it is ---------------------------------------------------------------------------------------
    @property
    def group_id(self) -> bytes:
        return self._record.group_id

    @property
    def id(self) -> str:
        return self._record.group_id.hex()

    @property
    def conversation_type(self) -> ConversationType:
        return ConversationType.DM if self._record.conversation_type == 2 else ConversationType.GROUP

    @property
    def is_active(self) -> bool:
        """Always false: nothing can be sent until a welcome brings the group."""
        return False

    @property
    def is_restored(self) -> bool:
        return True

    @property
    def created_at_ns(self) -> int:
        """When the archived installation created or joined it."""
        return self._record.created_ns

    @property
    def imported_at_ns(self) -> int:
        return self._record.imported_ns

    @property
    def creator_inbox_id(self) -> str:
        return self._record.creator_inbox_id

    @property
    def added_by_inbox_id(self) -> str:
        return self._record.added_by

    @property
    def name(self) -> str:
        return self._record.attributes.get("group_name", "")

    @property
    def description(self) -> str:
        return self._record.attributes.get("description", "")

    @property
    def image_url(self) -> str:
        return self._record.attributes.get("group_image_url_square", "")

    @property
    def app_data(self) -> str:
        return self._record.attributes.get("app_data", "")

    @property
    def dm_id(self) -> str | None:
        return self._record.dm_id

    @property
    def peer_inbox_id(self) -> str | None:
        """A DM's other inbox (from its ``dm_id``); None for a group."""
        if self._record.dm_id is None:
            return None
        _, one, two = self._record.dm_id.split(":")
        own = self._ctx.inbox_id.lower()
        return two if one == own else one

    def __repr__(self) -> str:
        return f"<RestoredConversation {self.id} {self.conversation_type.name.lower()}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RestoredConversation) and other.group_id == self.group_id

    def __hash__(self) -> int:
        return hash(self.group_id)

    # --- reading ------------------------------------------------------------------------------------------
    def message_disappearing_settings(self) -> DisappearingSettings | None:
        start, duration = self._record.disappear_from_ns, self._record.disappear_in_ns
        if not start or not duration:
            return None
        return DisappearingSettings(start, duration)

    # --- what needs the group's keys ----------------------------------------------------------------------
    def _read_only(self) -> NoReturn:
        raise ConversationRestored(
            f"conversation {self.id} was restored from an archive: it is read-only until a welcome brings it "
            "(another member or installation adds this one)"
        )

    async def sync(self) -> list[DecodedMessage]:
        self._read_only()

    async def send(self, content: object, **_: object) -> bytes:
        self._read_only()

    async def send_text(self, text: str, **_: object) -> bytes:
        self._read_only()

    async def members(self) -> list[object]:
        self._read_only()

    def member_inbox_ids(self) -> list[str]:
        self._read_only()

    async def update_name(self, name: str) -> None:
        self._read_only()
