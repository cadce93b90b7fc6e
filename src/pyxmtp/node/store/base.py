"""The node's storage interface: what the gRPC services need, nothing about SQL.

Every method is a coroutine. Writes are durable when they return (committed, and synced as the backend's
durability setting says). Ids come from one increasing sequence per table, so within a group (or installation,
inbox, commit log) they increase in insertion order; queries page by id exactly as xmtp-node-go does
(ascending: ``id > cursor``; descending: ``id < cursor``; cursor 0 = from the start or the end).

Records are named tuples (immutable, and cheap to build on the hot path).

Listeners (:meth:`Store.add_listener`) are called on the event loop with the records of each committed write,
in id order within each group (installation), and that is what feeds live subscriptions. The SQLite store calls
them with every write of its process, before the writing coroutine resumes. The PostgreSQL store, which several
node processes may share, calls them with what any of them committed, but only for the keys someone
:meth:`Store.watch`-es (a live subscription, while it runs), and read back from the database after the commit.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, overload

#: A query page holds at most this many rows (xmtp-node-go's ``maxPageSize``).
MAX_PAGE_SIZE = 100
#: What a record adds to a reply besides its variable-length fields, at most: protobuf tags and lengths, the id,
#: created_ns, the flags and the wrapping messages (a GroupMessage in a reply takes at most 56 bytes of them).
RECORD_OVERHEAD = 96


class StoreError(Exception):
    """A storage operation failed for a reason the caller can report (not a bug)."""


class ReplyTooLarge(Exception):
    """The records a read must return together (one per requested key) come to more than its byte budget."""


class InboxLogConflict(StoreError):
    """The inbox log changed between reading it and appending to it (another writer won); retry."""


class NewGroupMessage(NamedTuple):
    group_id: bytes
    data: bytes
    sender_hmac: bytes
    should_push: bool
    is_commit: bool


#: A :class:`NewGroupMessage`, or a plain tuple of its fields (what validation builds on the hot path).
GroupMessageFields = tuple[bytes, bytes, bytes, bool, bool]


class GroupMessageRecord(NamedTuple):
    id: int
    created_ns: int
    group_id: bytes
    data: bytes
    sender_hmac: bytes
    should_push: bool
    is_commit: bool


class StoredGroupMessages(Sequence[GroupMessageRecord]):
    """The records one insert stored, built only when looked at: the publishing hot path never needs them.

    ``rows`` holds ``width`` values per message offered, starting ``group_id, data``, then at ``extra`` the
    sender HMAC, should_push and is_commit; message ``i`` got id ``first_id + i``; ``inserted`` lists the indices
    of the messages actually stored (None: all of them). ``ids``, when given (with ``inserted``), are the ids of
    the stored messages, in the same order: when other writers drew ids from the sequence at the same time, a
    batch's ids are increasing but not contiguous.
    """

    __slots__ = ("_count", "_extra", "_first_id", "_ids", "_inserted", "_rows", "_width", "created_ns")

    def __init__(
        self,
        rows: Sequence[Any],
        width: int,
        extra: int,
        first_id: int,
        created_ns: int,
        inserted: Sequence[int] | None,
        ids: Sequence[int] | None = None,
    ) -> None:
        if ids is not None and (inserted is None or len(ids) != len(inserted)):
            raise ValueError("ids need the inserted indices, one id for each")
        self._ids = ids
        self._rows = rows
        self._width = width
        self._extra = extra
        self._first_id = first_id
        self.created_ns = created_ns
        self._inserted = inserted
        self._count = len(rows) // width if inserted is None else len(inserted)

    def _record(self, index: int, record_id: int | None = None) -> GroupMessageRecord:
        at = index * self._width
        rows, extra = self._rows, at + self._extra
        return GroupMessageRecord(
            self._first_id + index if record_id is None else record_id,
            self.created_ns,
            rows[at],
            rows[at + 1],
            rows[extra],
            bool(rows[extra + 1]),
            bool(rows[extra + 2]),
        )

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> GroupMessageRecord: ...

    @overload
    def __getitem__(self, i: slice) -> list[GroupMessageRecord]: ...

    def __getitem__(self, i: int | slice) -> GroupMessageRecord | list[GroupMessageRecord]:
        if isinstance(i, slice):
            return list(self)[i]
        if not -self._count <= i < self._count:
            raise IndexError("record index out of range")
        i %= self._count
        if self._inserted is None:
            return self._record(i)
        return self._record(self._inserted[i], None if self._ids is None else self._ids[i])

    def __iter__(self) -> Iterator[GroupMessageRecord]:
        if self._ids is not None and self._inserted is not None:
            return (self._record(i, n) for i, n in zip(self._inserted, self._ids, strict=True))
        indices = range(self._count) if self._inserted is None else self._inserted
        return (self._record(i) for i in indices)

    def group_ids(self) -> set[bytes]:
        """The distinct groups of the stored records (cheap: no record is built)."""
        rows, width = self._rows, self._width
        if self._inserted is None:
            return set(rows[0 : len(rows) : width])
        return {rows[i * width] for i in self._inserted}


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


Rec = TypeVar("Rec")


class Rows(list[Rec]):
    """A page of records: at most ``limit`` of them and, past the first, at most ``max_bytes`` of
    :func:`record_bytes`; ``cut`` is True when the byte budget ended the page before a further record."""

    cut: bool = False


def group_message_bytes(record: GroupMessageRecord) -> int:
    """An upper bound of what ``record`` adds to a reply."""
    return RECORD_OVERHEAD + len(record.group_id) + len(record.data) + len(record.sender_hmac)


def welcome_bytes(record: WelcomeRecord) -> int:
    return (
        RECORD_OVERHEAD
        + len(record.installation_key)
        + len(record.data)
        + len(record.hpke_public_key)
        + len(record.welcome_metadata)
    )


def commit_log_bytes(record: CommitLogRecord) -> int:
    return RECORD_OVERHEAD + len(record.entry) + len(record.signature)


def take_page(
    records: Iterable[Rec], limit: int, max_bytes: int | None, size: Callable[[Rec], int]
) -> Rows[Rec]:
    """The page ``records`` make: at most ``limit``, and within ``max_bytes`` (None: no budget) past the first."""
    out: Rows[Rec] = Rows()
    if limit <= 0:
        return out
    total = 0
    for record in records:
        if max_bytes is not None:
            n = size(record)
            if out and total + n > max_bytes:
                out.cut = True
                break
            total += n
        out.append(record)
        if len(out) >= limit:
            break
    return out


#: What :meth:`Store.watch` watches: the group messages of group ids, or the welcomes of installation keys.
GROUP_MESSAGES = "group_messages"
WELCOMES = "welcomes"


class StoreListener(Protocol):
    def group_messages_stored(self, records: Sequence[GroupMessageRecord]) -> None: ...

    def welcomes_stored(self, records: Sequence[WelcomeRecord]) -> None: ...


log = logging.getLogger("pyxmtp.node.store")


class FailureLog:
    """Logs the failures of a background task or of a database connection once per run of them (no traceback:
    the cause is the disk or the server, not the code), and the recovery."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._failing = False

    def failed(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.error("%s failed: %s (logged once until it succeeds again)", self._what, exc)

    def succeeded(self) -> None:
        if self._failing:
            self._failing = False
            log.info("%s succeeds again", self._what)


class QueuedWrite(Protocol):
    """A write a backend's writer ran: whom to tell of the result, and who waits for it."""

    @property
    def notify(self) -> Callable[[Any], None] | None: ...

    @property
    def future(self) -> asyncio.Future[Any]: ...


class _Write(Protocol):
    @property
    def fn(self) -> object | None: ...  # None: a group-message write


W = TypeVar("W", bound=_Write)


def runs_of_writes(batch: Sequence[W]) -> Iterator[list[W]]:
    """``batch`` in order, as lists: consecutive group-message writes together (they share a statement), every
    other write alone."""
    for messages, writes in itertools.groupby(batch, key=lambda w: w.fn is None):
        if messages:
            yield list(writes)
        else:
            yield from ([w] for w in writes)


def settle_writes(writes: Sequence[QueuedWrite], outcomes: Sequence[tuple[bool, Any]]) -> None:
    """On the event loop, after a commit: tell the listeners of each successful write, in commit order, then
    resolve the waiting calls (``outcomes``: per write, ``(True, result)`` or ``(False, exception)``)."""
    for write, (ok, value) in zip(writes, outcomes, strict=True):
        if ok and write.notify is not None:
            try:
                write.notify(value)
            except Exception:  # a listener's bug must not leave the writing call hanging
                log.exception("store listener failed")
        if write.future.cancelled():
            continue
        if ok:
            write.future.set_result(value)
        else:
            write.future.set_exception(value)


class Store(ABC):
    """Durable storage of the node. Implementations: :class:`pyxmtp.node.store.sqlite.SqliteStore` and
    :class:`pyxmtp.node.store.postgres.PostgresStore`."""

    def __init__(self) -> None:
        self._listeners: list[StoreListener] = []

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the data is, for the start-up log line (never a password)."""

    def add_listener(self, listener: StoreListener) -> None:
        self._listeners.append(listener)

    async def watch(self, kind: str, keys: Sequence[bytes]) -> None:  # noqa: B027 - optional
        """From now on, tell the listeners of every record of ``kind`` (:data:`GROUP_MESSAGES` or
        :data:`WELCOMES`) committed for one of ``keys``, whichever process wrote it, until :meth:`unwatch`
        (calls nest: each watch of a key needs its unwatch). Records committed before the call may or may not
        be told. A store that tells its listeners of every write of a store no other process shares (SQLite)
        needs nothing here."""

    def unwatch(self, kind: str, keys: Sequence[bytes]) -> None:  # noqa: B027 - optional
        """Undo one :meth:`watch` of the same keys."""

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
    async def insert_group_messages(
        self, messages: Sequence[GroupMessageFields]
    ) -> Sequence[GroupMessageRecord]:
        """Insert all in one transaction, in order; a payload already stored (same group id and data, also
        earlier in the same batch) is skipped. Returns the inserted records."""

    @abstractmethod
    async def query_group_messages(
        self, group_id: bytes, *, descending: bool, cursor: int, limit: int, max_bytes: int | None = None
    ) -> Rows[GroupMessageRecord]:
        """A page of the group's messages (see :class:`Rows` for ``limit`` and ``max_bytes``). Rows beyond the
        page are not read into memory."""

    @abstractmethod
    async def newest_group_messages(
        self, group_ids: Sequence[bytes], *, include_content: bool = True, max_bytes: int | None = None
    ) -> list[GroupMessageRecord | None]:
        """The newest message of each group, in request order (None for a group with none). Without content
        the records have empty data and sender HMAC (and the payloads are not read). Raises
        :class:`ReplyTooLarge` if the records come to more than ``max_bytes``."""

    # --- welcomes -------------------------------------------------------------------------------------------
    @abstractmethod
    async def insert_welcomes(self, welcomes: Sequence[NewWelcome]) -> list[WelcomeRecord]:
        """As :meth:`insert_group_messages`, deduplicated by (installation key, data)."""

    @abstractmethod
    async def query_welcomes(
        self,
        installation_key: bytes,
        *,
        descending: bool,
        cursor: int,
        limit: int,
        max_bytes: int | None = None,
    ) -> Rows[WelcomeRecord]:
        """A page of the installation's welcomes, as :meth:`query_group_messages`."""

    # --- key packages ---------------------------------------------------------------------------------------
    @abstractmethod
    async def put_key_package(self, installation_key: bytes, key_package: bytes) -> None:
        """Make ``key_package`` the installation's current one, and append it to its history."""

    @abstractmethod
    async def fetch_key_packages(
        self, installation_keys: Sequence[bytes], *, max_bytes: int | None = None
    ) -> list[bytes | None]:
        """The current key package of each installation, in request order (None if unknown). Raises
        :class:`ReplyTooLarge` if they come to more than ``max_bytes``."""

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
    async def query_commit_log(
        self, group_id: bytes, *, cursor: int, limit: int, max_bytes: int | None = None
    ) -> Rows[CommitLogRecord]:
        """Entries with ``id > cursor``, ascending, paged as :meth:`query_group_messages`."""

    # --- lifecycle ------------------------------------------------------------------------------------------
    @abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release the database; the store is unusable afterwards."""
