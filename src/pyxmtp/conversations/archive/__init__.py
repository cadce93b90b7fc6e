"""Device-sync archives in libxmtp's format (``xmtp_archive``, libxmtp 1.10): the file ``create_archive`` writes
and ``import_archive`` reads, and the payload one installation uploads to a history server for another.

Layout (every integer little-endian)::

    archive = version (u16, 0) || nonce0 (12 random bytes) || zstd( record* )     -- one zstd frame
    record  = len (u32) || AES-256-GCM(key[:32], nonce0 + i, BackupElement bytes)  -- ciphertext || 16-byte tag

Record 0 is the metadata (:class:`ArchiveMetadata`); then, per the selected element kinds in order, the groups
and DMs (:class:`GroupRecord`) followed by their messages (:class:`MessageRecord`), and the consent records
(:class:`ConsentRecord`). Nothing here does I/O: :class:`ArchiveWriter` yields bytes, :class:`ArchiveReader`
takes them, so archives stream to and from files and HTTP bodies.
"""

from __future__ import annotations

from .cipher import KEY_SIZE
from .errors import (
    ArchiveArgumentError,
    ArchiveError,
    ArchiveKeyError,
    ArchiveLimitError,
    ArchiveTruncatedError,
)
from .reader import (
    HEADER_SIZE,
    Archive,
    ArchiveLimits,
    ArchiveReader,
    archive_metadata,
    iter_archive,
    read_archive,
)
from .records import (
    ARCHIVE_VERSION,
    ArchiveElement,
    ArchiveElementKind,
    ArchiveMetadata,
    ArchiveRecord,
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
from .writer import ArchiveWriter, encode_archive

__all__ = [
    "ARCHIVE_VERSION",
    "HEADER_SIZE",
    "KEY_SIZE",
    "Archive",
    "ArchiveArgumentError",
    "ArchiveElement",
    "ArchiveElementKind",
    "ArchiveError",
    "ArchiveKeyError",
    "ArchiveLimitError",
    "ArchiveLimits",
    "ArchiveMetadata",
    "ArchiveReader",
    "ArchiveRecord",
    "ArchiveTruncatedError",
    "ArchiveWriter",
    "ConsentEntityType",
    "ConsentRecord",
    "ConsentState",
    "ConversationKind",
    "DeliveryStatus",
    "GroupRecord",
    "MembershipState",
    "MessageKind",
    "MessageRecord",
    "SkippedElement",
    "archive_metadata",
    "encode_archive",
    "iter_archive",
    "read_archive",
]
