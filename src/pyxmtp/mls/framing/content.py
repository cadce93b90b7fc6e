"""Framed content: what is signed and then sent as a PublicMessage or encrypted as a PrivateMessage
(RFC 9420 sections 6 and 6.1).

::

    struct {
        SenderType sender_type;
        select (Sender.sender_type) {
            case member:   uint32 leaf_index;
            case external: uint32 sender_index;
            case new_member_commit:
            case new_member_proposal: struct{};
        };
    } Sender;

    struct {
        opaque group_id<V>;
        uint64 epoch;
        Sender sender;
        opaque authenticated_data<V>;
        ContentType content_type;
        select (FramedContent.content_type) {
            case application: opaque application_data<V>;
            case proposal:    Proposal proposal;
            case commit:      Commit commit;
        };
    } FramedContent;

    struct {
        ProtocolVersion version = mls10;
        WireFormat wire_format;
        FramedContent content;
        select (FramedContentTBS.content.sender.sender_type) {
            case member:
            case new_member_commit: GroupContext context;
            case external:
            case new_member_proposal: struct{};
        };
    } FramedContentTBS;

    struct {
        opaque signature<V>;
        select (FramedContent.content_type) {
            case commit: MAC confirmation_tag;
            case application:
            case proposal: struct{};
        };
    } FramedContentAuthData;

    struct { WireFormat wire_format; FramedContent content; FramedContentAuthData auth; } AuthenticatedContent;

The content type is not stored separately: it follows from the body (``bytes`` is application data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from ..codec import Reader, Writer
from ..constants import ContentType, ProtocolVersion, SenderType, WireFormat
from ..errors import EncodeError, LocalMLSError
from ..messages.commit import Commit
from ..messages.group_info import GroupContext, confirmed_transcript_hash_input
from ..messages.proposals import Proposal

_SENDER_TYPES = {t.value: t for t in SenderType}
_CONTENT_TYPES = {t.value: t for t in ContentType}
_FRAMED_WIRE_FORMATS = {wf.value: wf for wf in (WireFormat.public_message, WireFormat.private_message)}
_MEMBER = SenderType.member
_EXTERNAL = SenderType.external
_NEW_MEMBER_COMMIT = SenderType.new_member_commit

ContentBody = bytes | Proposal | Commit


@dataclass(frozen=True, slots=True)
class Sender:
    """``index`` is the leaf index of a member, the external_senders index of an external sender, and 0 for
    new members (it is not on the wire for them)."""

    sender_type: SenderType
    index: int = 0

    @classmethod
    def member(cls, leaf_index: int) -> Self:
        return cls(_MEMBER, leaf_index)

    @classmethod
    def external(cls, sender_index: int) -> Self:
        return cls(_EXTERNAL, sender_index)

    @classmethod
    def new_member_proposal(cls) -> Self:
        return cls(SenderType.new_member_proposal)

    @classmethod
    def new_member_commit(cls) -> Self:
        return cls(_NEW_MEMBER_COMMIT)

    @property
    def leaf_index(self) -> int:
        """The member's leaf index; raises LocalMLSError for a non-member sender."""
        if self.sender_type is not _MEMBER:
            raise LocalMLSError(f"a {self.sender_type.name} sender has no leaf index")
        return self.index

    def encode(self, w: Writer) -> None:
        t = self.sender_type
        w.u8(t)
        if t is _MEMBER or t is _EXTERNAL:
            w.u32(self.index)
        elif self.index != 0:
            raise EncodeError(f"a {t.name} sender carries no index, got {self.index}")

    @classmethod
    def decode(cls, r: Reader) -> Self:
        start = r.pos
        t = _SENDER_TYPES.get(r.u8())
        if t is None:
            raise r.error("unknown sender_type", start)
        if t is _MEMBER or t is _EXTERNAL:
            return cls(t, r.u32())
        return cls(t)


def content_type_of(body: ContentBody) -> ContentType:
    """The content type a body is sent as."""
    if isinstance(body, bytes):
        return ContentType.application
    if isinstance(body, Proposal):
        return ContentType.proposal
    if isinstance(body, Commit):
        return ContentType.commit
    raise EncodeError(f"not a content body: {type(body).__name__}")


