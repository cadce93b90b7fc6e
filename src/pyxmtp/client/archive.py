"""Archives of a client's history, in libxmtp 1.10's format (node-sdk ``createArchive`` / ``importArchive`` /
``archiveMetadata``): the conversations, their messages and the consent records, encrypted under a key the caller
holds (:mod:`pyxmtp.conversations.archive` is the format). The same functions serve device sync, which uploads an
archive for another installation of the inbox and imports the one it receives.

Writing (:func:`write_archive`) reads the database page by page and streams the archive to a file or an async
sink: the archive is never whole in memory. What goes in, as libxmtp's exporter: every group and DM (sync groups
never) created in the time range, then every application message sent in it (transcript entries left out,
messages whose disappearing time is up always left out), then every consent record. Conversations restored from
an earlier archive are written too, so archives can be chained.

Importing (:func:`import_archive_stream`) applies an archive in one database transaction, after it was read to
the end: a tampered, truncated, over-limit archive or one for another key raises an
:class:`~pyxmtp.conversations.archive.ArchiveError` and imports nothing. The rules are libxmtp's:

- a group or DM this installation holds (live or restored) keeps everything it has; one it does not becomes a
  *restored* conversation (libxmtp's membership state ``Restored``): listed and readable
  (:class:`~.restored.RestoredConversation`), but without MLS state, so it cannot send or sync
  (:class:`~.errors.ConversationRestored`) until a welcome brings the real group, which then takes its place and
  keeps the imported messages;
- messages are added by id: one held already (ours, or from an earlier import) is left as it is; one whose
  conversation is neither held nor in the archive is skipped;
- consent: a record for an entity without one is added; one that differs replaces the held state only if it is
  newer (libxmtp's ``insert_newer_consent_record``);
- elements libxmtp would skip (a DM without ``dm_id``, an address consent, unknown values) are skipped and
  counted; a sync group is never restored.

Secrets: the key is used and dropped (never logged, stored or shown in a ``repr``); archive files are written
owner-only (0600); an archive spooled from a stream is deleted once imported, or when the import fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import tempfile
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeAlias

from pyxmtp.conversations.archive import (
    ARCHIVE_VERSION,
    KEY_SIZE,
    ArchiveArgumentError,
    ArchiveElement,
    ArchiveElementKind,
    ArchiveLimitError,
    ArchiveLimits,
    ArchiveMetadata,
    ArchiveReader,
    ArchiveRecord,
    ArchiveTruncatedError,
    ArchiveWriter,
    ConsentEntityType,
    ConsentRecord,
    ConsentState,
    ConversationKind,
    DeliveryStatus,
    GroupRecord,
    MembershipState,
    MessageKind,
    MessageRecord,
    SkippedElement,
)
from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType

from . import records as rows
from .context import ClientContext
from .store_archive import RestoredRecord

__all__ = [
    "DEFAULT_ELEMENTS",
    "ArchiveOptions",
    "ChunkSink",
    "ImportSummary",
    "archive_file_metadata",
    "check_key",
    "create_archive_file",
    "import_archive_file",
    "import_archive_stream",
    "merge_consent",
    "write_archive",
]

log = logging.getLogger("pyxmtp.client.archive")

#: What an archive holds unless told otherwise (every SDK's default).
DEFAULT_ELEMENTS: tuple[ArchiveElementKind, ...] = (ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT)
#: Messages read from the database per page while writing.
PAGE = 500
#: Bytes read from a file per step while importing.
READ_CHUNK = 64 * 1024
#: The mutable-metadata attributes libxmtp applies to a restored group.
RESTORED_ATTRIBUTES = ("group_name", "group_image_url_square", "description", "app_data")
#: libxmtp's content-type names (``content_type`` of a message); other types are archived as ``unknown``.
KNOWN_CONTENT_TYPES = frozenset(
    {
        "text",
        "markdown",
        "group_membership_change",
        "group_updated",
        "reaction",
        "readReceipt",
        "reply",
        "attachment",
        "remoteStaticAttachment",
        "transactionReference",
        "walletSendCalls",
        "leave_request",
        "actions",
        "intent",
        "multiRemoteStaticAttachment",
        "deleteMessage",
    }
)
#: How many skip reasons an :class:`ImportSummary` keeps.
_REASONS_KEPT = 20
_OWNER_ONLY = 0o600

#: Where archive bytes go: a binary file (or anything with ``write``, sync or async), or an async callable.
ChunkSink: TypeAlias = BinaryIO | Callable[[bytes], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class ArchiveOptions:
    """What an archive holds (libxmtp's ``ArchiveOptions``): ``elements`` in this order (messages: the
    conversations, then their messages; consent: every consent record); messages sent (and conversations created)
    after ``start_ns`` (exclusive) and up to ``end_ns`` (inclusive); with ``exclude_disappearing_messages`` no
    message of a conversation's disappearing period."""

    elements: tuple[ArchiveElementKind, ...] = DEFAULT_ELEMENTS
    start_ns: int | None = None
    end_ns: int | None = None
    exclude_disappearing_messages: bool = False

    def __post_init__(self) -> None:
        for kind in self.elements:
            if kind not in DEFAULT_ELEMENTS:
                raise ArchiveArgumentError(f"element kind {kind!r} cannot be archived (MESSAGES, CONSENT)")
        if self.start_ns is not None and self.end_ns is not None and self.end_ns < self.start_ns:
            raise ArchiveArgumentError(f"end_ns {self.end_ns} is before start_ns {self.start_ns}")


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did: the archive's metadata; conversations restored (new) and already held; messages
    added, already held (duplicates) and skipped for want of their conversation; consent records that changed a
    state and that did not; elements skipped (``skipped_reasons``: the first few reasons, naming the record)."""

    metadata: ArchiveMetadata
    conversations_restored: int = 0
    conversations_held: int = 0
    messages_imported: int = 0
    messages_duplicate: int = 0
    messages_without_conversation: int = 0
    consent_changed: int = 0
    consent_unchanged: int = 0
    skipped: int = 0
    skipped_reasons: tuple[str, ...] = field(default=())


def check_key(key: object) -> bytes:
    """The archive key as bytes; :class:`ArchiveArgumentError` (misuse) if it is not bytes or is shorter than 32
    bytes. As libxmtp, a longer key is accepted and only its first 32 bytes are used (a key an app keeps for
    libxmtp opens the same archives here)."""
    if not isinstance(key, bytes | bytearray | memoryview):
        raise ArchiveArgumentError(f"an archive key must be bytes, not {type(key).__name__}")
    if len(key) < KEY_SIZE:
        raise ArchiveArgumentError(f"an archive key must be at least {KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)


# ---------------------------------------------------------------------------------------------------------------
# writing


_DELIVERY_OUT = {
    rows.DeliveryStatus.UNPUBLISHED: DeliveryStatus.UNPUBLISHED,
    rows.DeliveryStatus.PUBLISHED: DeliveryStatus.PUBLISHED,
    rows.DeliveryStatus.FAILED: DeliveryStatus.FAILED,
}
_CONSENT_OUT = {0: ConsentState.UNKNOWN, 1: ConsentState.ALLOWED, 2: ConsentState.DENIED}
_CONSENT_IN = {v: k for k, v in _CONSENT_OUT.items()}


def _in_range(options: ArchiveOptions, ns: int) -> bool:
    return (options.start_ns is None or ns > options.start_ns) and (
        options.end_ns is None or ns <= options.end_ns
    )


def _dm_id(one: str, two: str) -> str:
    return "dm:" + ":".join(sorted([one.lower(), two.lower()]))


@dataclass(slots=True)
class _Source:
    """The conversations an archive is written from: each one's group record (None when outside the time range:
    its messages go all the same, as libxmtp's) and disappearing setting."""

    groups: dict[bytes, GroupRecord | None] = field(default_factory=dict)
    disappearing: dict[bytes, tuple[int, int]] = field(default_factory=dict)


