"""The asyncio XMTP client SDK: :class:`Client` (one installation) and its conversations.

Errors a caller may see: :class:`ApiCallError` (the node refused or could not be reached), and its
:class:`MessageNotPublished` (a message of ours stored but not published: kept for the next sync, or refused for
good), :class:`MessageTooLarge` and :class:`InactiveConversation` (nothing sent), :class:`MembershipUpdateError`
(a membership change that cannot be made), :class:`CommitConflict` (our commit lost its epoch three times
running), :class:`ClientStoreError` (the database cannot be opened as asked), and the MLS layer's typed errors for
what peers send (logged and passed over by ``sync``). Every message has a :class:`DeliveryStatus`.
"""

from .api import ApiCallError, NodeApi
from .client import Client
from .conversation import ClientConversation, CommitConflict, DecodedMessage, MembershipUpdateError
from .delivery import InactiveConversation, MessageNotPublished, MessageTooLarge
from .store import ClientStore, ClientStoreError, DeliveryStatus

__all__ = [
    "ApiCallError",
    "Client",
    "ClientConversation",
    "ClientStore",
    "ClientStoreError",
    "CommitConflict",
    "DecodedMessage",
    "DeliveryStatus",
    "InactiveConversation",
    "MembershipUpdateError",
    "MessageNotPublished",
    "MessageTooLarge",
    "NodeApi",
]
