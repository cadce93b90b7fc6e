"""Messages on the wire: PublicMessage, PrivateMessage and its plaintext parts, and MLSMessage
(RFC 9420 sections 6, 6.2, 6.3).

::

    struct {
        FramedContent content;
        FramedContentAuthData auth;
        select (PublicMessage.content.sender.sender_type) {
            case member: MAC membership_tag;
            case external: case new_member_commit: case new_member_proposal: struct{};
        };
    } PublicMessage;

    struct {
        opaque group_id<V>;
        uint64 epoch;
        ContentType content_type;
        opaque authenticated_data<V>;
        opaque encrypted_sender_data<V>;
        opaque ciphertext<V>;
    } PrivateMessage;

    struct {
        select (PrivateMessage.content_type) {
            case application: opaque application_data<V>;
            case proposal:    Proposal proposal;
            case commit:      Commit commit;
        };
        FramedContentAuthData auth;
        opaque padding[length_of_padding];   /* all zero */
    } PrivateMessageContent;

    struct { opaque group_id<V>; uint64 epoch; ContentType content_type; opaque authenticated_data<V>; }
        PrivateContentAAD;
    struct { uint32 leaf_index; uint32 generation; opaque reuse_guard[4]; } SenderData;
    struct { opaque group_id<V>; uint64 epoch; ContentType content_type; } SenderDataAAD;

    struct {
        ProtocolVersion version = mls10;
        WireFormat wire_format;
        select (MLSMessage.wire_format) {
            case mls_public_message:  PublicMessage public_message;
            case mls_private_message: PrivateMessage private_message;
            case mls_welcome:         Welcome welcome;
            case mls_group_info:      GroupInfo group_info;
            case mls_key_package:     KeyPackage key_package;
        };
    } MLSMessage;
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from ..codec import Reader, Writer, encode_varint
from ..constants import ContentType, ProtocolVersion, SenderType, WireFormat
from ..errors import EncodeError
from ..messages.group_info import GroupContext, GroupInfo
from ..messages.key_package import KeyPackage
from ..messages.welcome import Welcome
from .content import (
    AuthenticatedContent,
    ContentBody,
    FramedContent,
    FramedContentAuthData,
    content_type_of,
    decode_content_body,
    encode_content_body,
    framed_content_tbs,
    read_content_type,
)

REUSE_GUARD_LENGTH = 4


@dataclass(frozen=True, slots=True)
class PublicMessage:
    """``membership_tag`` is present iff the sender is a member."""

    content: FramedContent
    auth: FramedContentAuthData
    membership_tag: bytes | None = None

    def encode(self, w: Writer) -> None:
        self.auth.check_for(self.content.content_type)
        is_member = self.content.sender.sender_type is SenderType.member
        if is_member != (self.membership_tag is not None):
            raise EncodeError(
                "a member's PublicMessage needs a membership tag"
                if is_member
                else "only a member's PublicMessage carries a membership tag"
            )
        self.content.encode(w)
        self.auth.encode(w)
        if self.membership_tag is not None:
            w.opaque_v(self.membership_tag)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("PublicMessage"):
            content = FramedContent.decode(r)
            auth = FramedContentAuthData.decode(r, content.content_type)
            tag = r.opaque_v() if content.sender.sender_type is SenderType.member else None
            return cls(content, auth, tag)

    @classmethod
    def from_authenticated(cls, ac: AuthenticatedContent, membership_tag: bytes | None) -> Self:
        return cls(ac.content, ac.auth, membership_tag)

    def authenticated_content(self) -> AuthenticatedContent:
        return AuthenticatedContent(WireFormat.public_message, self.content, self.auth)

    def tbm(self, context: GroupContext) -> bytes:
        """AuthenticatedContentTBM (FramedContentTBS || FramedContentAuthData), the membership tag's input."""
        w = Writer()
        w.fixed(framed_content_tbs(WireFormat.public_message, self.content, context))
        self.auth.encode(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class PrivateMessage:
    group_id: bytes
    epoch: int
    content_type: ContentType
    authenticated_data: bytes
    encrypted_sender_data: bytes
    ciphertext: bytes

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.group_id)
        w.u64(self.epoch)
        w.u8(self.content_type)
        w.opaque_v(self.authenticated_data)
        w.opaque_v(self.encrypted_sender_data)
        w.opaque_v(self.ciphertext)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("PrivateMessage"):
            return cls(r.opaque_v(), r.u64(), read_content_type(r), r.opaque_v(), r.opaque_v(), r.opaque_v())

    def sender_data_aad(self) -> bytes:
        return encode_sender_data_aad(self.group_id, self.epoch, self.content_type)

    def to_mls_message_bytes(self) -> bytes:
        """``encode(MLSMessage(self))``, built by concatenation (the application-message hot path)."""
        group_id, ad = self.group_id, self.authenticated_data
        esd, ciphertext = self.encrypted_sender_data, self.ciphertext
        try:
            epoch = self.epoch.to_bytes(8, "big")
        except OverflowError:
            raise EncodeError(f"epoch {self.epoch} does not fit in uint64") from None
        content_type = self.content_type
        if content_type not in _CONTENT_TYPE_BYTES:
            raise EncodeError(f"unknown content type {content_type!r}")
        return b"".join(
            (
                _PRIVATE_MESSAGE_HEADER,
                encode_varint(len(group_id)),
                group_id,
                epoch,
                _CONTENT_TYPE_BYTES[content_type],
                encode_varint(len(ad)),
                ad,
                encode_varint(len(esd)),
                esd,
                encode_varint(len(ciphertext)),
                ciphertext,
            )
        )

    def content_aad(self) -> bytes:
        return encode_private_content_aad(
            self.group_id, self.epoch, self.content_type, self.authenticated_data
        )