def _live_group(ctx: ClientContext, record: rows.ConversationRecord, last: int | None) -> GroupRecord | None:
    core = CoreConversation.from_bytes(record.state, ctx.inbox_id)
    kind = core.conversation_type
    if kind not in (ConversationType.GROUP, ConversationType.DM):
        return None
    meta = core.context.metadata
    mutable = core.context.mutable
    peer = core.dm_peer if kind is ConversationType.DM else None
    disappearing = mutable.disappearing
    return GroupRecord(
        id=record.group_id,
        created_at_ns=record.created_ns,
        conversation_type=ConversationKind(int(kind)),
        membership_state=(
            MembershipState.ALLOWED if record.added_by == ctx.inbox_id else MembershipState.PENDING
        ),
        creator_inbox_id=meta.creator_inbox_id,
        attributes=dict(mutable.attributes),
        admins=tuple(mutable.admins),
        super_admins=tuple(mutable.super_admins),
        added_by_inbox_id=record.added_by,
        dm_id=None if peer is None else _dm_id(ctx.inbox_id, peer),
        last_message_ns=last,
        message_disappear_from_ns=None if disappearing is None else disappearing[0],
        message_disappear_in_ns=None if disappearing is None else disappearing[1],
    )


def _restored_group(record: RestoredRecord, last: int | None) -> GroupRecord:
    attributes = dict(record.attributes)
    if record.disappear_from_ns is not None and record.disappear_in_ns is not None:
        attributes["message_disappear_from_ns"] = str(record.disappear_from_ns)
        attributes["message_disappear_in_ns"] = str(record.disappear_in_ns)
    newest = max((t for t in (last, record.last_message_ns) if t is not None), default=None)
    return GroupRecord(
        id=record.group_id,
        created_at_ns=record.created_ns,
        conversation_type=ConversationKind(record.conversation_type),
        membership_state=MembershipState.RESTORED,
        creator_inbox_id=record.creator_inbox_id,
        attributes=attributes,
        added_by_inbox_id=record.added_by,
        dm_id=record.dm_id,
        last_message_ns=newest,
        message_disappear_from_ns=record.disappear_from_ns,
        message_disappear_in_ns=record.disappear_in_ns,
    )


