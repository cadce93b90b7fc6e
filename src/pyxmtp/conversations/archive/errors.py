"""Errors of the device-sync archive format.

As in :mod:`pyxmtp.mls.errors`: an archive that cannot be read (a peer's, a history server's or a file's bytes)
raises an :class:`ArchiveError`, a :class:`~pyxmtp.mls.errors.RemoteMLSError`; misuse by the caller (a short key,
a record that cannot be archived, a reader used after it failed) raises :class:`ArchiveArgumentError`, a
:class:`~pyxmtp.mls.errors.LocalMLSError`. Messages say what was wrong and where (which record); they never hold
the key or any record's plaintext.
"""

from __future__ import annotations

from pyxmtp.mls.errors import LocalMLSError, RemoteMLSError


class ArchiveError(RemoteMLSError):
    """An archive that cannot be read. ``record`` is the 0-based index of the record at fault (None when the fault
    is in the header or the compression frame)."""

    def __init__(self, reason: str, *, record: int | None = None) -> None:
        self.reason = reason
        self.record = record
        where = "archive" if record is None else f"archive record {record}"
        super().__init__(f"{where}: {reason}")


class ArchiveTruncatedError(ArchiveError):
    """The archive ends early: inside its header, its zstd frame or a record, or before its metadata record."""


class ArchiveKeyError(ArchiveError):
    """The first record does not decrypt: the archive was encrypted for another key (or is not an archive)."""


class ArchiveLimitError(ArchiveError):
    """The archive exceeds a reader limit: a record, the decompressed size, the expansion of its compressed bytes
    (a decompression bomb) or the number of records."""


class ArchiveArgumentError(LocalMLSError):
    """The caller passed something the archive format cannot take (a key shorter than 32 bytes, a record that no
    importer would accept, an element kind libxmtp cannot read), or used a writer or reader out of turn."""
