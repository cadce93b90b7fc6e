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

from collections.abc import Iterable
from pathlib import Path

from pyxmtp.conversations.archive import ArchiveElementKind, ArchiveLimits, ArchiveMetadata

from ..context import ClientContext
from .importing import archive_file_metadata, import_archive_file, import_archive_stream, merge_consent
from .options import DEFAULT_ELEMENTS, ArchiveOptions, ChunkSink, ImportSummary, check_key
from .writing import create_archive_file, write_archive

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
        another key) when the archive cannot be read: then nothing is imported. The import is one transaction
        run without awaiting (no other task writes meanwhile): about 0.2 s per 10 000 messages on a small VM."""
        return import_archive_file(self.ctx, path, key, limits=limits)

    async def archive_metadata(self, path: str | Path, key: bytes) -> ArchiveMetadata:
        """The metadata of the archive in the file ``path`` (its header and first record only)."""
        return archive_file_metadata(path, key)
