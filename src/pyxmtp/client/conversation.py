"""A conversation of the client (node-sdk's ``Conversation``): :class:`Conversation`, the base of
:class:`~.group.Group` and :class:`~.dm.Dm`.

A conversation is a handle on a :class:`~.session.GroupSession` (every handle of one group shares it, and its
lock: a stream, syncs and sends may run in different tasks). Receiving is :mod:`.receive`, our own messages until
the node has them :mod:`.delivery`, our own commits :mod:`.commits`. Methods that may call the node are
coroutines; those that read the local database are plain methods.

Sending: a message is encrypted for the newest epoch the node has (the conversation syncs first), stored
(unpublished, with its MLS bytes) with the group state that encrypted it, published and read back; if publishing
fails it is kept and published by the next sync (:class:`~.errors.MessageNotPublished`). ``optimistic=True``
only stores it (no call to the node: it shows in :meth:`Conversation.messages` at once, unpublished);
:meth:`Conversation.publish_messages` (or any later sync) publishes it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyxmtp.conversations.content import (
    READ_RECEIPT,
    Actions,
    Attachment,
    ContentDecodeError,
    ContentTypeId,
    EncodedContent,
    Intent,
    Markdown,
    MultiRemoteAttachment,
    Reaction,
    ReadReceipt,
    RemoteAttachment,
    Reply,
    Text,
    TransactionReference,
    WalletSendCalls,
    hmac_epoch,
    sender_hmac_key_for_epoch,
)
from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType

from . import commits, consent, delivery, leave, receive, streams
from .api import ApiCallError
from .consent import ConsentState
from .content_fields import MessageKind
from .context import ClientContext
from .delivery import MAX_CONTENT_BYTES, publish_unpublished, store_outgoing
from .errors import InactiveConversation, MessageNotPublished, MessageTooLarge
from .members import GroupMember, PermissionLevel
from .messages import HIDDEN_CONTENT_TYPES, DecodedMessage, SortDirection
from .records import DeliveryStatus, MessageQuery, MessageRecord, Outgoing
from .session import GroupSession
from .streams import Stream

if TYPE_CHECKING:
    from .hub import ConversationHub

log = logging.getLogger("pyxmtp.client")

#: Before sending, the tree is held against the identity logs if it was not in the last 5 s (as libxmtp).
INSTALLATION_CHECK_INTERVAL_NS = 5 * 10**9

#: A content type filter: a :class:`ContentTypeId` (any version of it) or a type id such as ``"text"``.
ContentTypeFilter = ContentTypeId | str


@dataclass(frozen=True, slots=True)
class DisappearingSettings:
    """Messages sent from ``from_ns`` on are deleted ``in_ns`` after they were sent."""

    from_ns: int
    in_ns: int


@dataclass(frozen=True, slots=True)
class ConversationMetadata:
    creator_inbox_id: str
    conversation_type: ConversationType


@dataclass(frozen=True, slots=True)
class HmacKey:
    """A sender-HMAC key of a conversation for one HMAC epoch (30 days), for push-notification servers."""

    key: bytes
    epoch: int


def _type_pair(content_type: ContentTypeFilter) -> tuple[str, str]:
    if isinstance(content_type, ContentTypeId):
        return (content_type.authority_id, content_type.type_id)
    return ("xmtp.org", content_type)


class Conversation:
    """One conversation (see the module docstring)."""

    def __init__(self, hub: ConversationHub, session: GroupSession) -> None:
        self._hub = hub
        self._session = session

    # --- what it is ---------------------------------------------------------------------------------------
    @property
    def _ctx(self) -> ClientContext:
        return self._session.ctx

    @property
    def _core(self) -> CoreConversation:
        return self._session.core

    @property
    def group_id(self) -> bytes:
        return self._session.group_id

    @property
    def id(self) -> str:
        """The conversation id in hex (node-sdk's ``id``)."""
        return self._session.group_id.hex()

    @property
    def topic(self) -> str:
        return f"/xmtp/mls/1/g-{self.id}/proto"

    @property
    def conversation_type(self) -> ConversationType:
        return self._session.conversation_type

    @property
    def is_active(self) -> bool:
        """False once a commit removed us: nothing more can be read or sent."""
        return self._session.is_active

    @property
    def added_by_inbox_id(self) -> str:
        """The inbox that added us (ours, for a conversation we created)."""
        return self._session.added_by

    @property
    def created_at_ns(self) -> int:
        """When this installation created or joined the conversation."""
        return self._session.created_ns

    @property
    def created_at(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.created_at_ns / 1e9, tz=datetime.UTC)

    @property
    def epoch(self) -> int:
        """The MLS epoch this installation is at (node-sdk's ``debugInfo().epoch``)."""
        return self._core.epoch

    def metadata(self) -> ConversationMetadata:
        meta = self._core.context.metadata
        return ConversationMetadata(meta.creator_inbox_id, meta.conversation_type)

    def member_inbox_ids(self) -> list[str]:
        """The members' inbox ids, from the group's membership (no call to the node)."""
        return self._core.member_inbox_ids()

    async def members(self) -> list[GroupMember]:
        """Every member: its identifiers and installations as its identity log lists them at the sequence id the
        group records (the logs are fetched if this client has not got them), its role, our consent about it."""
        ctx = self._ctx
        context = self._core.context
        wanted = dict(context.membership.members)
        states = await ctx.retry_with_identities(lambda: ctx.identities.states_for(wanted))
        mutable = context.mutable
        out = []
        for inbox_id in sorted(wanted):
            state = states[inbox_id]
            level = (
                PermissionLevel.SUPER_ADMIN
                if inbox_id in mutable.super_admins
                else PermissionLevel.ADMIN
                if inbox_id in mutable.admins
                else PermissionLevel.MEMBER
            )
            out.append(
                GroupMember(
                    inbox_id,
                    tuple(state.identifiers()),
                    tuple(state.installations()),
                    level,
                    consent.inbox_state(ctx, inbox_id),
                )
            )
        return out

    def __repr__(self) -> str:
        kind = type(self).__name__
        where = f"epoch {self._core.epoch}" if self.is_active else "left"
        return f"<{kind} {self.id} {where}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Conversation) and other._session is self._session

    def __hash__(self) -> int:
        return hash(self._session.group_id)

    # --- consent ------------------------------------------------------------------------------------------
    def consent_state(self) -> ConsentState:
        """Our decision about this conversation (see :mod:`.consent`)."""
        return consent.conversation_state(self._ctx, self.group_id)

    def update_consent_state(self, state: ConsentState) -> None:
        consent.set_conversation_state(self._ctx, self.group_id, ConsentState(state))

    # --- receiving ----------------------------------------------------------------------------------------
    async def sync(self) -> list[DecodedMessage]:
        """Process everything the node has after our cursor, then publish our messages it does not have yet
        (stored before a crash or a failed call, or sent optimistically) and read them back; the new messages,
        ours included, in order (none once we are removed: the group's later epochs are closed to us). Raises
        :class:`~.errors.MessageNotPublished` if publishing fails (they stay stored). A super admin's client then
        carries out the group's leave requests (:mod:`.leave`)."""
        async with self._session.lock:
            records = await delivery.flush(self._session)
            await leave.carry_out(self._session)
        return self._hub.decoder.enriched(records)

    def stream(self, *, reconnect: bool = True) -> Stream[DecodedMessage]:
        """This conversation's new messages, live (see :mod:`.streams`)."""
        producer = streams.conversation_messages(self._hub, self._session, reconnect=reconnect)
        return Stream(producer, name=f"messages of {self.id}")

    # --- sending ------------------------------------------------------------------------------------------
    async def send(
        self,
        content: object,
        *,
        should_push: bool | None = None,
        optimistic: bool = False,
    ) -> bytes:
        """Send ``content`` (any value the client's content registry encodes, an
        :class:`~pyxmtp.conversations.content.EncodedContent`, or EncodedContent bytes); its message id.

        ``should_push`` defaults to the content type's rule. :class:`~.errors.MessageTooLarge` and
        :class:`~.errors.InactiveConversation` are raised before anything is stored; if publishing fails,
        :class:`~.errors.MessageNotPublished` says whether the message is kept (published by the next sync, under
        the same id: do not send it again) or was refused for good. See the module docstring for ``optimistic``."""
        registry = self._ctx.registry
        if isinstance(content, bytes | bytearray):
            data = bytes(content)
            try:
                content_type = EncodedContent.from_bytes(data).content_type
            except ContentDecodeError:
                content_type = None
        else:
            encoded = registry.encode(content)
            data, content_type = encoded.to_bytes(), encoded.content_type
        push = registry.should_push(content_type) if should_push is None else should_push
        if len(data) > MAX_CONTENT_BYTES:
            raise MessageTooLarge(f"{len(data)} bytes of content; a node takes at most {MAX_CONTENT_BYTES}")
        async with self._session.lock:
            if optimistic:
                return self._store(data, push)
            mid = await self._send(data, should_push=push)
        consent.on_sent(self._ctx, self.group_id)
        return mid

    def _store(self, data: bytes, should_push: bool) -> bytes:
        session = self._session
        if not session.is_active:
            raise InactiveConversation(f"we were removed from conversation {self.id}")
        sent_ns = self._ctx.clock_ns()
        return store_outgoing(session, data, Outgoing(None, str(sent_ns), should_push), sent_ns)

    async def _check_installations(self) -> None:
        session = self._session
        if self._ctx.clock_ns() - session.installations_checked > INSTALLATION_CHECK_INTERVAL_NS:
            await commits.update_membership(session, only_if_changed=True)

    async def _send(self, data: bytes, *, should_push: bool) -> bytes:
        session = self._session
        await receive.sync(session)  # the newest epoch the node has
        if not session.is_active:
            raise InactiveConversation(f"we were removed from conversation {self.id}")
        await self._check_installations()
        mid = self._store(data, should_push)
        try:  # any earlier one still unpublished goes first
            _, refused = await publish_unpublished(session)
        except MessageNotPublished as exc:
            raise MessageNotPublished(mid, DeliveryStatus.UNPUBLISHED, exc) from exc
        if mid in refused:
            raise MessageNotPublished(mid, DeliveryStatus.FAILED, refused[mid])
        try:  # read our write back (its id and the node's time); publish again if commits overtook it
            await delivery.flush(session)
        except ApiCallError as exc:  # the node has it: the next sync reads it back
            log.info("group %s: message %s sent, not read back yet: %s", self.id, mid.hex(), exc)
        return mid

    async def publish_messages(self) -> None:
        """Publish the messages sent optimistically (and any other of ours the node does not have yet), then
        read them back; the conversation becomes allowed, as when sending.
        :class:`~.errors.MessageNotPublished` if the node cannot take them now (they stay stored)."""
        session = self._session
        async with session.lock:
            await receive.sync(session)
            if session.is_active:
                await self._check_installations()
            await delivery.flush(session)
        consent.on_sent(self._ctx, self.group_id)

    async def send_text(self, text: str, *, optimistic: bool = False) -> bytes:
        return await self.send(Text(text), optimistic=optimistic)

    async def send_markdown(self, markdown: str, *, optimistic: bool = False) -> bytes:
        return await self.send(Markdown(markdown), optimistic=optimistic)

    async def send_reaction(self, reaction: Reaction, *, optimistic: bool = False) -> bytes:
        """Send a reaction (as ``xmtp.org/reaction:2.0``, as libxmtp 1.10 does)."""
        return await self.send(reaction, optimistic=optimistic)

    async def send_reply(self, reply: Reply, *, optimistic: bool = False) -> bytes:
        return await self.send(reply, optimistic=optimistic)

    async def send_read_receipt(self, *, optimistic: bool = False) -> bytes:
        return await self.send(ReadReceipt(), optimistic=optimistic)

    async def send_attachment(self, attachment: Attachment, *, optimistic: bool = False) -> bytes:
        return await self.send(attachment, optimistic=optimistic)

    async def send_remote_attachment(self, remote: RemoteAttachment, *, optimistic: bool = False) -> bytes:
        """Send a remote attachment (store its payload first: :func:`~.attachments.upload_attachment`)."""
        return await self.send(remote, optimistic=optimistic)

    async def send_multi_remote_attachment(
        self, attachments: MultiRemoteAttachment, *, optimistic: bool = False
    ) -> bytes:
        return await self.send(attachments, optimistic=optimistic)

    async def send_transaction_reference(
        self, reference: TransactionReference, *, optimistic: bool = False
    ) -> bytes:
        return await self.send(reference, optimistic=optimistic)

    async def send_wallet_send_calls(self, calls: WalletSendCalls, *, optimistic: bool = False) -> bytes:
        return await self.send(calls, optimistic=optimistic)

    async def send_actions(self, actions: Actions, *, optimistic: bool = False) -> bytes:
        return await self.send(actions, optimistic=optimistic)

    async def send_intent(self, intent: Intent, *, optimistic: bool = False) -> bytes:
        return await self.send(intent, optimistic=optimistic)

    # --- reading ------------------------------------------------------------------------------------------
    @staticmethod
    def _query(
        *,
        sent_before_ns: int | None,
        sent_after_ns: int | None,
        inserted_before_ns: int | None,
        inserted_after_ns: int | None,
        content_types: Sequence[ContentTypeFilter] | None,
        exclude_content_types: Sequence[ContentTypeFilter] | None,
        kind: MessageKind | None,
        delivery_status: DeliveryStatus | None,
        exclude_sender_inbox_ids: Sequence[str],
        direction: SortDirection = SortDirection.ASCENDING,
        limit: int | None = None,
    ) -> MessageQuery:
        included = None if content_types is None else tuple(_type_pair(t) for t in content_types)
        if exclude_content_types is None:
            # hidden unless asked for by name
            hidden = [h for h in HIDDEN_CONTENT_TYPES if included is None or h not in included]
            excluded = tuple(hidden)
        else:
            excluded = tuple(_type_pair(t) for t in exclude_content_types)
        return MessageQuery(
            sent_after_ns=sent_after_ns,
            sent_before_ns=sent_before_ns,
            inserted_after_ns=inserted_after_ns,
            inserted_before_ns=inserted_before_ns,
            content_types=included,
            exclude_content_types=excluded,
            kind=kind,
            delivery_status=delivery_status,
            exclude_sender_inbox_ids=tuple(exclude_sender_inbox_ids),
            descending=direction is SortDirection.DESCENDING,
            limit=limit,
        )

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
        """The stored messages, enriched (see :mod:`.messages`), by send time (every bound exclusive); disappeared
        ones are deleted first. Reactions, read receipts and deletion requests are left out unless
        ``content_types`` names them or ``exclude_content_types`` is given (libxmtp's rule)."""
        self.delete_disappeared()
        query = self._query(
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
        return self._hub.decoder.enriched(self._ctx.store.query_messages(self.group_id, query))

    def count_messages(
        self,
        *,
        sent_before_ns: int | None = None,
        sent_after_ns: int | None = None,
        inserted_before_ns: int | None = None,
        inserted_after_ns: int | None = None,
        content_types: Sequence[ContentTypeFilter] | None = None,
        exclude_content_types: Sequence[ContentTypeFilter] | None = None,
        kind: MessageKind | None = None,
        delivery_status: DeliveryStatus | None = None,
        exclude_sender_inbox_ids: Sequence[str] = (),
    ) -> int:
        """How many messages :meth:`messages` would list with these filters."""
        self.delete_disappeared()
        query = self._query(
            sent_before_ns=sent_before_ns,
            sent_after_ns=sent_after_ns,
            inserted_before_ns=inserted_before_ns,
            inserted_after_ns=inserted_after_ns,
            content_types=content_types,
            exclude_content_types=exclude_content_types,
            kind=kind,
            delivery_status=delivery_status,
            exclude_sender_inbox_ids=exclude_sender_inbox_ids,
        )
        return self._ctx.store.count_messages(self.group_id, query)

    def last_message(self) -> DecodedMessage | None:
        found = self.messages(limit=1, direction=SortDirection.DESCENDING)
        return found[0] if found else None

    def texts(self) -> list[str]:
        """The text messages only, in order (a convenience for bots and tests)."""
        return [str(m.content) for m in self.messages() if isinstance(m.content, str)]

    def message_at(self, server_id: int) -> DecodedMessage | None:
        """The stored message the node gave id ``server_id`` (None: not a message, or not processed yet)."""
        record = self._ctx.store.message_by_server_id(self.group_id, server_id)
        return None if record is None else self._hub.decoder.enriched_one(record)

    def last_read_times(self) -> dict[str, int]:
        """Each member's newest read receipt, by inbox id (ns since the epoch): up to when it has read."""
        pair = (READ_RECEIPT.authority_id, READ_RECEIPT.type_id)
        return self._ctx.store.latest_by_sender(self.group_id, pair)

    def hmac_keys(self) -> list[HmacKey]:
        """This conversation's sender-HMAC keys for the previous, current and next HMAC epochs (libxmtp's)."""
        ctx = self._ctx
        now = hmac_epoch(ctx.now_s())
        return [
            HmacKey(sender_hmac_key_for_epoch(ctx.hmac_key, self.group_id, epoch), epoch)
            for epoch in (now - 1, now, now + 1)
        ]

    # --- disappearing messages ----------------------------------------------------------------------------
    def message_disappearing_settings(self) -> DisappearingSettings | None:
        """The conversation's disappearing-message settings, None when off."""
        setting = self._core.context.mutable.disappearing if self.is_active else None
        return None if setting is None else DisappearingSettings(*setting)

    def is_message_disappearing_enabled(self) -> bool:
        return self.message_disappearing_settings() is not None

    async def update_message_disappearing_settings(self, from_ns: int, in_ns: int) -> None:
        """Make messages sent from ``from_ns`` on disappear ``in_ns`` after sending, for everyone."""
        await self._update_metadata(
            message_disappear_from_ns=str(from_ns), message_disappear_in_ns=str(in_ns)
        )

    async def remove_message_disappearing_settings(self) -> None:
        await self.update_message_disappearing_settings(0, 0)

    def delete_disappeared(self) -> int:
        """Delete the messages whose time is up: sent at or after ``from_ns`` and more than ``in_ns`` ago, as
        libxmtp does; the database overwrites them (``secure_delete``). How many went."""
        setting = self.message_disappearing_settings()
        if setting is None:
            return 0
        store = self._ctx.store
        with store.transaction():
            end = self._ctx.clock_ns() - setting.in_ns + 1
            return store.delete_messages_sent_between(self.group_id, setting.from_ns, end)

    async def update_installations(self) -> bool:
        """Bring the tree in line with the members' identity logs, as libxmtp does before sending (at most every
        5 s): add their new installations, remove revoked ones. Whether a commit was needed."""
        async with self._session.lock:
            return await commits.update_membership(self._session, only_if_changed=True)

    # --- for the subclasses -------------------------------------------------------------------------------
    async def _update_metadata(self, **attributes: str) -> None:
        async with self._session.lock:
            await commits.update_metadata(self._session, attributes)

    def _records(self, records: Sequence[MessageRecord]) -> list[DecodedMessage]:
        return self._hub.decoder.enriched(records)
