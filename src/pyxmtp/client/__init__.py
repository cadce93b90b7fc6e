"""The asyncio XMTP client SDK, at node-sdk 6.0's surface the Python way (snake_case, asyncio, typed).

- :class:`Client` (one installation): :meth:`Client.create` / :meth:`Client.build`, registration, inbox
  lookups and states, managing the inbox (linked accounts, installations, the recovery identifier: the methods
  over :mod:`.inbox`); ``client.conversations`` (:class:`Conversations`: sync, list, find, create, streams) and
  ``client.preferences`` (:class:`Preferences`: consent, inbox states).
- :class:`Conversation` with :class:`Group` and :class:`Dm`: sync, send (every content type, optimistically or
  not), messages (:class:`DecodedMessage`, enriched with reactions and replies), members, consent, disappearing
  messages, a live :meth:`Conversation.stream`.
- :class:`Stream`: every stream is an async iterator with ``close()`` that also works as ``async with``.
- Archives (:mod:`.archive`, libxmtp's format): :meth:`Client.create_archive`, :meth:`Client.import_archive`
  (an :class:`ImportSummary`), :meth:`Client.archive_metadata`; conversations known only from an archive are
  :class:`RestoredConversation` (``client.conversations.list_restored()``), read-only
  (:class:`ConversationRestored`) until a welcome brings them.

Errors a caller may see: :class:`ApiCallError` (the node refused or could not be reached; :class:`NodeUnavailable`
when it stayed unreachable for the whole call timeout), and its :class:`MessageNotPublished` (a message of ours
stored but not published: kept for the next sync, or refused for good), :class:`MessageTooLarge` and
:class:`InactiveConversation` (nothing sent), :class:`MembershipUpdateError` (a membership change that cannot be
made), :class:`CommitConflict` (our commit lost its epoch three times running), :class:`NotRegistered`,
:class:`InboxOperationError` (an identity change that cannot be made as asked; :class:`InboxNotFound` for inboxes
without an identity log) and the identity layer's typed errors for changes its rules refuse, the archive format's
:class:`~pyxmtp.conversations.archive.ArchiveError` (an archive that cannot be read: nothing imported) and
:class:`~pyxmtp.conversations.archive.ArchiveArgumentError` (a key shorter than 32 bytes),
:class:`ClientStoreError` (the database cannot be opened as asked), and the MLS layer's typed errors for what peers
send (logged and passed over by ``sync``). Every message has a :class:`DeliveryStatus`.
"""

from pyxmtp.conversations.admin import (
    ChangeRefused,
    GroupPermissions,
    GroupPermissionsOptions,
    PermissionPolicy,
    PermissionPolicySet,
    PermissionUpdateType,
)

from .api import ApiCallError, NodeApi, NodeUnavailable
from .archive import ArchiveOptions, ImportSummary
from .client import Client
from .consent import Consent, ConsentEntityType, ConsentState
from .content_fields import MessageKind
from .conversation import Conversation, ConversationMetadata, DisappearingSettings, HmacKey
from .conversations import Conversations, GroupPermissionsPreset, ListOrder, SyncSummary
from .device_sync import (
    ConsentUpdate,
    DeviceSync,
    ForeignSyncGroup,
    HistoryServerError,
    HistorySyncError,
    HmacKeyUpdate,
    SyncReplyRefused,
)
from .dm import Dm
from .errors import (
    CommitConflict,
    ConsumerBusy,
    ConversationRestored,
    InactiveConversation,
    MembershipUpdateError,
    MessageNotPublished,
    MessageTooLarge,
    NotRegistered,
)
from .group import Group
from .inbox import InboxNotFound, InboxOperationError, InstallationsUpdate
from .key_package_status import KeyPackageStatus
from .members import GroupMember, InboxState, InstallationInfo, PermissionLevel
from .messages import DecodedMessage, EnrichedReply, SortDirection
from .preferences import Preferences
from .records import DeliveryStatus
from .restored import RestoredConversation
from .store import ClientStore, ClientStoreError
from .streams import Stream, StreamClosed

#: The name of a conversation before node-sdk's classes (a :class:`Conversation`).
ClientConversation = Conversation

__all__ = [
    "ApiCallError",
    "ArchiveOptions",
    "ChangeRefused",
    "Client",
    "ClientConversation",
    "ClientStore",
    "ClientStoreError",
    "CommitConflict",
    "Consent",
    "ConsentEntityType",
    "ConsentState",
    "ConsentUpdate",
    "ConsumerBusy",
    "Conversation",
    "ConversationMetadata",
    "ConversationRestored",
    "Conversations",
    "DecodedMessage",
    "DeliveryStatus",
    "DeviceSync",
    "DisappearingSettings",
    "Dm",
    "EnrichedReply",
    "ForeignSyncGroup",
    "Group",
    "GroupMember",
    "GroupPermissions",
    "GroupPermissionsOptions",
    "GroupPermissionsPreset",
    "HistoryServerError",
    "HistorySyncError",
    "HmacKey",
    "HmacKeyUpdate",
    "ImportSummary",
    "InactiveConversation",
    "InboxNotFound",
    "InboxOperationError",
    "InboxState",
    "InstallationInfo",
    "InstallationsUpdate",
    "KeyPackageStatus",
    "ListOrder",
    "MembershipUpdateError",
    "MessageKind",
    "MessageNotPublished",
    "MessageTooLarge",
    "NodeApi",
    "NodeUnavailable",
    "NotRegistered",
    "PermissionLevel",
    "PermissionPolicy",
    "PermissionPolicySet",
    "PermissionUpdateType",
    "Preferences",
    "RestoredConversation",
    "SortDirection",
    "Stream",
    "StreamClosed",
    "SyncReplyRefused",
    "SyncSummary",
]
