"""The asyncio XMTP client SDK: :class:`Client` (one installation) and its conversations."""

from .api import ApiCallError, NodeApi
from .client import Client
from .conversation import ClientConversation, DecodedMessage
from .store import ClientStore

__all__ = ["ApiCallError", "Client", "ClientConversation", "ClientStore", "DecodedMessage", "NodeApi"]