@dataclass(frozen=True, slots=True)
class PrivateMessageContent:
    """The plaintext of a PrivateMessage: body, auth and ``padding`` zero bytes. The content type is not on
    the wire (it is in the enclosing PrivateMessage), so :meth:`decode` takes it."""

    body: ContentBody
    auth: FramedContentAuthData
    padding: int = 0

    @property
    def content_type(self) -> ContentType:
        return content_type_of(self.body)

    def encode(self, w: Writer) -> None:
        self.auth.check_for(content_type_of(self.body))
        if self.padding < 0:
            raise EncodeError(f"negative padding {self.padding}")
        encode_content_body(w, self.body)
        self.auth.encode(w)
        w.fixed(bytes(self.padding))

    @classmethod
    def decode(cls, r: Reader, content_type: ContentType) -> Self:
        """Parse all of ``r``'s remaining bytes; non-zero padding is a DecodeError (RFC 9420 section 6.3.1)."""
        with r.structure("PrivateMessageContent"):
            body = decode_content_body(r, content_type)
            auth = FramedContentAuthData.decode(r, content_type)
            start = r.pos
            padding = r.rest()
            if padding.count(0) != len(padding):
                raise r.error("padding contains a non-zero byte", start)
            return cls(body, auth, len(padding))

    @classmethod
    def from_bytes(cls, data: bytes, content_type: ContentType) -> Self:
        return cls.decode(Reader(data, "PrivateMessageContent"), content_type)


@dataclass(frozen=True, slots=True)
class SenderData:
    leaf_index: int
    generation: int
    reuse_guard: bytes

    def encode(self, w: Writer) -> None:
        if len(self.reuse_guard) != REUSE_GUARD_LENGTH:
            raise EncodeError(f"reuse_guard must be {REUSE_GUARD_LENGTH} bytes, got {len(self.reuse_guard)}")
        w.u32(self.leaf_index)
        w.u32(self.generation)
        w.fixed(self.reuse_guard)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("SenderData"):
            return cls(r.u32(), r.u32(), r.fixed(REUSE_GUARD_LENGTH))


@dataclass(frozen=True, slots=True)
class SenderDataAAD:
    group_id: bytes
    epoch: int
    content_type: ContentType

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.group_id)
        w.u64(self.epoch)
        w.u8(self.content_type)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("SenderDataAAD"):
            return cls(r.opaque_v(), r.u64(), read_content_type(r))


@dataclass(frozen=True, slots=True)
class PrivateContentAAD:
    group_id: bytes
    epoch: int
    content_type: ContentType
    authenticated_data: bytes

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.group_id)
        w.u64(self.epoch)
        w.u8(self.content_type)
        w.opaque_v(self.authenticated_data)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("PrivateContentAAD"):
            return cls(r.opaque_v(), r.u64(), read_content_type(r), r.opaque_v())


_PRIVATE_MESSAGE_HEADER = ProtocolVersion.mls10.to_bytes(2, "big") + WireFormat.private_message.to_bytes(
    2, "big"
)
_CONTENT_TYPE_BYTES = {t: bytes((t,)) for t in ContentType}
_CONTENT_TYPE_OF = {t.value: t for t in ContentType}


class _Irregular(Exception):
    """Raised inside :func:`parse_private_message` when the fast path does not apply."""


