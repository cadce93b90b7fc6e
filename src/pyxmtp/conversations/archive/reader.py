"""Reading an archive, whatever its origin: every byte may be hostile.

Sans-IO: :class:`ArchiveReader` takes the archive's bytes in chunks (:meth:`~ArchiveReader.feed`) and returns the
records each chunk completes; :meth:`~ArchiveReader.close` says whether the archive ended where it may. Memory
stays bounded by one record plus one decompressed chunk, whatever the input: decompression is incremental with
an output cap per step, a record's declared length is checked before it is buffered, and the limits of
:class:`ArchiveLimits` end hostile archives early with an :class:`~.errors.ArchiveLimitError`:

- records are ciphertext and do not compress, so a real archive inflates by a few percent at most; one that
  inflates beyond ``max_expansion`` times its compressed bytes is a decompression bomb;
- a record longer than ``max_record_bytes``, more than ``max_records`` records or more than
  ``max_decompressed_bytes`` in all are refused;
- the zstd window is capped (``2**ZSTD_WINDOW_LOG_MAX`` bytes) so a frame header cannot make the decoder
  allocate more.

What is refused otherwise (:class:`~.errors.ArchiveError`, naming the record): a version above 0, a first record
that does not decrypt (:class:`~.errors.ArchiveKeyError`: another key), a later record that does not authenticate
(tampered, reordered, dropped), a record shorter than its tag, a record that is not a BackupElement, a first
record that is not the metadata, bytes after the zstd frame, and an archive that ends early
(:class:`~.errors.ArchiveTruncatedError`). After an error the reader refuses further use. As libxmtp does, a
record that does not authenticate under its nonce is retried under the previous one (legacy archives).

A caveat of the format itself: nothing authenticates the end of the archive, so one cut at a record boundary and
recompressed reads as a shorter, valid archive.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from pyxmtp.proto.device_sync import device_sync_pb2

from ._zstd import zstd
from .cipher import NONCE_SIZE, TAG_SIZE, RecordCipher
from .errors import (
    ArchiveArgumentError,
    ArchiveError,
    ArchiveKeyError,
    ArchiveLimitError,
    ArchiveTruncatedError,
)
from .records import ARCHIVE_VERSION, ArchiveElement, ArchiveMetadata, element_from_proto, metadata_from_proto

HEADER_SIZE = 2 + NONCE_SIZE
#: Largest zstd window accepted (16 MiB). libxmtp compresses at the default level (a 2 MiB window); every
#: non-"ultra" level (1-19) stays within 8 MiB.
ZSTD_WINDOW_LOG_MAX = 24
#: Decompressed bytes produced per decompression step.
_STEP = 64 * 1024
#: Expansion allowed on top of ``max_expansion`` (covers the zstd frame's own overhead on tiny archives).
_EXPANSION_SLACK = 1024 * 1024
_LEN = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    #: One record's ciphertext (above the 50 MiB of the largest message a node accepts).
    max_record_bytes: int = 64 * 1024 * 1024
    #: Records, the metadata included.
    max_records: int = 10_000_000
    #: Decompressed bytes in all (length prefixes and ciphertexts).
    max_decompressed_bytes: int = 4 * 1024 * 1024 * 1024
    #: Decompressed bytes per compressed byte (plus 1 MiB): ciphertext does not compress.
    max_expansion: int = 4


class ArchiveReader:
    """``r = ArchiveReader(key)``; ``for element in r.feed(chunk)`` for each chunk; then ``r.close()``.
    ``r.metadata`` is set once record 0 is read. ``key``: at least 32 bytes, the first 32 used."""

    __slots__ = (
        "_cipher",
        "_closed",
        "_compressed",
        "_decompressed",
        "_decompressor",
        "_failed",
        "_header",
        "_limits",
        "_metadata_only",
        "_pending_len",
        "_plain",
        "_records",
        "metadata",
    )

    def __init__(
        self, key: bytes, *, limits: ArchiveLimits | None = None, metadata_only: bool = False
    ) -> None:
        self._cipher: RecordCipher | None = RecordCipher(key)  # the nonce comes with the header
        self._limits = limits or ArchiveLimits()
        self._metadata_only = metadata_only
        self._header = bytearray()
        self._decompressor: zstd.ZstdDecompressor | None = None
        self._plain = bytearray()
        self._pending_len: int | None = None
        self._records = 0
        self._compressed = 0
        self._decompressed = 0
        self._failed = False
        self._closed = False
        #: Record 0, once read.
        self.metadata: ArchiveMetadata | None = None

    def __repr__(self) -> str:
        return f"ArchiveReader(records={self._records}, failed={self._failed})"

    @property
    def done(self) -> bool:
        """The zstd frame has ended (or, with ``metadata_only``, the metadata is read): nothing more to feed."""
        if self._metadata_only and self.metadata is not None:
            return True
        return self._decompressor is not None and self._decompressor.eof

    # -- feeding ----------------------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> list[ArchiveElement]:
        """The records (after the metadata) completed by ``data``, the archive's next bytes."""
        self._usable()
        try:
            return self._feed(bytes(data))
        except ArchiveError:
            self._fail()
            raise

    def close(self) -> None:
        """The input has ended: :class:`~.errors.ArchiveTruncatedError` unless the archive is complete."""
        self._usable()
        self._closed = True
        try:
            if self._metadata_only and self.metadata is not None:
                return
            if self._decompressor is None:
                raise ArchiveTruncatedError(f"the archive ends inside its {HEADER_SIZE}-byte header")
            if not self._decompressor.eof:
                raise ArchiveTruncatedError("the archive ends inside its zstd frame", record=self._records)
            if self._plain or self._pending_len is not None:
                raise ArchiveTruncatedError("the archive ends inside a record", record=self._records)
            if self.metadata is None:
                raise ArchiveTruncatedError("the archive ends before its metadata record")
        finally:
            self._forget()

    def _usable(self) -> None:
        if self._failed:
            raise ArchiveArgumentError("this archive reader already failed")
        if self._closed:
            raise ArchiveArgumentError("this archive reader is closed")

    def _fail(self) -> None:
        self._failed = True
        self._forget()

    def _forget(self) -> None:
        self._cipher = None
        self._plain = bytearray()

    def _feed(self, data: bytes) -> list[ArchiveElement]:
        out: list[ArchiveElement] = []
        if self._decompressor is None:
            need = HEADER_SIZE - len(self._header)
            self._header += data[:need]
            data = data[need:]
            if len(self._header) < HEADER_SIZE:
                return out
            self._start()
        if self.done:
            if data and not self._metadata_only:
                raise ArchiveError("bytes after the end of the archive's zstd frame")
            return out
        decompressor = self._decompressor
        assert decompressor is not None
        self._compressed += len(data)
        while not self.done:
            try:
                chunk = decompressor.decompress(data, max_length=_STEP)
            except zstd.ZstdError as exc:
                raise ArchiveError(f"the zstd frame is corrupt ({exc})", record=self._records) from None
            data = b""
            self._count(len(chunk))
            self._plain += chunk
            out.extend(self._records_ready())
            if decompressor.eof and decompressor.unused_data and not self._metadata_only:
                raise ArchiveError("bytes after the end of the archive's zstd frame")
            if decompressor.needs_input:
                break
        return out

    def _start(self) -> None:
        (version,) = struct.unpack_from("<H", self._header)
        if version > ARCHIVE_VERSION:
            raise ArchiveError(f"unsupported archive version {version} (this reader knows {ARCHIVE_VERSION})")
        assert self._cipher is not None
        self._cipher.restart(bytes(self._header[2:]))
        self._decompressor = zstd.ZstdDecompressor(
            options={zstd.DecompressionParameter.window_log_max: ZSTD_WINDOW_LOG_MAX}
        )

    def _count(self, produced: int) -> None:
        self._decompressed += produced
        limits = self._limits
        if self._decompressed > limits.max_decompressed_bytes:
            raise ArchiveLimitError(f"decompresses to more than {limits.max_decompressed_bytes} bytes")
        if self._decompressed > limits.max_expansion * self._compressed + _EXPANSION_SLACK:
            raise ArchiveLimitError(
                f"{self._compressed} compressed bytes inflate to over {self._decompressed}: a decompression bomb"
            )

    # -- records ----------------------------------------------------------------------------------------------

    def _records_ready(self) -> list[ArchiveElement]:
        plain = self._plain
        pos = 0
        ready: list[ArchiveElement] = []
        try:
            while not (self._metadata_only and self.metadata is not None):
                if self._pending_len is None:
                    if len(plain) - pos < _LEN.size:
                        break
                    (length,) = _LEN.unpack_from(plain, pos)
                    pos += _LEN.size
                    self._check_length(length)
                    self._pending_len = length
                length = self._pending_len
                if len(plain) - pos < length:
                    break
                ciphertext = bytes(plain[pos : pos + length])
                pos += length
                self._pending_len = None
                element = self._open(ciphertext)
                if element is not None:
                    ready.append(element)
        finally:
            del plain[:pos]
        return ready

    def _check_length(self, length: int) -> None:
        index = self._records
        if length < TAG_SIZE:
            raise ArchiveError(f"declares {length} bytes, fewer than its {TAG_SIZE}-byte tag", record=index)
        if length > self._limits.max_record_bytes:
            raise ArchiveLimitError(
                f"declares {length} bytes, over the limit of {self._limits.max_record_bytes}", record=index
            )
        if index >= self._limits.max_records:
            raise ArchiveLimitError(f"more than {self._limits.max_records} records", record=index)

    def _open(self, ciphertext: bytes) -> ArchiveElement | None:
        index = self._records
        self._records += 1
        assert self._cipher is not None
        plaintext = self._cipher.open(ciphertext)
        if plaintext is None:
            if index == 0:
                raise ArchiveKeyError(
                    "does not decrypt: the archive is for another key, or not an archive", record=0
                )
            raise ArchiveError(
                "does not authenticate under the archive's key: tampered or corrupted", record=index
            )
        try:
            element = device_sync_pb2.BackupElement.FromString(plaintext)
        except DecodeError:
            raise ArchiveError("decrypts but is not a BackupElement", record=index) from None
        if index == 0:
            if element.WhichOneof("element") != "metadata":
                raise ArchiveError("is not the archive metadata", record=0)
            (version,) = struct.unpack_from("<H", self._header)
            self.metadata = metadata_from_proto(element.metadata, version)
            return None
        return element_from_proto(element, index)