def encode_content_body(w: Writer, body: ContentBody) -> None:
    """The body of a FramedContent or PrivateMessageContent, without its content type."""
    if isinstance(body, bytes):
        w.opaque_v(body)
    else:
        body.encode(w)


def decode_content_body(r: Reader, content_type: ContentType) -> ContentBody:
    if content_type is ContentType.application:
        return r.opaque_v()
    if content_type is ContentType.proposal:
        return Proposal.decode(r)
    return Commit.decode(r)


def read_content_type(r: Reader) -> ContentType:
    start = r.pos
    t = _CONTENT_TYPES.get(r.u8())
    if t is None:
        raise r.error("unknown content_type", start)
    return t


@dataclass(frozen=True, slots=True)
class FramedContent:
    group_id: bytes
    epoch: int
    sender: Sender
    authenticated_data: bytes
    body: ContentBody

    @property
    def content_type(self) -> ContentType:
        return content_type_of(self.body)

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.group_id)
        w.u64(self.epoch)
        self.sender.encode(w)
        w.opaque_v(self.authenticated_data)
        w.u8(content_type_of(self.body))
        encode_content_body(w, self.body)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("FramedContent"):
            group_id = r.opaque_v()
            epoch = r.u64()
            sender = Sender.decode(r)
            authenticated_data = r.opaque_v()
            body = decode_content_body(r, read_content_type(r))
            return cls(group_id, epoch, sender, authenticated_data, body)


def framed_content_tbs(
    wire_format: WireFormat, content: FramedContent, context: GroupContext | None
) -> bytes:
    """FramedContentTBS bytes. ``context`` is required for member and new_member_commit senders and ignored
    for the others (it is not part of their TBS)."""
    w = Writer()
    w.u16(ProtocolVersion.mls10)
    w.u16(wire_format)
    content.encode(w)
    t = content.sender.sender_type
    if t is _MEMBER or t is _NEW_MEMBER_COMMIT:
        if context is None:
            raise LocalMLSError(f"FramedContentTBS of a {t.name} sender needs the group context")
        context.encode(w)
    return w.getvalue()


@dataclass(frozen=True, slots=True)
class FramedContentAuthData:
    """``confirmation_tag`` is present iff the content is a commit."""

    signature: bytes
    confirmation_tag: bytes | None = None

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.signature)
        if self.confirmation_tag is not None:
            w.opaque_v(self.confirmation_tag)

    def check_for(self, content_type: ContentType) -> None:
        """Raise EncodeError unless the confirmation tag's presence matches ``content_type``."""
        if (self.confirmation_tag is not None) != (content_type is ContentType.commit):
            raise EncodeError(
                "a commit needs a confirmation tag"
                if content_type is ContentType.commit
                else f"{content_type.name} content carries no confirmation tag"
            )

    @classmethod
    def decode(cls, r: Reader, content_type: ContentType) -> Self:
        with r.structure("FramedContentAuthData"):
            signature = r.opaque_v()
            if content_type is ContentType.commit:
                return cls(signature, r.opaque_v())
            return cls(signature)


@dataclass(frozen=True, slots=True)
class AuthenticatedContent:
    """Content plus its authentication, as signed and (for commits) hashed into the transcript."""

    wire_format: WireFormat
    content: FramedContent
    auth: FramedContentAuthData

    def encode(self, w: Writer) -> None:
        if self.wire_format not in _FRAMED_WIRE_FORMATS:
            raise EncodeError(f"AuthenticatedContent with wire format {self.wire_format}")
        self.auth.check_for(self.content.content_type)
        w.u16(self.wire_format)
        self.content.encode(w)
        self.auth.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("AuthenticatedContent"):
            start = r.pos
            wire_format = _FRAMED_WIRE_FORMATS.get(r.u16())
            if wire_format is None:
                raise r.error("wire format is neither public_message nor private_message", start)
            content = FramedContent.decode(r)
            return cls(wire_format, content, FramedContentAuthData.decode(r, content.content_type))

    def tbs(self, context: GroupContext | None) -> bytes:
        """FramedContentTBS (see :func:`framed_content_tbs`)."""
        return framed_content_tbs(self.wire_format, self.content, context)

    def confirmed_transcript_hash_input(self) -> bytes:
        """ConfirmedTranscriptHashInput of this (commit) content."""
        return confirmed_transcript_hash_input(self.wire_format, self.content, self.auth.signature)
