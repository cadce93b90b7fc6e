"""Messages as the client hands them out: :class:`DecodedMessage`, decoded from the stored records and enriched
as node-sdk 6.0 does (libxmtp's "enriched messages").

Enrichment: a message carries the reactions to it (:attr:`DecodedMessage.reactions`, each a message of its own)
and how many replies it has (:attr:`DecodedMessage.num_replies`); a reply's content is an
:class:`EnrichedReply` holding the decoded inner content and the message it answers (if this installation has it).
Lists of a conversation's messages leave out reactions, read receipts and deletion requests by default
(:data:`HIDDEN_CONTENT_TYPES`), as libxmtp's do: they show on the messages they are about.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from pyxmtp.conversations.content import (
    ContentDecodeError,
    ContentRegistry,
    ContentTypeId,
    EncodedContent,
    Reply,
    UnknownContent,
)

from .content_fields import MessageKind
from .records import DeliveryStatus, MessageRecord
from .store import ClientStore

log = logging.getLogger("pyxmtp.client")

_REACTION = ("xmtp.org", "reaction")
_REPLY = ("xmtp.org", "reply")
#: Content types a conversation's message list leaves out unless asked for (libxmtp's hidden types).
HIDDEN_CONTENT_TYPES: tuple[tuple[str, str], ...] = (
    _REACTION,
    ("xmtp.org", "readReceipt"),
    ("xmtp.org", "deleteMessage"),
)


class SortDirection(Enum):
    ASCENDING = "ascending"
    DESCENDING = "descending"


@dataclass(frozen=True, slots=True)
class EnrichedReply:
    """A reply's content as node-sdk shows it: the id (hex) of the message answered and its sender if the reply
    named it, the decoded inner ``content`` and its type, and the answered message itself (``in_reply_to``;
    None if this installation does not have it)."""

    reference: str
    reference_inbox_id: str | None
    content: object
    content_type: ContentTypeId | None
    in_reply_to: DecodedMessage | None = None


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    """A conversation message.

    ``content`` is the decoded value (a ``str`` for text, the content module's types for the others, an
    :class:`EnrichedReply` for a reply, :class:`~pyxmtp.conversations.content.UnknownContent` for a type no codec
    of the client reads or content that does not decode), ``encoded`` the raw EncodedContent bytes,
    ``content_type`` and ``fallback`` as the sender wrote them. ``kind`` tells a member's message from a commit's
    transcript entry; ``delivery_status`` whether the node has it (our own may not yet). ``message_id`` and
    ``group_id`` are bytes; :attr:`id` and :attr:`conversation_id` are the same in hex, as node-sdk gives them.
    """

    message_id: bytes
    group_id: bytes
    sender_inbox_id: str
    sender_installation: bytes
    sent_ns: int
    content: object
    encoded: bytes
    delivery_status: DeliveryStatus
    kind: MessageKind = MessageKind.APPLICATION
    content_type: ContentTypeId | None = None
    fallback: str | None = None
    reactions: tuple[DecodedMessage, ...] = ()
    num_replies: int = 0
    inserted_ns: int | None = None

    @property
    def id(self) -> str:
        """The message id in hex (how content types refer to a message)."""
        return self.message_id.hex()

    @property
    def conversation_id(self) -> str:
        return self.group_id.hex()

    @property
    def sender_installation_id(self) -> str:
        return self.sender_installation.hex()

    @property
    def sent_at_ns(self) -> int:
        return self.sent_ns

    @property
    def sent_at(self) -> datetime.datetime:
        """When it was sent (the node's time once published), in UTC."""
        return datetime.datetime.fromtimestamp(self.sent_ns / 1e9, tz=datetime.UTC)

    @property
    def published(self) -> bool:
        return self.delivery_status is DeliveryStatus.PUBLISHED

    @property
    def failed(self) -> bool:
        return self.delivery_status is DeliveryStatus.FAILED


class MessageDecoder:
    """Decodes stored messages with a registry and enriches them from the store."""

    def __init__(self, store: ClientStore, registry: ContentRegistry) -> None:
        self.store = store
        self.registry = registry

    def _value(self, encoded: EncodedContent, record: MessageRecord) -> object:
        try:
            return self.registry.decode(encoded)
        except ContentDecodeError as exc:  # a peer's malformed content: shown as unknown, not fatal
            log.warning("message %s of group %s: %s", record.message_id.hex(), record.group_id.hex(), exc)
            return UnknownContent(encoded)

    def decode(self, record: MessageRecord) -> DecodedMessage:
        """The message, not enriched (a reply's content is its :class:`EnrichedReply` without ``in_reply_to``)."""
        content: object
        try:
            encoded = EncodedContent.from_bytes(record.content)
        except ContentDecodeError as exc:
            log.warning("message %s of group %s: %s", record.message_id.hex(), record.group_id.hex(), exc)
            encoded = EncodedContent(None, content=record.content)
            content = UnknownContent(encoded)
        else:
            content = self._value(encoded, record)
        if isinstance(content, Reply):
            inner = self._value(content.content, record)
            content = EnrichedReply(
                content.reference, content.reference_inbox_id, inner, content.content.content_type
            )
        return DecodedMessage(
            record.message_id,
            record.group_id,
            record.sender_inbox_id,
            record.sender_installation,
            record.sent_ns,
            content,
            record.content,
            record.delivery_status,
            record.kind,
            encoded.content_type,
            encoded.fallback,
            inserted_ns=record.inserted_ns,
        )

    def enriched(self, records: Sequence[MessageRecord]) -> list[DecodedMessage]:
        """The messages of one group, each with its reactions, its number of replies and, for a reply, the
        message it answers."""
        if not records:
            return []
        group_id = records[0].group_id
        ids = [r.message_id for r in records]
        reactions = self.store.referring(group_id, ids, _REACTION)
        replies = self.store.referring(group_id, ids, _REPLY)
        answered_ids = [r.reference_id for r in records if r.reference_id is not None]
        answered = self.store.messages_by_ids(group_id, answered_ids) if answered_ids else {}
        out = []
        for record in records:
            message = self.decode(record)
            extra: dict[str, object] = {}
            mine = reactions.get(record.message_id)
            if mine:
                extra["reactions"] = tuple(self.decode(r) for r in mine)
            if record.message_id in replies:
                extra["num_replies"] = len(replies[record.message_id])
            if isinstance(message.content, EnrichedReply) and record.reference_id in answered:
                target = self.decode(answered[record.reference_id])
                extra["content"] = replace(message.content, in_reply_to=target)
            out.append(replace(message, **extra) if extra else message)  # type: ignore[arg-type]
        return out

    def enriched_one(self, record: MessageRecord) -> DecodedMessage:
        return self.enriched([record])[0]