def _source(ctx: ClientContext, options: ArchiveOptions) -> _Source:
    store = ctx.store
    last = store.last_message_ns()
    source = _Source()
    for group_id in store.conversation_ids():
        record = store.conversation(group_id)
        if record is None:  # pragma: no cover - deleted meanwhile
            continue
        group = _live_group(ctx, record, last.get(group_id))
        if group is None:
            continue
        source.groups[group_id] = group if _in_range(options, group.created_at_ns) else None
        if group.message_disappear_from_ns and group.message_disappear_in_ns:
            source.disappearing[group_id] = (group.message_disappear_from_ns, group.message_disappear_in_ns)
    for restored in store.restored_all():
        if restored.group_id in source.groups:  # pragma: no cover - a welcome replaced it meanwhile
            continue
        group = _restored_group(restored, last.get(restored.group_id))
        source.groups[restored.group_id] = group if _in_range(options, group.created_at_ns) else None
        if restored.disappear_from_ns and restored.disappear_in_ns:
            source.disappearing[restored.group_id] = (restored.disappear_from_ns, restored.disappear_in_ns)
    return source


def _message(record: rows.MessageRecord) -> MessageRecord:
    ctype = record.content_type
    known = ctype is not None and ctype.authority_id == "xmtp.org" and ctype.type_id in KNOWN_CONTENT_TYPES
    return MessageRecord(
        id=record.message_id,
        group_id=record.group_id,
        content=record.content,
        sent_at_ns=record.sent_ns,
        sender_inbox_id=record.sender_inbox_id,
        sender_installation_id=record.sender_installation,
        content_type=ctype.type_id if known and ctype is not None else "unknown",
        authority_id="" if ctype is None else ctype.authority_id,
        version_major=0 if ctype is None else ctype.version_major,
        version_minor=0 if ctype is None else ctype.version_minor,
        kind=MessageKind.APPLICATION,
        delivery_status=_DELIVERY_OUT[record.delivery_status],
        reference_id=record.reference_id,
        sequence_id=record.server_id or 0,
        originator_id=10,  # libxmtp's originator of application messages
    )


