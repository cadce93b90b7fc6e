"""Writing a client's archive from its database, page by page (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pyxmtp.conversations.archive import (
    ARCHIVE_VERSION,
    ArchiveElementKind,
    ArchiveMetadata,
    ArchiveRecord,
    ArchiveWriter,
    ConsentEntityType,
    ConsentRecord,
    ConversationKind,
    DeliveryStatus,
    GroupRecord,
    MembershipState,
    MessageKind,
    MessageRecord,
)
from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType

from .. import records as rows
from ..context import ClientContext
from ..store_archive import RestoredRecord
from .options import CONSENT_OUT, KNOWN_CONTENT_TYPES, OWNER_ONLY, PAGE, ArchiveOptions, ChunkSink, check_key

log = logging.getLogger("pyxmtp.client.archive")


_DELIVERY_OUT = {
    rows.DeliveryStatus.UNPUBLISHED: DeliveryStatus.UNPUBLISHED,
    rows.DeliveryStatus.PUBLISHED: DeliveryStatus.PUBLISHED,
    rows.DeliveryStatus.FAILED: DeliveryStatus.FAILED,
}


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
            MembershipState.PENDING_REMOVE
            if ctx.store.leave_requested(record.group_id)
            else MembershipState.ALLOWED
            if record.added_by == ctx.inbox_id
            else MembershipState.PENDING
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
        state = CONSENT_OUT.get(row.state)
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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    try:
        os.fchmod(fd, OWNER_ONLY)
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
