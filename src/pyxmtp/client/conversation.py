"""A conversation of the client: syncing it from the node, sending into it, reading its messages.

:class:`ClientConversation` is a handle on a :class:`~.session.GroupSession` (every handle of one group shares
it, and its lock). Receiving is :mod:`.receive`, our own messages until the node has them :mod:`.delivery`,
our own commits :mod:`.commits`. Before a message is encrypted, the conversation syncs, so it is encrypted for
the newest epoch the node has.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyxmtp.conversations.content import encode_text
from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.proto.mls.api.v1 import mls_pb2

from . import commits, delivery, receive
from .api import ApiCallError
from .context import ClientContext
from .delivery import MAX_CONTENT_BYTES, publish_unpublished, store_outgoing
from .errors import (
    CommitConflict,
    InactiveConversation,
    MembershipUpdateError,
    MessageNotPublished,
    MessageTooLarge,
)
from .messages import DecodedMessage, decode_record
from .session import GroupSession
from .store import DeliveryStatus, MessageRecord, Outgoing

__all__ = ["ClientConversation", "CommitConflict", "DecodedMessage", "MembershipUpdateError"]

log = logging.getLogger("pyxmtp.client")

#: Before sending, the tree is held against the identity logs if it was not in the last 5 s (as libxmtp).
INSTALLATION_CHECK_INTERVAL_NS = 5 * 10**9


class ClientConversation:
    """One conversation of a :class:`~pyxmtp.client.Client`."""

    def __init__(self, session: GroupSession) -> None:
        self._session = session

    @property
    def _ctx(self) -> ClientContext:
        return self._session.ctx

    @property
    def conversation(self) -> CoreConversation:
        """The sans-IO conversation (its MLS group)."""
        return self._session.core

    @property
    def cursor(self) -> int:
        """The node's id of the last group message processed."""
        return self._session.cursor

    @property
    def group_id(self) -> bytes:
        return self._session.group_id

    @property
    def dm_peer(self) -> str | None:
        """In a DM, the other member's inbox id."""
        return self._session.core.dm_peer

    @property
    def is_active(self) -> bool:
        """False once a commit removed us: nothing more can be read or sent."""
        return self._session.is_active

    @property
    def name(self) -> str:
        return self._session.core.context.mutable.name

    def member_inbox_ids(self) -> list[str]:
        return self._session.core.member_inbox_ids()

    def __repr__(self) -> str:
        core = self._session.core
        kind = core.conversation_type.name.lower()
        where = f"epoch {core.epoch}" if self.is_active else "left"
        return f"<ClientConversation {kind} {self.group_id.hex()} {where}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClientConversation) and other._session is self._session

    def __hash__(self) -> int:
        return hash(self._session.group_id)

    # --- receiving ----------------------------------------------------------------------------------------
    async def sync(self) -> list[DecodedMessage]:
        """Process everything the node has after our cursor, then publish our messages it does not have yet
        (stored before a crash or a failed call, or arrived too late to be read) and read them back; the new
        messages, ours included, in order (none once we are removed: the group's later epochs are closed to us).
        Raises :class:`~.errors.MessageNotPublished` if publishing fails (they stay stored)."""
        async with self._session.lock:
            return self._decode_all(await delivery.flush(self._session))

    async def apply(self, v1: mls_pb2.GroupMessage.V1) -> DecodedMessage | None:
        """Process one message of this group from the node (the next in id order), and return the message it
        carried, if any. One at or below our cursor was processed already (by a sync, say): its stored message
        is returned, so a stream shows every message once whoever processed it."""
        session = self._session
        async with session.lock:
            if v1.id <= session.cursor:
                return self.message_at(v1.id)
            record = await receive.apply(session, v1)
            if session.publish_due:  # the messages this reads come through the stream too, after this one
                await delivery.flush(session)
            return None if record is None else self._decode(record)

    # --- membership ---------------------------------------------------------------------------------------
    async def add_members(self, inbox_ids: Sequence[str]) -> None:
        """Add these inboxes (every installation their identity logs list) in one commit, and welcome them."""
        async with self._session.lock:
            await commits.update_membership(self._session, add=inbox_ids)

    async def remove_members(self, inbox_ids: Sequence[str]) -> None:
        """Remove these inboxes (all their installations) in one membership commit."""
        membership = self._session.core.context.membership
        gone = set(inbox_ids)
        if not gone <= set(membership.members):
            raise MembershipUpdateError(f"not members: {sorted(gone - set(membership.members))}")
        if self._ctx.inbox_id in gone:
            raise MembershipUpdateError("a member cannot remove itself with a commit")
        async with self._session.lock:
            await commits.update_membership(self._session, remove=inbox_ids)

    async def update_installations(self) -> bool:
        """Bring the tree in line with the members' identity logs, as libxmtp does before sending: add their new
        installations, remove revoked ones. Whether a commit was needed."""
        async with self._session.lock:
            return await commits.update_membership(self._session, only_if_changed=True)

    async def update_metadata(self, **attributes: str) -> None:
        """Set mutable-metadata attributes (``group_name``, ``description``, ``group_image_url_square``, ...)."""
        async with self._session.lock:
            await commits.update_metadata(self._session, attributes)

    async def update_name(self, name: str) -> None:
        await self.update_metadata(group_name=name)

    # --- sending ------------------------------------------------------------------------------------------
    async def send_text(self, text: str) -> bytes:
        """Send a text message; its message id."""
        content, should_push = encode_text(text)
        return await self.send(content, should_push=should_push)

    async def send(self, encoded_content: bytes, *, should_push: bool = True) -> bytes:
        """Send EncodedContent bytes; returns the message id once the node has the message.

        The conversation syncs first, so the message is encrypted for the newest epoch the node has. It is then
        stored (unpublished, with its MLS bytes) together with the group state that encrypted it, and published.
        If publishing fails, :class:`~.errors.MessageNotPublished` says whether the message is kept to be
        published by the next sync, start-up or stream reconnect (under the same id: do not send it again) or
        was refused for good. :class:`~.errors.MessageTooLarge` and :class:`~.errors.InactiveConversation`
        are raised before anything is stored."""
        if len(encoded_content) > MAX_CONTENT_BYTES:
            raise MessageTooLarge(
                f"{len(encoded_content)} bytes of content; a node takes at most {MAX_CONTENT_BYTES}"
            )
        async with self._session.lock:
            return await self._send(encoded_content, should_push=should_push)

    async def _send(self, encoded_content: bytes, *, should_push: bool) -> bytes:
        session = self._session
        ctx = session.ctx
        await receive.sync(session)  # the newest epoch the node has
        if not session.is_active:
            raise InactiveConversation(f"we were removed from conversation {self.group_id.hex()}")
        if ctx.clock_ns() - session.installations_checked > INSTALLATION_CHECK_INTERVAL_NS:
            await commits.update_membership(session, only_if_changed=True)
        sent_ns = ctx.clock_ns()
        mid = store_outgoing(session, encoded_content, Outgoing(None, str(sent_ns), should_push), sent_ns)
        try:  # any earlier one still unpublished goes first
            _, refused = await publish_unpublished(session)
        except MessageNotPublished as exc:
            raise MessageNotPublished(mid, DeliveryStatus.UNPUBLISHED, exc) from exc
        if mid in refused:
            raise MessageNotPublished(mid, DeliveryStatus.FAILED, refused[mid])
        try:  # read our write back (its id and the node's time); publish again if commits overtook it
            await delivery.flush(session)
        except ApiCallError as exc:  # the node has it: the next sync reads it back
            log.info("group %s: message %s sent, not read back yet: %s", self.group_id.hex(), mid.hex(), exc)
        return mid

    # --- reading ------------------------------------------------------------------------------------------
    def message_at(self, server_id: int) -> DecodedMessage | None:
        """The stored message the node gave id ``server_id`` (None: not a message, or not processed yet)."""
        record = self._ctx.store.message_by_server_id(self.group_id, server_id)
        return None if record is None else self._decode(record)

    def messages(self) -> list[DecodedMessage]:
        """Every message stored for this conversation, in the order sent (disappeared ones deleted first)."""
        self.delete_disappeared()
        return self._decode_all(self._ctx.store.messages(self.group_id))

    @property
    def disappearing(self) -> tuple[int, int] | None:
        """``(from_ns, in_ns)`` if messages in this conversation disappear (see :meth:`delete_disappeared`)."""
        return self._session.core.context.mutable.disappearing if self.is_active else None

    def delete_disappeared(self) -> int:
        """Delete the messages whose time is up: sent at or after ``from_ns`` and more than ``in_ns`` ago, as
        libxmtp does; the database overwrites them (``secure_delete``). How many went."""
        setting = self.disappearing
        if setting is None:
            return 0
        start, duration = setting
        store = self._ctx.store
        with store.transaction():
            return store.delete_messages_sent_between(
                self.group_id, start, self._ctx.clock_ns() - duration + 1
            )

    async def set_disappearing(self, from_ns: int, in_ns: int) -> None:
        """Make messages sent from ``from_ns`` on disappear ``in_ns`` after sending (0, 0: off), for everyone."""
        await self.update_metadata(message_disappear_from_ns=str(from_ns), message_disappear_in_ns=str(in_ns))

    def texts(self) -> list[str]:
        """The text messages only, in order (a convenience for bots and tests)."""
        return [m.content for m in self.messages() if isinstance(m.content, str)]

    def _decode(self, record: MessageRecord) -> DecodedMessage:
        return decode_record(self._ctx.registry, record)

    def _decode_all(self, records: Sequence[MessageRecord]) -> list[DecodedMessage]:
        return [self._decode(r) for r in records]