def _chunks(data: bytes | Iterable[bytes]) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), _STEP):
            yield bytes(view[start : start + _STEP])
    else:
        yield from data


def iter_archive(
    data: bytes | Iterable[bytes], key: bytes, *, limits: ArchiveLimits | None = None
) -> Iterator[ArchiveMetadata | ArchiveElement]:
    """The metadata, then every element of the archive ``data`` (bytes, or an iterable of chunks), as they are
    read; raises at the first fault (elements already yielded stay yielded: an importer should apply them only
    once the iterator is exhausted, or accept a partial import)."""
    reader = ArchiveReader(key, limits=limits)
    announced = False
    for chunk in _chunks(data):
        elements = reader.feed(chunk)
        if not announced and reader.metadata is not None:
            announced = True
            yield reader.metadata
        yield from elements
    reader.close()
    if not announced:  # pragma: no cover - close() raises when there is no metadata
        raise ArchiveTruncatedError("the archive ends before its metadata record")


@dataclass(frozen=True, slots=True)
class Archive:
    metadata: ArchiveMetadata
    elements: tuple[ArchiveElement, ...]


def read_archive(
    data: bytes | Iterable[bytes], key: bytes, *, limits: ArchiveLimits | None = None
) -> Archive:
    """The whole archive, checked to the end before anything is returned."""
    reader = ArchiveReader(key, limits=limits)
    elements: list[ArchiveElement] = []
    for chunk in _chunks(data):
        elements.extend(reader.feed(chunk))
    reader.close()
    assert reader.metadata is not None
    return Archive(reader.metadata, tuple(elements))


def archive_metadata(
    data: bytes | Iterable[bytes], key: bytes, *, limits: ArchiveLimits | None = None
) -> ArchiveMetadata:
    """The metadata of the archive that ``data`` starts with: only the header and record 0 are read (what
    libxmtp's ``archive_metadata`` does); the rest of the archive is not checked."""
    reader = ArchiveReader(key, limits=limits, metadata_only=True)
    for chunk in _chunks(data):
        reader.feed(chunk)
        if reader.metadata is not None:
            return reader.metadata
    reader.close()
    raise ArchiveTruncatedError("the archive ends before its metadata record")  # pragma: no cover
