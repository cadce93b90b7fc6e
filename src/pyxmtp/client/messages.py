"""Messages as the client hands them out: :class:`DecodedMessage`, decoded from the stored records."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyxmtp.conversations.content import ContentDecodeError, ContentRegistry, EncodedContent, UnknownContent

from .store import DeliveryStatus, MessageRecord

log = logging.getLogger("pyxmtp.client")


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    """A conversation message: ``content`` is the decoded value (a ``str`` for text), ``encoded`` the raw
    EncodedContent bytes; ``delivery_status`` says whether the node has it (our own may not yet)."""

    message_id: bytes
    sender_inbox_id: str
    sender_installation: bytes
    sent_ns: int
    content: object
    encoded: bytes
    delivery_status: DeliveryStatus

    @property
    def published(self) -> bool:
        return self.delivery_status is DeliveryStatus.PUBLISHED

    @property
    def failed(self) -> bool:
        return self.delivery_status is DeliveryStatus.FAILED


def decode_record(registry: ContentRegistry, r: MessageRecord) -> DecodedMessage:
    """A stored message, its content decoded by ``registry`` (a peer's malformed content is logged and shown as
    :class:`~pyxmtp.conversations.content.UnknownContent`, never raised)."""
    try:
        content: object = registry.decode(r.content)
    except ContentDecodeError as exc:
        log.warning("message %s of group %s: %s", r.message_id.hex(), r.group_id.hex(), exc)
        content = UnknownContent(EncodedContent(None, content=r.content))
    return DecodedMessage(
        r.message_id,
        r.sender_inbox_id,
        r.sender_installation,
        r.sent_ns,
        content,
        r.content,
        r.delivery_status,
    )
