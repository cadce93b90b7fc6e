"""Storage of the node: the interface (:mod:`.base`), the embedded SQLite backend (:mod:`.sqlite`, the
default) and the PostgreSQL backend (:mod:`.postgres`, needs the ``postgres`` extra; imported only when a node
is given a database URL, so ``asyncpg`` stays optional)."""

from .base import (
    MAX_PAGE_SIZE,
    RECORD_OVERHEAD,
    CommitLogRecord,
    GroupMessageFields,
    GroupMessageRecord,
    InboxLogConflict,
    InboxLogRecord,
    NewCommitLogEntry,
    NewGroupMessage,
    NewWelcome,
    ReplyTooLarge,
    Rows,
    Store,
    StoredGroupMessages,
    StoreError,
    StoreListener,
    WelcomeRecord,
    commit_log_bytes,
    group_message_bytes,
    take_page,
    welcome_bytes,
)
from .sqlite import SqliteStore

__all__ = [
    "MAX_PAGE_SIZE",
    "RECORD_OVERHEAD",
    "CommitLogRecord",
    "GroupMessageFields",
    "GroupMessageRecord",
    "InboxLogConflict",
    "InboxLogRecord",
    "NewCommitLogEntry",
    "NewGroupMessage",
    "NewWelcome",
    "ReplyTooLarge",
    "Rows",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreListener",
    "StoredGroupMessages",
    "WelcomeRecord",
    "commit_log_bytes",
    "group_message_bytes",
    "take_page",
    "welcome_bytes",
]
