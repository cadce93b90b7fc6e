"""``ContentTypeId`` and ``EncodedContent``, the typed envelope of every XMTP message (protocol reference, 7.2).

The protobufs are ``xmtp.mls.message_contents.ContentTypeId`` and ``EncodedContent``. Serialization is
deterministic (map entries sorted by key), so one value always gives the same bytes; with a single parameter,
as text has, they are the bytes libxmtp produces.

Compression: ``DEFLATE`` (0) is compressed as a zlib stream (RFC 1950), as libxmtp, xmtp-js and Kotlin do;
on decode a zlib stream is tried first and raw DEFLATE (RFC 1951, what the iOS SDK emits) second. ``GZIP`` (1)
is RFC 1952. Decompression stops with :class:`DecompressionLimitError` past :data:`MAX_DECOMPRESSED_BYTES`
(libxmtp's cap, 16 MiB) without ever holding more than the cap plus one chunk.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.proto.mls.message_contents import content_pb2

from .errors import ContentArgumentError, ContentDecodeError, DecompressionLimitError

#: Largest decompressed content accepted (libxmtp ``MAX_DECOMPRESSED_BYTES``).
MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024

_UINT32_MAX = 2**32 - 1
_CHUNK = 64 * 1024
_ZLIB_WBITS = 15
_RAW_DEFLATE_WBITS = -15
_GZIP_WBITS = 31


@dataclass(frozen=True, slots=True)
class ContentTypeId:
    """The name of a content type: ``authority_id/type_id:version_major.version_minor``, e.g.
    ``xmtp.org/text:1.0``. Versions are uint32."""

    authority_id: str
    type_id: str
    version_major: int
    version_minor: int

    def __post_init__(self) -> None:
        for name in ("version_major", "version_minor"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _UINT32_MAX:
                raise ContentArgumentError(
                    f"ContentTypeId.{name} must be an integer in [0, 2^32-1], not {value!r}"
                )
        for name in ("authority_id", "type_id"):
            if not isinstance(getattr(self, name), str):
                raise ContentArgumentError(f"ContentTypeId.{name} must be a str")

    def __str__(self) -> str:
        return f"{self.authority_id}/{self.type_id}:{self.version_major}.{self.version_minor}"

    @classmethod
    def parse(cls, text: str) -> ContentTypeId:
        """The id written ``authority/type:major.minor``; :class:`ContentArgumentError` if ``text`` is not one.

        The authority ends at the first ``/``, the version starts after the last ``:``; versions are decimal.
        """
        head, colon, version = text.rpartition(":")
        authority, slash, type_id = head.partition("/")
        major, dot, minor = version.partition(".")
        if not (colon and slash and dot) or not _is_decimal(major) or not _is_decimal(minor):
            raise ContentArgumentError(
                f"{text!r} is not a content type id of the form authority/type:major.minor"
            )
        return cls(authority, type_id, int(major), int(minor))

    def same_type(self, other: ContentTypeId) -> bool:
        """Whether ``other`` names the same type in the same major version (minor versions are compatible)."""
        return (self.authority_id, self.type_id, self.version_major) == (
            other.authority_id,
            other.type_id,
            other.version_major,
        )

    def to_proto(self) -> content_pb2.ContentTypeId:
        """The protobuf message."""
        return content_pb2.ContentTypeId(
            authority_id=self.authority_id,
            type_id=self.type_id,
            version_major=self.version_major,
            version_minor=self.version_minor,
        )

    @classmethod
    def from_proto(cls, message: content_pb2.ContentTypeId) -> ContentTypeId:
        """The id held by a protobuf message."""
        return cls(message.authority_id, message.type_id, message.version_major, message.version_minor)


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


class Compression(IntEnum):
    """``EncodedContent.compression`` (protobuf enum ``Compression``)."""

    DEFLATE = 0
    GZIP = 1


@dataclass(frozen=True, slots=True)
class EncodedContent:
    """One ``EncodedContent``: the content bytes with the type that says how to read them.

    ``content_type`` is ``None`` only when a peer left the field out. ``parameters`` is the protobuf
    ``map<string,string>`` (copied on construction; do not mutate). ``compression`` is ``None`` for
    uncompressed content, else a :class:`Compression` or, from a peer, any other int32 the wire carried.
    """

    content_type: ContentTypeId | None
    parameters: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""
    fallback: str | None = None
    compression: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", dict(self.parameters))
        object.__setattr__(self, "content", bytes(self.content))

    def to_proto(self) -> content_pb2.EncodedContent:
        """The protobuf message; :class:`ContentArgumentError` if a field cannot be represented."""
        try:
            message = content_pb2.EncodedContent(parameters=dict(self.parameters), content=self.content)
            if self.content_type is not None:
                message.type.CopyFrom(self.content_type.to_proto())
            if self.fallback is not None:
                message.fallback = self.fallback
            if self.compression is not None:
                message.compression = content_pb2.Compression.ValueType(int(self.compression))
        except (TypeError, ValueError) as exc:
            raise ContentArgumentError(f"EncodedContent cannot be represented: {exc}") from exc
        return message

    def to_bytes(self) -> bytes:
        """The protobuf bytes, map entries sorted by key."""
        try:
            return self.to_proto().SerializeToString(deterministic=True)
        except (TypeError, ValueError) as exc:  # e.g. a str that is not valid Unicode (lone surrogate)
            raise ContentArgumentError(f"EncodedContent cannot be serialized: {exc}") from exc

    @classmethod
    def from_proto(cls, message: content_pb2.EncodedContent) -> EncodedContent:
        """The value held by a protobuf message."""
        return cls(
            content_type=ContentTypeId.from_proto(message.type) if message.HasField("type") else None,
            parameters=dict(message.parameters),
            content=message.content,
            fallback=message.fallback if message.HasField("fallback") else None,
            compression=_compression_of(message.compression) if message.HasField("compression") else None,
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, structure: str = "EncodedContent") -> EncodedContent:
        """Parse protobuf bytes; :class:`ContentDecodeError` (naming ``structure``) if they are not one."""
        try:
            message = content_pb2.EncodedContent.FromString(bytes(data))
        except ProtobufDecodeError as exc:
            raise ContentDecodeError(structure, f"not an EncodedContent protobuf: {exc}") from exc
        return cls.from_proto(message)


def _compression_of(value: int) -> int:
    try:
        return Compression(value)
    except ValueError:
        return value


def compress_content(encoded: EncodedContent, algorithm: Compression) -> EncodedContent:
    """``encoded`` with its content compressed by ``algorithm`` and ``compression`` set.

    :class:`ContentArgumentError` if it is already compressed. GZIP output carries mtime 0 (reproducible).
    """
    if encoded.compression is not None:
        raise ContentArgumentError("content is already compressed")
    if algorithm == Compression.DEFLATE:
        data = zlib.compress(encoded.content)
    elif algorithm == Compression.GZIP:
        data = gzip.compress(encoded.content, mtime=0)
    else:
        raise ContentArgumentError(f"unknown compression {algorithm!r}")
    return replace(encoded, content=data, compression=Compression(algorithm))


def decompress_content(encoded: EncodedContent, *, limit: int = MAX_DECOMPRESSED_BYTES) -> EncodedContent:
    """``encoded`` with its content decompressed and ``compression`` cleared (unchanged if uncompressed).

    :class:`ContentDecodeError` for an unknown algorithm or a stream that does not inflate;
    :class:`DecompressionLimitError` if the output would exceed ``limit`` bytes.
    """
    if limit < 0:
        raise ContentArgumentError(f"decompression limit must be >= 0, not {limit}")
    if encoded.compression is None:
        return encoded
    structure = f"EncodedContent({encoded.content_type})"
    if encoded.compression == Compression.GZIP:
        data = _inflate(encoded.content, _GZIP_WBITS, limit, structure)
    elif encoded.compression == Compression.DEFLATE:
        try:
            data = _inflate(encoded.content, _ZLIB_WBITS, limit, structure)
        except DecompressionLimitError:
            raise
        except ContentDecodeError:
            data = _inflate(encoded.content, _RAW_DEFLATE_WBITS, limit, structure)
    else:
        raise ContentDecodeError(structure, f"unknown compression value {encoded.compression}")
    return replace(encoded, content=data, compression=None)


def _inflate(data: bytes, wbits: int, limit: int, structure: str) -> bytes:
    """Inflate one stream, never producing more than ``limit + 1`` bytes; bytes after the stream are ignored."""
    kind = {_ZLIB_WBITS: "zlib", _RAW_DEFLATE_WBITS: "raw deflate", _GZIP_WBITS: "gzip"}[wbits]
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, min(_CHUNK, limit + 1 - len(out)))
            if not chunk and not pending:
                raise ContentDecodeError(structure, f"{kind} stream is truncated")
            out += chunk
            if len(out) > limit:
                raise DecompressionLimitError(structure, limit)
            pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise ContentDecodeError(structure, f"{kind} stream does not inflate: {exc}") from exc
    return bytes(out)
