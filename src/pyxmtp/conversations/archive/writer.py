"""Writing an archive: ``version (u16 LE) || nonce0 (12 bytes) || zstd(record*)``, one zstd frame, each record
``len (u32 LE) || AES-256-GCM ciphertext of a BackupElement``, the metadata first.

Sans-IO: :class:`ArchiveWriter` returns the bytes to append after each step (often empty: zstd buffers), so an
archive streams to a file or an HTTP upload without ever being whole in memory. Like libxmtp's exporter it flushes
a zstd block after every 8 000 bytes of records and ends the frame in :meth:`ArchiveWriter.finish`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from pyxmtp.mls.crypto.keys import RandomSource

from ._zstd import zstd
from .cipher import NONCE_SIZE, RecordCipher
from .errors import ArchiveArgumentError
from .records import ARCHIVE_VERSION, ArchiveMetadata, ArchiveRecord, element_to_proto, metadata_to_proto

#: Bytes of records after which the zstd encoder is flushed (libxmtp's exporter fills 8 kB between flushes).
FLUSH_EVERY = 8_000
#: zstd level (libxmtp uses the encoder's default, 3). Records are ciphertext: only the length prefixes compress.
ZSTD_LEVEL = 3
_U32_MAX = 2**32 - 1


class ArchiveWriter:
    """``w = ArchiveWriter(key, metadata, rng=os.urandom)``; append ``w.write(record)`` for each record, then
    ``w.finish()``. The first output carries the header. ``key``: at least 32 bytes, the first 32 used."""

    __slots__ = ("_cipher", "_compressor", "_finished", "_header", "_since_flush")

    def __init__(self, key: bytes, metadata: ArchiveMetadata, *, rng: RandomSource) -> None:
        nonce0 = rng(NONCE_SIZE)
        if not isinstance(nonce0, bytes | bytearray) or len(nonce0) != NONCE_SIZE:
            raise ArchiveArgumentError(f"the random source must return {NONCE_SIZE} bytes")
        self._cipher = RecordCipher(key, bytes(nonce0))
        self._compressor = zstd.ZstdCompressor(level=ZSTD_LEVEL)
        self._header = struct.pack("<H", ARCHIVE_VERSION) + bytes(nonce0)
        self._since_flush = 0
        self._finished = False
        self._put(metadata_to_proto(metadata).SerializeToString())

    def __repr__(self) -> str:
        return f"ArchiveWriter(finished={self._finished})"

    def _put(self, plaintext: bytes) -> bytes:
        sealed = self._cipher.seal(plaintext)
        if len(sealed) > _U32_MAX:
            raise ArchiveArgumentError(f"a record of {len(plaintext)} bytes does not fit a 32-bit length")
        record = struct.pack("<I", len(sealed)) + sealed
        self._since_flush += len(record)
        if self._since_flush >= FLUSH_EVERY:
            self._since_flush = 0
            return self._compressor.compress(record, zstd.ZstdCompressor.FLUSH_BLOCK)
        return self._compressor.compress(record)

    def _out(self, data: bytes) -> bytes:
        if self._header:
            data, self._header = self._header + data, b""
        return data

    def write(self, record: ArchiveRecord) -> bytes:
        """Encrypt and compress ``record``; the archive bytes that are ready (possibly none)."""
        if self._finished:
            raise ArchiveArgumentError("the archive is already finished")
        return self._out(self._put(element_to_proto(record).SerializeToString()))

    def finish(self) -> bytes:
        """End the zstd frame; the last archive bytes."""
        if self._finished:
            raise ArchiveArgumentError("the archive is already finished")
        self._finished = True
        return self._out(self._compressor.flush(zstd.ZstdCompressor.FLUSH_FRAME))


def encode_archive(
    key: bytes, metadata: ArchiveMetadata, records: Iterable[ArchiveRecord], *, rng: RandomSource
) -> Iterator[bytes]:
    """The archive of ``records`` as a stream of byte chunks (empty chunks left out)."""
    writer = ArchiveWriter(key, metadata, rng=rng)
    for record in records:
        chunk = writer.write(record)
        if chunk:
            yield chunk
    yield writer.finish()
