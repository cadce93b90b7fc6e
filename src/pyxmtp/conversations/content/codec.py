"""The :class:`ContentCodec` contract every content type implements, and the helpers the codecs share.

A codec names its :class:`ContentTypeId`, says whether a message of its type should trigger a push notification,
and turns a value into an :class:`EncodedContent` (type, parameters, content and fallback set) and back. A codec
for a type of your own subclasses :class:`ContentCodec` and is added to a
:class:`~pyxmtp.conversations.content.registry.ContentRegistry`.
"""

from __future__ import annotations

import binascii
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar, Generic, TypeVar

from .encoded import ContentTypeId, EncodedContent
from .errors import ContentArgumentError, ContentDecodeError

V = TypeVar("V")

_UINT32_MAX = 2**32 - 1
_RUST_U32 = re.compile(r"\+?[0-9]+")


class ContentCodec(ABC, Generic[V]):
    """Encodes and decodes one content type (one authority, type id and major version).

    ``encodes`` lists the Python types a :class:`~pyxmtp.conversations.content.registry.ContentRegistry`
    sends with this codec when asked to encode a value of that type (a codec with none is used for decoding
    only, or called directly: the legacy reaction 1.0 codec, for instance).
    """

    content_type: ClassVar[ContentTypeId]
    should_push: ClassVar[bool]
    encodes: ClassVar[tuple[type, ...]] = ()

    @abstractmethod
    def encode(self, value: V) -> EncodedContent:
        """``value`` as EncodedContent; :class:`ContentArgumentError` if it cannot be encoded."""

    @abstractmethod
    def decode(self, encoded: EncodedContent) -> V:
        """The value held by (uncompressed) ``encoded``; :class:`ContentDecodeError` if it is malformed."""


def utf8(data: bytes, structure: str) -> str:
    """``data`` as UTF-8 text, or :class:`ContentDecodeError`."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentDecodeError(
            structure, f"content is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from exc


def to_utf8(text: str, what: str) -> bytes:
    """``text`` as UTF-8 bytes, or :class:`ContentArgumentError` (a lone surrogate) naming ``what``."""
    if not isinstance(text, str):
        raise ContentArgumentError(f"{what} must be a str, not {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ContentArgumentError(f"{what} is not encodable as UTF-8: {exc.reason}") from exc


def check_str(value: object, what: str, *, optional: bool = False) -> None:
    """:class:`ContentArgumentError` unless ``value`` is a str encodable as UTF-8 (or None when ``optional``)."""
    if value is None and optional:
        return
    to_utf8(value, what)  # type: ignore[arg-type]


def check_u32(value: object, what: str) -> int:
    """``value`` if it is an int in [0, 2^32-1], else :class:`ContentArgumentError`."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _UINT32_MAX:
        raise ContentArgumentError(f"{what} must be an integer in [0, 2^32-1], not {value!r}")
    return value


def parse_u32(text: str, structure: str, what: str) -> int:
    """A decimal uint32 as Rust's ``str::parse::<u32>`` reads it (optional ``+``, ASCII digits only)."""
    if not _RUST_U32.fullmatch(text) or int(text) > _UINT32_MAX:
        raise ContentDecodeError(structure, f"{what} is not a uint32: {text[:32]!r}")
    return int(text)


def parse_hex(text: str, structure: str, what: str) -> bytes:
    """Bytes written as hex digits (either case, even length, nothing else), or :class:`ContentDecodeError`."""
    try:
        return binascii.unhexlify(text.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ContentDecodeError(structure, f"{what} is not hex: {exc}") from exc


def parameter(parameters: Mapping[str, str], key: str) -> str:
    """A parameter, ``""`` when absent (libxmtp's reading of missing parameters)."""
    return parameters.get(key, "")
