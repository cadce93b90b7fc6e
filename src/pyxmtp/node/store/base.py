"""The node's storage interface: what the gRPC services need, nothing about SQL.

Every method is a coroutine. Writes are durable when they return (committed, and synced as the backend's
durability setting says). Ids come from one increasing sequence per table, so within a group (or installation,
inbox, commit log) they increase in insertion order; queries page by id exactly as xmtp-node-go does
(ascending: ``id > cursor``; descending: ``id < cursor``; cursor 0 = from the start or the end).

Records are named tuples (immutable, and cheap to build on the hot path).

Listeners (:meth:`Store.add_listener`) are called on the event loop with the records of each committed write,
in commit order, before the writing coroutine resumes: that is what feeds live subscriptions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple, Protocol

#: A query page holds at most this many rows (xmtp-node-go's ``maxPageSize``).
MAX_PAGE_SIZE = 100


class StoreError(Exception):
    """A storage operation failed for a reason the caller can report (not a bug)."""


class InboxLogConflict(StoreError):
    """The inbox log changed between reading it and appending to it (another writer won); retry."""


class NewGroupMessage(NamedTuple):
    group_id: bytes
    data: bytes
    sender_hmac: bytes
    should_push: bool
    is_commit: bool


class GroupMessageRecord(NamedTuple):
    id: int
    created_ns: int
    group_id: bytes
    data: bytes
    sender_hmac: bytes
    should_push: bool
    is_commit: bool


class NewWelcome(NamedTuple):
    """A welcome (``is_pointer`` False: WelcomeMessage.V1) or a welcome pointer (``data`` is the pointer)."""

    installation_key: bytes
    data: bytes
    hpke_public_key: bytes
    wrapper_algorithm: int
    welcome_metadata: bytes
    is_pointer: bool


class WelcomeRecord(NamedTuple):
    id: int
    created_ns: int
    installation_key: bytes
    data: bytes
    hpke_public_key: bytes
    wrapper_algorithm: int
    welcome_metadata: bytes
    is_pointer: bool


class InboxLogRecord(NamedTuple):
    sequence_id: int
    inbox_id: str
    server_timestamp_ns: int
    update: bytes  # serialized xmtp.identity.associations.IdentityUpdate


class NewCommitLogEntry(NamedTuple):
    group_id: bytes
    entry: bytes  # serialized PlaintextCommitLogEntry
    signature: bytes  # serialized RecoverableEd25519Signature


class CommitLogRecord(NamedTuple):
    id: int
    group_id: bytes
    entry: bytes
    signature: bytes


class StoreListener(Protocol):
    def group_messages_stored(self, records: Sequence[GroupMessageRecord]) -> None: ...

    def welcomes_stored(self, records: Sequence[WelcomeRecord]) -> None: ...


class Store(ABC):
    """Durable storage of the node. Implementations: :class:`pyxmtp.node.store.sqlite.SqliteStore`."""

    def __init__(self) -> None:
        self._listeners: list[StoreListener] = []

    def add_listener(self, listener: StoreListener) -> None:
        self._listeners.append(listener)

    def _notify_group_messages(self, records: Sequence[GroupMessageRecord]) -> None:
        if records:
            for listener in self._listeners:
                listener.group_messages_stored(records)

    def _notify_welcomes(self, records: Sequence[WelcomeRecord]) -> None:
        if records:
            for listener in self._listeners:
                listener.welcomes_stored(records)

    # --- group messages -------------------------------------------------------------------------------------
    @abstractmethod
    async def insert_group_messages(self, messages: Sequence[NewGroupMessage]) -> list[GroupMessageRecord]:
        """Insert all in one transaction, in order; a payload already stored (same group id and data, also
        earlier in the same batch) is skipped. Returns the inserted records."""

    @abstractmethod
    async def query_group_messages(
        self, group_id: bytes, *, descending: bool, cursor: int, limit: int
    ) -> list[GroupMessageRecord]: ...

    @abstractmethod
    async def newest_group_messages(self, group_ids: Sequence[bytes]) -> list[GroupMessageRecord | None]:
        """The newest message of each group, in request order (None for a group with none)."""

    # --- welcomes -------------------------------------------------------------------------------------------
    @abstractmethod
    async def insert_welcomes(self, welcomes: Sequence[NewWelcome]) -> list[WelcomeRecord]:
        """As :meth:`insert_group_messages`, deduplicated by (installation key, data)."""

    @abstractmethod
    async def query_welcomes(
        self, installation_key: bytes, *, descending: bool, cursor: int, limit: int
    ) -> list[WelcomeRecord]: ...

    # --- key packages ---------------------------------------------------------------------------------------
    @abstractmethod
    async def put_key_package(self, installation_key: bytes, key_package: bytes) -> None:
        """Make ``key_package`` the installation's current one, and append it to its history."""

    @abstractmethod
    async def fetch_key_packages(self, installation_keys: Sequence[bytes]) -> list[bytes | None]:
        """The current key package of each installation, in request order (None if unknown)."""

    @abstractmethod
    async def key_package_history(self, installation_key: bytes) -> list[bytes]:
        """Every distinct key package the installation uploaded, oldest first."""

    # --- identity -------------------------------------------------------------------------------------------
    @abstractmethod
    async def inbox_log(self, inbox_id: str) -> list[InboxLogRecord]:
        """The inbox's whole identity log, by sequence id."""

    @abstractmethod
    async def append_inbox_log(
        self,
        inbox_id: str,
        update: bytes,
        *,
        expected_length: int,
        added_addresses: Sequence[str],
        removed_addresses: Sequence[str],
    ) -> InboxLogRecord:
        """Append a verified update and maintain the address log, in one transaction.

        Raises :class:`InboxLogConflict` unless the log still has ``expected_length`` entries.
        """

    @abstractmethod
    async def identity_updates(self, requests: Sequence[tuple[str, int]]) -> list[list[InboxLogRecord]]:
        """For each ``(inbox_id, after_sequence_id)``: the entries with a larger sequence id, ascending."""

    @abstractmethod
    async def inbox_ids_for_addresses(self, addresses: Sequence[str]) -> dict[str, str]:
        """For each address: the inbox of its newest association that has not been revoked (if any)."""

    # --- commit log -----------------------------------------------------------------------------------------
    @abstractmethod
    async def insert_commit_log_entries(self, entries: Sequence[NewCommitLogEntry]) -> list[CommitLogRecord]:
        """Store verbatim, in order, in one transaction."""

    @abstractmethod
    async def query_commit_log(self, group_id: bytes, *, cursor: int, limit: int) -> list[CommitLogRecord]:
        """Entries with ``id > cursor``, ascending."""

    # --- lifecycle ------------------------------------------------------------------------------------------
    @abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release the database; the store is unusable afterwards."""
