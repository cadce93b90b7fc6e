"""Importing an archive into a client's database, in one transaction (see the package docstring)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from pyxmtp.conversations.archive import (
    ArchiveElement,
    ArchiveLimitError,
    ArchiveLimits,
    ArchiveMetadata,
    ArchiveReader,
    ArchiveTruncatedError,
    ConsentEntityType,
    ConsentRecord,
    ConversationKind,
    DeliveryStatus,
    GroupRecord,
    MessageKind,
    MessageRecord,
    SkippedElement,
)

from .. import records as rows
from ..context import ClientContext
from ..store_archive import RestoredRecord
from .options import CONSENT_IN, READ_CHUNK, REASONS_KEPT, RESTORED_ATTRIBUTES, ImportSummary, check_key

log = logging.getLogger("pyxmtp.client.archive")


def merge_consent(ctx: ClientContext, record: ConsentRecord) -> bool:
    """Apply one consent record by libxmtp's rule (``insert_newer_consent_record``), inside the caller's
    transaction: added when the entity has none; when it has another state, replaced only if the held one is
    older than ``record.consented_at_ns``. Whether a state changed."""
    entity = (
        record.entity.lower() if record.entity_type is ConsentEntityType.CONVERSATION_ID else record.entity
    )
    state = CONSENT_IN[record.state]
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
        if len(self.reasons) < REASONS_KEPT:
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
