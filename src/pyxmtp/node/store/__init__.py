"""Storage of the node: the interface (:mod:`.base`) and the embedded SQLite backend (:mod:`.sqlite`)."""

from .base import (
    MAX_PAGE_SIZE,
    CommitLogRecord,
    GroupMessageFields,
    GroupMessageRecord,
    InboxLogConflict,
    InboxLogRecord,
    NewCommitLogEntry,
    NewGroupMessage,
    NewWelcome,
    Store,
    StoredGroupMessages,
    StoreError,
    StoreListener,
    WelcomeRecord,
)
from .sqlite import SqliteStore

__all__ = [
    "MAX_PAGE_SIZE",
    "CommitLogRecord",
    "GroupMessageFields",
    "GroupMessageRecord",
    "InboxLogConflict",
    "InboxLogRecord",
    "NewCommitLogEntry",
    "NewGroupMessage",
    "NewWelcome",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreListener",
    "StoredGroupMessages",
    "WelcomeRecord",
]
