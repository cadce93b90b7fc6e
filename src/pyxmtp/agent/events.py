"""The agent's events (agent-sdk 2.x's names) and which event a message is.

Message events, by the message's content type (authority and type id, any version), each handed a
:class:`~.context.MessageContext` whose ``content`` is of the type shown:

=========================  ====================================  ==========================================
event                      content type                          ``ctx.content``
=========================  ====================================  ==========================================
``text``                   ``xmtp.org/text``                     ``str``
``markdown``               ``xmtp.org/markdown``                 ``str``
``reply``                  ``xmtp.org/reply``                    :class:`~pyxmtp.client.EnrichedReply`
``reaction``               ``xmtp.org/reaction`` (1.0 and 2.0)   :class:`Reaction`
``read-receipt``           ``xmtp.org/readReceipt``              :class:`ReadReceipt`
``attachment``             ``xmtp.org/remoteStaticAttachment``   :class:`RemoteAttachment`
``inline-attachment``      ``xmtp.org/attachment``               :class:`Attachment`
``multi-attachment``       ``xmtp.org/multiRemoteStaticAttach…`` :class:`MultiRemoteAttachment`
``group-update``           ``xmtp.org/group_updated``            :class:`GroupUpdated` (a commit's entry)
``leave-request``          ``xmtp.org/leave_request``            :class:`LeaveRequest`
``transaction-reference``  ``xmtp.org/transactionReference``     :class:`TransactionReference`
``wallet-send-calls``      ``xmtp.org/walletSendCalls``          :class:`WalletSendCalls`
``actions``                ``coinbase.com/actions``              :class:`Actions`
``intent``                 ``coinbase.com/intent``               :class:`Intent`
``unknown-message``        any other, or content that did not    ``object`` (:class:`UnknownContent` keeps
                           decode                                the fallback text)
=========================  ====================================  ==========================================

``message`` follows every message's own event (all types). Conversation events get a
:class:`~.context.ConversationContext`: ``conversation`` (every new one), then ``dm`` or ``group``. Lifecycle:
``start`` and ``stop`` (an :class:`~.context.AgentContext`), ``unhandled-error`` (the exception). agent-sdk's
camelCase ``unknownMessage`` and ``unhandledError`` are accepted too.
"""

from __future__ import annotations

from pyxmtp.client import DecodedMessage, EnrichedReply
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
    Actions,
    Attachment,
    ContentTypeId,
    GroupUpdated,
    Intent,
    LeaveRequest,
    Markdown,
    MultiRemoteAttachment,
    Reaction,
    ReadReceipt,
    RemoteAttachment,
    TransactionReference,
    WalletSendCalls,
)

from .errors import AgentUsageError

__all__ = [
    "ALL_EVENTS",
    "CONVERSATION_EVENTS",
    "LIFECYCLE_EVENTS",
    "MESSAGE",
    "MESSAGE_EVENTS",
    "UNHANDLED_ERROR",
    "UNKNOWN_MESSAGE",
    "event_name",
    "message_event",
]

MESSAGE = "message"
UNKNOWN_MESSAGE = "unknown-message"
UNHANDLED_ERROR = "unhandled-error"
CONVERSATION = "conversation"
DM = "dm"
GROUP = "group"
START = "start"
STOP = "stop"

#: (content type, event, the Python type its decoded content must be) in the order they are tried.
_BY_TYPE: tuple[tuple[ContentTypeId, str, type | tuple[type, ...]], ...] = (
    (TEXT, "text", str),
    (MARKDOWN, "markdown", Markdown),
    (REPLY, "reply", EnrichedReply),
    (REACTION, "reaction", Reaction),
    (READ_RECEIPT, "read-receipt", ReadReceipt),
    (REMOTE_ATTACHMENT, "attachment", RemoteAttachment),
    (ATTACHMENT, "inline-attachment", Attachment),
    (MULTI_REMOTE_ATTACHMENT, "multi-attachment", MultiRemoteAttachment),
    (GROUP_UPDATED, "group-update", GroupUpdated),
    (LEAVE_REQUEST, "leave-request", LeaveRequest),
    (TRANSACTION_REFERENCE, "transaction-reference", TransactionReference),
    (WALLET_SEND_CALLS, "wallet-send-calls", WalletSendCalls),
    (ACTIONS, "actions", Actions),
    (INTENT, "intent", Intent),
)
_TYPES = {(t.authority_id, t.type_id): (event, python_type) for t, event, python_type in _BY_TYPE}

MESSAGE_EVENTS: frozenset[str] = frozenset({e for _, e, _ in _BY_TYPE} | {MESSAGE, UNKNOWN_MESSAGE})
CONVERSATION_EVENTS: frozenset[str] = frozenset({CONVERSATION, DM, GROUP})
LIFECYCLE_EVENTS: frozenset[str] = frozenset({START, STOP})
ALL_EVENTS: frozenset[str] = MESSAGE_EVENTS | CONVERSATION_EVENTS | LIFECYCLE_EVENTS | {UNHANDLED_ERROR}
_ALIASES = {"unknownMessage": UNKNOWN_MESSAGE, "unhandledError": UNHANDLED_ERROR}


def event_name(name: str) -> str:
    """``name`` as the agent knows it (agent-sdk's camelCase aliases mapped); :class:`AgentUsageError` if it is
    not an event."""
    name = _ALIASES.get(name, name)
    if name not in ALL_EVENTS:
        raise AgentUsageError(f"no event {name!r}; the events are {', '.join(sorted(ALL_EVENTS))}")
    return name


def message_event(message: DecodedMessage) -> str:
    """The event of ``message``: by its content type, if its content decoded to that type's value (a peer's
    malformed content, or a type no codec reads, is ``unknown-message``)."""
    content_type = message.content_type
    if content_type is None:
        return UNKNOWN_MESSAGE
    found = _TYPES.get((content_type.authority_id, content_type.type_id))
    if found is None or not isinstance(message.content, found[1]):
        return UNKNOWN_MESSAGE
    return found[0]
