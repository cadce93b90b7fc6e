"""agent-sdk's filters: predicates on a message or a conversation, for middleware and handlers::

    from pyxmtp.agent import filters as f

    @agent.middleware
    async def only_groups(ctx, next):
        if f.is_group(ctx.conversation):
            await next()

A content type is matched by authority and type id, any version (``has_content_type(message, "text")`` means
``xmtp.org/text``).
"""

from __future__ import annotations

from typing import Any

from pyxmtp.client import Client, Conversation, DecodedMessage, Dm, EnrichedReply, Group
from pyxmtp.conversations.content import (
    ACTIONS,
    ATTACHMENT,
    GROUP_UPDATED,
    INTENT,
    LEAVE_REQUEST,
    MARKDOWN,
    MULTI_REMOTE_ATTACHMENT,
    REACTION,
    READ_RECEIPT,
    REMOTE_ATTACHMENT,
    REPLY,
    TEXT,
    TRANSACTION_REFERENCE,
    WALLET_SEND_CALLS,
    ContentCodec,
    ContentTypeId,
    UnknownContent,
)

__all__ = [
    "has_content",
    "has_content_type",
    "is_actions",
    "is_attachment",
    "is_dm",
    "is_from_self",
    "is_group",
    "is_group_admin",
    "is_group_super_admin",
    "is_group_update",
    "is_intent",
    "is_leave_request",
    "is_markdown",
    "is_multi_remote_attachment",
    "is_reaction",
    "is_read_receipt",
    "is_remote_attachment",
    "is_reply",
    "is_text",
    "is_text_reply",
    "is_transaction_reference",
    "is_wallet_send_calls",
    "uses_codec",
]


def is_from_self(message: DecodedMessage, client: Client) -> bool:
    """Sent by the client's inbox (any of its installations)."""
    return message.sender_inbox_id == client.inbox_id


def has_content(message: DecodedMessage) -> bool:
    """Its content decoded (false for a type no codec of the client reads, or malformed content)."""
    return message.content is not None and not isinstance(message.content, UnknownContent)


def has_content_type(message: DecodedMessage, content_type: ContentTypeId | str) -> bool:
    """Of ``content_type`` (a :class:`ContentTypeId`, any version, or a type id of ``xmtp.org`` such as
    ``"text"``)."""
    found = message.content_type
    if found is None:
        return False
    if isinstance(content_type, str):
        return (found.authority_id, found.type_id) == ("xmtp.org", content_type)
    return (found.authority_id, found.type_id) == (content_type.authority_id, content_type.type_id)


def uses_codec(message: DecodedMessage, codec: ContentCodec[Any] | type[ContentCodec[Any]]) -> bool:
    """Of the type ``codec`` (an instance or its class) reads, in its major version."""
    found = message.content_type
    return found is not None and found.same_type(codec.content_type)


def is_dm(conversation: Conversation) -> bool:
    return isinstance(conversation, Dm)


def is_group(conversation: Conversation) -> bool:
    return isinstance(conversation, Group)


def is_group_admin(conversation: Conversation, message: DecodedMessage) -> bool:
    """The sender is an admin of the group (false in a DM)."""
    return isinstance(conversation, Group) and conversation.is_admin(message.sender_inbox_id)


def is_group_super_admin(conversation: Conversation, message: DecodedMessage) -> bool:
    """The sender is a super admin of the group (false in a DM)."""
    return isinstance(conversation, Group) and conversation.is_super_admin(message.sender_inbox_id)


def is_text(message: DecodedMessage) -> bool:
    return has_content_type(message, TEXT)


def is_markdown(message: DecodedMessage) -> bool:
    return has_content_type(message, MARKDOWN)


def is_reply(message: DecodedMessage) -> bool:
    return has_content_type(message, REPLY)


def is_text_reply(message: DecodedMessage) -> bool:
    """A reply whose own content is text."""
    content = message.content
    return is_reply(message) and isinstance(content, EnrichedReply) and isinstance(content.content, str)


def is_reaction(message: DecodedMessage) -> bool:
    return has_content_type(message, REACTION)


def is_read_receipt(message: DecodedMessage) -> bool:
    return has_content_type(message, READ_RECEIPT)


def is_remote_attachment(message: DecodedMessage) -> bool:
    return has_content_type(message, REMOTE_ATTACHMENT)


def is_attachment(message: DecodedMessage) -> bool:
    """An inline attachment (``xmtp.org/attachment``)."""
    return has_content_type(message, ATTACHMENT)


def is_multi_remote_attachment(message: DecodedMessage) -> bool:
    return has_content_type(message, MULTI_REMOTE_ATTACHMENT)


def is_group_update(message: DecodedMessage) -> bool:
    return has_content_type(message, GROUP_UPDATED)


def is_leave_request(message: DecodedMessage) -> bool:
    return has_content_type(message, LEAVE_REQUEST)


def is_transaction_reference(message: DecodedMessage) -> bool:
    return has_content_type(message, TRANSACTION_REFERENCE)


def is_wallet_send_calls(message: DecodedMessage) -> bool:
    return has_content_type(message, WALLET_SEND_CALLS)


def is_actions(message: DecodedMessage) -> bool:
    return has_content_type(message, ACTIONS)


def is_intent(message: DecodedMessage) -> bool:
    return has_content_type(message, INTENT)
