"""Extensions (RFC 9420 sections 7.2 and 13) and the typed bodies of the ones this implementation reads.

::

    struct {
        ExtensionType extension_type;
        opaque extension_data<V>;
    } Extension;

Every :class:`Extension` is carried opaquely and byte-exactly, whatever its type, so unknown and GREASE
extensions survive. A typed body (:class:`ApplicationId`, :class:`RequiredCapabilities`, :class:`ExternalPub`,
:class:`ExternalSenders`, :class:`LastResort`; the ratchet tree is
:class:`pyxmtp.mls.tree.nodes.RatchetTreeExtension`) is parsed on demand from ``extension_data`` with
``Cls.from_extension(ext)`` or :func:`get_extension`, and built with ``body.to_extension()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Self, TypeVar

from ..codec import Reader, Writer, decode
from ..constants import ExtensionType
from ..errors import LocalMLSError, ValidationError
from ._codec import encode_item, read_uint16s, write_uint16s
from .credential import Credential


@dataclass(frozen=True, slots=True)
class Extension:
    extension_type: int
    extension_data: bytes

    def encode(self, w: Writer) -> None:
        w.u16(self.extension_type)
        w.opaque_v(self.extension_data)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.u16(), r.opaque_v())


def encode_extensions(w: Writer, extensions: Iterable[Extension]) -> None:
    """``Extension extensions<V>``."""
    w.vector_v(extensions, encode_item)


def decode_extensions(r: Reader) -> tuple[Extension, ...]:
    """``Extension extensions<V>``."""
    return tuple(r.vector_v(Extension.decode))


def find_extension(extensions: Iterable[Extension], extension_type: int) -> Extension | None:
    """The first extension of ``extension_type``, or None."""
    for ext in extensions:
        if ext.extension_type == extension_type:
            return ext
    return None


def check_unique_extension_types(extensions: Iterable[Extension], where: str = "extension list") -> None:
    """Raise :class:`ValidationError` if two extensions share a type (RFC 9420 section 13.4)."""
    seen: set[int] = set()
    for ext in extensions:
        t = ext.extension_type
        if t in seen:
            raise ValidationError(f"{where}: duplicate extension type 0x{t:04x}")
        seen.add(t)


class TypedExtension:
    """Base of the typed extension bodies: ``extension_type`` plus the body's own encode/decode."""

    __slots__ = ()
    extension_type: ClassVar[int]

    def encode(self, w: Writer) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @classmethod
    def decode(cls, r: Reader) -> Self:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def to_extension(self) -> Extension:
        w = Writer()
        self.encode(w)
        return Extension(self.extension_type, w.getvalue())

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        """Parse ``extension_data`` (all of it; trailing bytes are a DecodeError)."""
        return decode(cls, data, f"{cls.__name__} extension")

    @classmethod
    def from_extension(cls, ext: Extension) -> Self:
        if ext.extension_type != cls.extension_type:
            raise LocalMLSError(
                f"extension type 0x{ext.extension_type:04x} is not {cls.__name__} (0x{cls.extension_type:04x})"
            )
        return cls.from_data(ext.extension_data)


X = TypeVar("X", bound=TypedExtension)


def get_extension(extensions: Iterable[Extension], cls: type[X]) -> X | None:
    """The parsed body of the first extension of ``cls.extension_type``, or None if absent."""
    ext = find_extension(extensions, cls.extension_type)
    return None if ext is None else cls.from_data(ext.extension_data)


@dataclass(frozen=True, slots=True)
class ApplicationId(TypedExtension):
    """``opaque application_id<V>`` (RFC 9420 section 5.3.3): note the body is itself length-prefixed."""

    extension_type: ClassVar[int] = ExtensionType.application_id
    application_id: bytes

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.application_id)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v())


@dataclass(frozen=True, slots=True)
class RequiredCapabilities(TypedExtension):
    """Extension, proposal and credential types every member must support (RFC 9420 section 11.1)."""

    extension_type: ClassVar[int] = ExtensionType.required_capabilities
    extension_types: tuple[int, ...] = ()
    proposal_types: tuple[int, ...] = ()
    credential_types: tuple[int, ...] = ()

    def encode(self, w: Writer) -> None:
        write_uint16s(w, self.extension_types)
        write_uint16s(w, self.proposal_types)
        write_uint16s(w, self.credential_types)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(read_uint16s(r), read_uint16s(r), read_uint16s(r))


@dataclass(frozen=True, slots=True)
class ExternalPub(TypedExtension):
    """The HPKE public key for external commits (RFC 9420 section 12.4.3.2)."""

    extension_type: ClassVar[int] = ExtensionType.external_pub
    external_pub: bytes

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.external_pub)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v())


@dataclass(frozen=True, slots=True)
class ExternalSender:
    signature_key: bytes
    credential: Credential

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.signature_key)
        self.credential.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v(), Credential.decode(r))


@dataclass(frozen=True, slots=True)
class ExternalSenders(TypedExtension):
    """``ExternalSender external_senders<V>`` (RFC 9420 section 12.1.8.1); a sender index points into it."""

    extension_type: ClassVar[int] = ExtensionType.external_senders
    senders: tuple[ExternalSender, ...]

    def encode(self, w: Writer) -> None:
        w.vector_v(self.senders, encode_item)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(tuple(r.vector_v(ExternalSender.decode)))


@dataclass(frozen=True, slots=True)
class LastResort(TypedExtension):
    """Marks a key package as last-resort (draft-ietf-mls-extensions); the body is empty."""

    extension_type: ClassVar[int] = ExtensionType.last_resort

    def encode(self, w: Writer) -> None:
        pass

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls()