def _kept(options: ArchiveOptions, source: _Source, record: rows.MessageRecord, now_ns: int) -> bool:
    if record.group_id not in source.groups:  # a sync group's, or a conversation no longer held
        return False
    setting = source.disappearing.get(record.group_id)
    if setting is None or record.sent_ns < setting[0]:
        return True
    if options.exclude_disappearing_messages:
        return False
    return record.sent_ns + setting[1] > now_ns  # time not up yet


def _message_pages(
    ctx: ClientContext, options: ArchiveOptions, source: _Source, now_ns: int
) -> Iterator[list[ArchiveRecord]]:
    after = b""
    while True:
        page = ctx.store.application_messages_after(after, PAGE, options.start_ns, options.end_ns)
        if not page:
            return
        after = page[-1].message_id
        yield [_message(r) for r in page if _kept(options, source, r, now_ns)]


def _consents(ctx: ClientContext) -> list[ConsentRecord]:
    out = []
    for row in sorted(ctx.store.consents(), key=lambda r: (r.entity_type, r.entity)):
        state = _CONSENT_OUT.get(row.state)
        if state is None or row.entity_type not in (rows.CONSENT_CONVERSATION, rows.CONSENT_INBOX):
            continue  # pragma: no cover - only this client writes the table
        out.append(ConsentRecord(ConsentEntityType(row.entity_type), state, row.entity, row.updated_ns))
    return out


def _record_pages(ctx: ClientContext, options: ArchiveOptions, now_ns: int) -> Iterator[list[ArchiveRecord]]:
    """The archive's records after the metadata, in pages (see the module docstring for the order)."""
    for kind in options.elements:
        if kind is ArchiveElementKind.MESSAGES:
            source = _source(ctx, options)
            yield [g for _, g in sorted(source.groups.items()) if g is not None]
            yield from _message_pages(ctx, options, source, now_ns)
        elif kind is ArchiveElementKind.CONSENT:
            yield list(_consents(ctx))


async def _emit(out: ChunkSink, data: bytes) -> None:
    if not data:
        return
    write = getattr(out, "write", None)
    result = write(data) if write is not None else out(data)  # type: ignore[operator]
    if inspect.isawaitable(result):
        await result


async def write_archive(
    ctx: ClientContext, out: ChunkSink, key: bytes, options: ArchiveOptions | None = None
) -> ArchiveMetadata:
    """Write the client's archive (see the module docstring) to ``out``: a binary file (or anything with a
    ``write`` method, plain or async) or an async callable taking each chunk. The metadata written.

    ``key``: at least 32 bytes (:func:`check_key`). Between pages the event loop runs (other tasks go on)."""
    key = check_key(key)
    options = options or ArchiveOptions()
    now = ctx.clock_ns()
    metadata = ArchiveMetadata(options.elements, now, options.start_ns, options.end_ns, ARCHIVE_VERSION)
    writer = ArchiveWriter(key, metadata, rng=ctx.rng)
    del key
    counts = 0
    for page in _record_pages(ctx, options, now):
        data = bytearray()
        for record in page:
            data += writer.write(record)
        counts += len(page)
        await _emit(out, bytes(data))
        await asyncio.sleep(0)
    await _emit(out, writer.finish())
    log.info("archive written: %d records", counts)
    return metadata


