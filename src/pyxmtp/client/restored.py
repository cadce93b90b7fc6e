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

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from pyxmtp.conversations.group_context import ConversationType

from . import consent
from .consent import ConsentState
from .content_fields import MessageKind
from .conversation import ContentTypeFilter, Conversation, DisappearingSettings
from .errors import ConversationRestored
from .messages import DecodedMessage, SortDirection
from .records import DeliveryStatus
from .store_archive import RestoredRecord

if TYPE_CHECKING:
    from .hub import ConversationHub


class RestoredConversation:
    """A group or DM known from an archive only (see the module docstring)."""

    def __init__(self, hub: ConversationHub, record: RestoredRecord) -> None:
        self._hub = hub
        self._record = record

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
    def created_at(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.created_at_ns / 1e9, tz=datetime.UTC)

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
        own = self._hub.ctx.inbox_id.lower()
        return two if one == own else one

    def __repr__(self) -> str:
        return f"<RestoredConversation {self.id} {self.conversation_type.name.lower()}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RestoredConversation) and other.group_id == self.group_id

    def __hash__(self) -> int:
        return hash(self.group_id)

    # --- consent ------------------------------------------------------------------------------------------
    def consent_state(self) -> ConsentState:
        return consent.conversation_state(self._hub.ctx, self.group_id)

    def update_consent_state(self, state: ConsentState) -> None:
        consent.set_conversation_state(self._hub.ctx, self.group_id, ConsentState(state))

    # --- reading ------------------------------------------------------------------------------------------
    def message_disappearing_settings(self) -> DisappearingSettings | None:
        start, duration = self._record.disappear_from_ns, self._record.disappear_in_ns
        if not start or not duration:
            return None
        return DisappearingSettings(start, duration)

    def delete_disappeared(self) -> int:
        """Delete the messages whose disappearing time is up (as a live conversation does)."""
        setting = self.message_disappearing_settings()
        if setting is None:
            return 0
        ctx = self._hub.ctx
        with ctx.store.transaction():
            end = ctx.clock_ns() - setting.in_ns + 1
            return ctx.store.delete_messages_sent_between(self.group_id, setting.from_ns, end)

    def messages(
        self,
        *,
        limit: int | None = None,
        direction: SortDirection = SortDirection.ASCENDING,
        sent_before_ns: int | None = None,
        sent_after_ns: int | None = None,
        inserted_before_ns: int | None = None,
        inserted_after_ns: int | None = None,
        content_types: Sequence[ContentTypeFilter] | None = None,
        exclude_content_types: Sequence[ContentTypeFilter] | None = None,
        kind: MessageKind | None = None,
        delivery_status: DeliveryStatus | None = None,
        exclude_sender_inbox_ids: Sequence[str] = (),
    ) -> list[DecodedMessage]:
        """The imported messages, as :meth:`.conversation.Conversation.messages` lists a live one's."""
        self.delete_disappeared()
        query = Conversation._query(
            sent_before_ns=sent_before_ns,
            sent_after_ns=sent_after_ns,
            inserted_before_ns=inserted_before_ns,
            inserted_after_ns=inserted_after_ns,
            content_types=content_types,
            exclude_content_types=exclude_content_types,
            kind=kind,
            delivery_status=delivery_status,
            exclude_sender_inbox_ids=exclude_sender_inbox_ids,
            direction=direction,
            limit=limit,
        )
        return self._hub.decoder.enriched(self._hub.ctx.store.query_messages(self.group_id, query))

    def count_messages(
        self,
        *,
        sent_before_ns: int | None = None,
        sent_after_ns: int | None = None,
        content_types: Sequence[ContentTypeFilter] | None = None,
        exclude_content_types: Sequence[ContentTypeFilter] | None = None,
        kind: MessageKind | None = None,
    ) -> int:
        self.delete_disappeared()
        query = Conversation._query(
            sent_before_ns=sent_before_ns,
            sent_after_ns=sent_after_ns,
            inserted_before_ns=None,
            inserted_after_ns=None,
            content_types=content_types,
            exclude_content_types=exclude_content_types,
            kind=kind,
            delivery_status=None,
            exclude_sender_inbox_ids=(),
        )
        return self._hub.ctx.store.count_messages(self.group_id, query)

    def last_message(self) -> DecodedMessage | None:
        found = self.messages(limit=1, direction=SortDirection.DESCENDING)
        return found[0] if found else None

    def texts(self) -> list[str]:
        """The text messages only, in order."""
        return [str(m.content) for m in self.messages() if isinstance(m.content, str)]

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