def _opaque_end(data: bytes, pos: int) -> int:
    """End of the ``opaque<V>`` starting at ``pos`` (minimal varint length), or :class:`_Irregular`."""
    first = data[pos]  # IndexError past the end
    prefix = first >> 6
    if prefix == 0:
        end = pos + 1 + first
    elif prefix == 1:
        length = ((first & 0x3F) << 8) | data[pos + 1]
        if length < 0x40:
            raise _Irregular
        end = pos + 2 + length
    elif prefix == 2:
        length = int.from_bytes(data[pos : pos + 4], "big") & 0x3FFF_FFFF
        if length < 0x4000 or pos + 4 > len(data):
            raise _Irregular
        end = pos + 4 + length
    else:
        raise _Irregular
    if end > len(data):
        raise _Irregular
    return end


def _varint_len(first: int) -> int:
    return 1 << (first >> 6)


def parse_private_message(data: bytes) -> PrivateMessage | None:
    """The PrivateMessage of ``data`` if ``data`` is exactly a well-formed MLSMessage holding one, else None.

    A fast path for :func:`~pyxmtp.mls.codec.decode` of ``MLSMessage``: anything it does not accept (another
    wire format, a malformed or truncated message, trailing bytes) returns None, and the caller decodes
    generically, which raises the precise :class:`~pyxmtp.mls.errors.DecodeError`.
    """
    if type(data) is not bytes or data[:4] != _PRIVATE_MESSAGE_HEADER:
        return None
    try:
        pos = 4
        end = _opaque_end(data, pos)
        group_id = data[pos + _varint_len(data[pos]) : end]
        pos = end + 9
        if pos > len(data):
            return None
        epoch = int.from_bytes(data[end : end + 8], "big")
        content_type = _CONTENT_TYPE_OF.get(data[end + 8])
        if content_type is None:
            return None
        end = _opaque_end(data, pos)
        ad = data[pos + _varint_len(data[pos]) : end]
        pos = end
        end = _opaque_end(data, pos)
        esd = data[pos + _varint_len(data[pos]) : end]
        pos = end
        end = _opaque_end(data, pos)
        ciphertext = data[pos + _varint_len(data[pos]) : end]
    except (_Irregular, IndexError):
        return None
    if end != len(data):
        return None
    return PrivateMessage(group_id, epoch, content_type, ad, esd, ciphertext)


def encode_sender_data_aad(group_id: bytes, epoch: int, content_type: ContentType) -> bytes:
    w = Writer()
    SenderDataAAD(group_id, epoch, content_type).encode(w)
    return w.getvalue()


def encode_private_content_aad(
    group_id: bytes, epoch: int, content_type: ContentType, authenticated_data: bytes
) -> bytes:
    w = Writer()
    PrivateContentAAD(group_id, epoch, content_type, authenticated_data).encode(w)
    return w.getvalue()


MLSMessageBody = PublicMessage | PrivateMessage | Welcome | GroupInfo | KeyPackage

_BODY_DECODERS: dict[int, Callable[[Reader], MLSMessageBody]] = {
    WireFormat.public_message: PublicMessage.decode,
    WireFormat.private_message: PrivateMessage.decode,
    WireFormat.welcome: Welcome.decode,
    WireFormat.group_info: GroupInfo.decode,
    WireFormat.key_package: KeyPackage.decode,
}
_WIRE_FORMAT_OF: dict[type, WireFormat] = {
    PublicMessage: WireFormat.public_message,
    PrivateMessage: WireFormat.private_message,
    Welcome: WireFormat.welcome,
    GroupInfo: WireFormat.group_info,
    KeyPackage: WireFormat.key_package,
}


@dataclass(frozen=True, slots=True)
class MLSMessage:
    """The outer envelope. ``version`` is always mls10 and ``wire_format`` follows from the body's type."""

    body: MLSMessageBody

    @property
    def version(self) -> ProtocolVersion:
        return ProtocolVersion.mls10

    @property
    def wire_format(self) -> WireFormat:
        wf = _WIRE_FORMAT_OF.get(type(self.body))
        if wf is None:
            raise EncodeError(f"not an MLSMessage body: {type(self.body).__name__}")
        return wf

    def encode(self, w: Writer) -> None:
        w.u16(ProtocolVersion.mls10)
        w.u16(self.wire_format)
        self.body.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("MLSMessage"):
            start = r.pos
            version = r.u16()
            if version != ProtocolVersion.mls10:
                raise r.error(f"unsupported protocol version {version}", start)
            start = r.pos
            wire_format = r.u16()
            body_decoder = _BODY_DECODERS.get(wire_format)
            if body_decoder is None:
                raise r.error(f"unknown wire_format {wire_format}", start)
            return cls(body_decoder(r))