def _create_owner_only(path: Path) -> BinaryIO:
    """A new file ``path`` (which must not exist) opened for writing, owner-only (0600) whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _OWNER_ONLY)
    try:
        os.fchmod(fd, _OWNER_ONLY)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


async def create_archive_file(
    ctx: ClientContext, path: str | Path, key: bytes, options: ArchiveOptions | None = None
) -> ArchiveMetadata:
    """Write the archive to the file ``path``, owner-only. It is written beside it under a temporary name and
    renamed over ``path`` once complete and synced: a write that fails leaves no partial archive, and an earlier
    archive at ``path`` stays as it was."""
    key = check_key(key)
    target = Path(path)
    partial = target.with_name(f".{target.name}.{ctx.rng(8).hex()}.partial")
    try:
        with _create_owner_only(partial) as out:
            metadata = await write_archive(ctx, out, key, options)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return metadata


# ---------------------------------------------------------------------------------------------------------------
# importing


def merge_consent(ctx: ClientContext, record: ConsentRecord) -> bool:
    """Apply one consent record by libxmtp's rule (``insert_newer_consent_record``), inside the caller's
    transaction: added when the entity has none; when it has another state, replaced only if the held one is
    older than ``record.consented_at_ns``. Whether a state changed."""
    entity = (
        record.entity.lower() if record.entity_type is ConsentEntityType.CONVERSATION_ID else record.entity
    )
    state = _CONSENT_IN[record.state]
    held = ctx.store.consent(int(record.entity_type), entity)
    if held is not None and (held.state == state or held.updated_ns >= record.consented_at_ns):
        return False
    ctx.store.set_consent(rows.ConsentRecord(int(record.entity_type), entity, state, record.consented_at_ns))
    return True


_DELIVERY_IN = {
    DeliveryStatus.PUBLISHED: rows.DeliveryStatus.PUBLISHED,
    DeliveryStatus.FAILED: rows.DeliveryStatus.FAILED,
    # another installation's message still waiting to be published: this one can never publish it
    DeliveryStatus.UNPUBLISHED: rows.DeliveryStatus.FAILED,
    DeliveryStatus.UNSPECIFIED: rows.DeliveryStatus.PUBLISHED,
}


class _Importer:
    """Applies an archive's elements, as they are read, inside one transaction."""

    def __init__(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        self.known: set[bytes] = set()  # conversations held or restored, as found
        self.last_message: dict[bytes, int] = {}
        self.counts = {
            "conversations_restored": 0,
            "conversations_held": 0,
            "messages_imported": 0,
            "messages_duplicate": 0,
            "messages_without_conversation": 0,
            "consent_changed": 0,
            "consent_unchanged": 0,
            "skipped": 0,
        }
        self.reasons: list[str] = []

    def skip(self, reason: str) -> None:
        self.counts["skipped"] += 1
        if len(self.reasons) < _REASONS_KEPT:
            self.reasons.append(reason)

    def held(self, group_id: bytes) -> bool:
        if group_id in self.known:
            return True
        store = self.ctx.store
        if store.conversation(group_id) is not None or store.restored(group_id) is not None:
            self.known.add(group_id)
            return True
        return False

    def apply(self, index: int, element: ArchiveElement) -> None:
        if isinstance(element, SkippedElement):
            self.skip(f"record {element.index}: {element.reason}")
        elif isinstance(element, GroupRecord):
            self.group(index, element)
        elif isinstance(element, MessageRecord):
            self.message(element)
        elif isinstance(element, ConsentRecord):
            key = "consent_changed" if merge_consent(self.ctx, element) else "consent_unchanged"
            self.counts[key] += 1

    def group(self, index: int, group: GroupRecord) -> None:
        if group.conversation_type is ConversationKind.SYNC:
            self.skip(f"record {index}: a sync group is never restored")
            return
        if self.held(group.id):
            self.counts["conversations_held"] += 1
            if group.last_message_ns is not None:
                self.last_message[group.id] = max(self.last_message.get(group.id, 0), group.last_message_ns)
            return
        dm_id = None
        if group.conversation_type is ConversationKind.DM:
            parts = (group.dm_id or "").split(":")
            own = self.ctx.inbox_id.lower()
            if len(parts) != 3 or parts[0] != "dm" or own not in parts[1:] or not all(parts[1:]):
                self.skip(f"record {index}: a DM whose dm_id does not name this inbox and one other")
                return
            dm_id = group.dm_id
        disappearing = (group.message_disappear_from_ns, group.message_disappear_in_ns)
        both = None not in disappearing
        restored = RestoredRecord(
            group_id=group.id,
            conversation_type=2 if dm_id is not None else 1,
            created_ns=group.created_at_ns,
            imported_ns=self.ctx.clock_ns(),
            creator_inbox_id=group.creator_inbox_id,
            added_by=group.added_by_inbox_id,
            dm_id=dm_id,
            attributes={k: group.attributes[k] for k in RESTORED_ATTRIBUTES if k in group.attributes},
            disappear_from_ns=disappearing[0] if both else None,
            disappear_in_ns=disappearing[1] if both else None,
            last_message_ns=group.last_message_ns,
        )
        self.ctx.store.add_restored(restored)
        self.known.add(group.id)
        self.counts["conversations_restored"] += 1

    def message(self, message: MessageRecord) -> None:
        if not self.held(message.group_id):
            self.counts["messages_without_conversation"] += 1
            return
        kind = (
            rows.MessageKind.MEMBERSHIP_CHANGE
            if message.kind is MessageKind.MEMBERSHIP_CHANGE
            else rows.MessageKind.APPLICATION
        )
        record = rows.MessageRecord(
            message_id=message.id,
            group_id=message.group_id,
            server_id=None,  # the node's id is not trusted from an archive (libxmtp does not take it either)
            sender_inbox_id=message.sender_inbox_id,
            sender_installation=message.sender_installation_id,
            sent_ns=message.sent_at_ns,
            content=message.content,
            delivery_status=_DELIVERY_IN[message.delivery_status],
            kind=kind,
            inserted_ns=self.ctx.clock_ns(),
        )
        added = self.ctx.store.add_message(record)
        self.counts["messages_imported" if added else "messages_duplicate"] += 1

    def finish(self, metadata: ArchiveMetadata) -> ImportSummary:
        for group_id, ns in self.last_message.items():
            self.ctx.store.raise_restored_last_message(group_id, ns)
        return ImportSummary(metadata, skipped_reasons=tuple(self.reasons), **self.counts)


def _apply(
    ctx: ClientContext, chunks: Iterable[bytes], key: bytes, limits: ArchiveLimits | None
) -> ImportSummary:
    """Read and apply the archive in one transaction (no await inside: nothing else writes meanwhile); any
    error rolls everything back."""
    reader = ArchiveReader(key, limits=limits)
    importer = _Importer(ctx)
    index = 0
    with ctx.store.transaction():
        for chunk in chunks:
            for element in reader.feed(chunk):
                index += 1
                importer.apply(index, element)
        reader.close()
        assert reader.metadata is not None
        summary = importer.finish(reader.metadata)
    return summary


def _file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(READ_CHUNK):
        yield chunk


def _summary_log(summary: ImportSummary) -> None:
    log.info(
        "archive imported: %d conversations restored, %d held; %d messages added, %d held already, %d without "
        "conversation; %d consent records changed; %d elements skipped",
        summary.conversations_restored,
        summary.conversations_held,
        summary.messages_imported,
        summary.messages_duplicate,
        summary.messages_without_conversation,
        summary.consent_changed,
        summary.skipped,
    )


def import_archive_file(
    ctx: ClientContext,
    path: str | Path,
    key: bytes,
    *,
    limits: ArchiveLimits | None = None,
    remove: bool = False,
) -> ImportSummary:
    """Import the archive in the file ``path`` (see the module docstring); with ``remove`` the file is deleted
    afterwards, imported or not (a downloaded archive)."""
    key = check_key(key)
    try:
        with open(path, "rb") as handle:
            summary = _apply(ctx, _file_chunks(handle), key, limits)
    finally:
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(path)
    _summary_log(summary)
    return summary


async def import_archive_stream(
    ctx: ClientContext,
    chunks: AsyncIterable[bytes] | bytes,
    key: bytes,
    *,
    limits: ArchiveLimits | None = None,
    max_bytes: int | None = None,
    spool_dir: str | Path | None = None,
) -> ImportSummary:
    """Import an archive given as bytes or as an async stream of chunks (an HTTP download). A stream is spooled
    to an owner-only temporary file in ``spool_dir`` (the system's by default) as it arrives, at most
    ``max_bytes`` of it (:class:`~pyxmtp.conversations.archive.ArchiveLimitError` beyond), then applied in one
    transaction; the file is deleted whatever happens."""
    key = check_key(key)
    if isinstance(chunks, bytes | bytearray | memoryview):
        data = bytes(chunks)
        if max_bytes is not None and len(data) > max_bytes:
            raise ArchiveLimitError(f"{len(data)} bytes, over the limit of {max_bytes}")
        summary = _apply(
            ctx, (data[i : i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK)), key, limits
        )
        _summary_log(summary)
        return summary
    fd, name = tempfile.mkstemp(prefix="pyxmtp-archive-", dir=spool_dir)  # created 0600
    try:
        size = 0
        with os.fdopen(fd, "wb") as spool:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ArchiveLimitError(f"more than {max_bytes} bytes")
                spool.write(chunk)
        if size == 0:
            raise ArchiveTruncatedError("the archive is empty")
        return import_archive_file(ctx, name, key, limits=limits)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def archive_file_metadata(
    path: str | Path, key: bytes, *, limits: ArchiveLimits | None = None
) -> ArchiveMetadata:
    """The metadata of the archive in the file ``path``: only its header and first record are read (libxmtp's
    ``archive_metadata``); :class:`~pyxmtp.conversations.archive.ArchiveKeyError` for another key."""
    key = check_key(key)
    reader = ArchiveReader(key, limits=limits, metadata_only=True)
    with open(path, "rb") as handle:
        for chunk in _file_chunks(handle):
            reader.feed(chunk)
            if reader.metadata is not None:
                return reader.metadata
    reader.close()
    raise ArchiveTruncatedError("the archive ends before its metadata record")  # pragma: no cover


# ---------------------------------------------------------------------------------------------------------------
# the Client's methods


class ClientArchives:
    """:class:`~.client.Client`'s archive methods (node-sdk ``createArchive``, ``importArchive``,
    ``archiveMetadata``)."""

    ctx: ClientContext

    async def create_archive(
        self,
        path: str | Path,
        key: bytes,
        elements: Iterable[ArchiveElementKind] = DEFAULT_ELEMENTS,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        exclude_disappearing_messages: bool = False,
    ) -> ArchiveMetadata:
        """Write this installation's conversations, messages and consent (as ``elements`` select; messages sent
        after ``start_ns`` and up to ``end_ns``) to the file ``path``, created owner-only, encrypted under
        ``key`` (at least 32 bytes: keep it as safe as the file is useful; it is not stored anywhere). The
        archive's metadata."""
        options = ArchiveOptions(tuple(elements), start_ns, end_ns, exclude_disappearing_messages)
        return await create_archive_file(self.ctx, path, key, options)

    async def import_archive(
        self, path: str | Path, key: bytes, *, limits: ArchiveLimits | None = None
    ) -> ImportSummary:
        """Import the archive in the file ``path`` (made by :meth:`create_archive` or by libxmtp), all of it or
        nothing: conversations this installation lacks become restored, read-only ones
        (``conversations.list_restored()``), messages are added unless held already, consent merged by
        libxmtp's rules. :class:`~pyxmtp.conversations.archive.ArchiveError` (its ``ArchiveKeyError`` for
        another key) when the archive cannot be read: then nothing is imported."""
        return import_archive_file(self.ctx, path, key, limits=limits)

    async def archive_metadata(self, path: str | Path, key: bytes) -> ArchiveMetadata:
        """The metadata of the archive in the file ``path`` (its header and first record only)."""
        return archive_file_metadata(path, key)
