"""Group context, group info and transcript-hash inputs (RFC 9420 sections 8.1, 8.2 and 12.4.3).

::

    struct {
        ProtocolVersion version = mls10;
        CipherSuite cipher_suite;
        opaque group_id<V>;
        uint64 epoch;
        opaque tree_hash<V>;
        opaque confirmed_transcript_hash<V>;
        Extension extensions<V>;
    } GroupContext;

    struct {
        GroupContext group_context;
        Extension extensions<V>;
        MAC confirmation_tag;          /* opaque<V> */
        uint32 signer;
        opaque signature<V>;           /* SignWithLabel(., "GroupInfoTBS", GroupInfoTBS) */
    } GroupInfo;

    struct { WireFormat wire_format; FramedContent content; opaque signature<V>; } ConfirmedTranscriptHashInput;
    struct { MAC confirmation_tag; } InterimTranscriptHashInput;
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from ..codec import Reader, Writer
from .extensions import Extension, decode_extensions, encode_extensions

if TYPE_CHECKING:
    from ..framing.content import FramedContent


@dataclass(frozen=True, slots=True)
class GroupContext:
    version: int
    cipher_suite: int
    group_id: bytes
    epoch: int
    tree_hash: bytes
    confirmed_transcript_hash: bytes
    extensions: tuple[Extension, ...]

    def encode(self, w: Writer) -> None:
        w.u16(self.version)
        w.u16(self.cipher_suite)
        w.opaque_v(self.group_id)
        w.u64(self.epoch)
        w.opaque_v(self.tree_hash)
        w.opaque_v(self.confirmed_transcript_hash)
        encode_extensions(w, self.extensions)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("GroupContext"):
            return cls(
                r.u16(), r.u16(), r.opaque_v(), r.u64(), r.opaque_v(), r.opaque_v(), decode_extensions(r)
            )


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group_context: GroupContext
    extensions: tuple[Extension, ...]
    confirmation_tag: bytes
    signer: int
    signature: bytes

    def _encode_content(self, w: Writer) -> None:
        self.group_context.encode(w)
        encode_extensions(w, self.extensions)
        w.opaque_v(self.confirmation_tag)
        w.u32(self.signer)

    def encode(self, w: Writer) -> None:
        self._encode_content(w)
        w.opaque_v(self.signature)

    def tbs(self) -> bytes:
        """GroupInfoTBS: every field but the signature."""
        w = Writer()
        self._encode_content(w)
        return w.getvalue()

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("GroupInfo"):
            return cls(GroupContext.decode(r), decode_extensions(r), r.opaque_v(), r.u32(), r.opaque_v())


def confirmed_transcript_hash_input(wire_format: int, content: FramedContent, signature: bytes) -> bytes:
    """ConfirmedTranscriptHashInput bytes for a commit's content and signature."""
    w = Writer()
    w.u16(wire_format)
    content.encode(w)
    w.opaque_v(signature)
    return w.getvalue()


def interim_transcript_hash_input(confirmation_tag: bytes) -> bytes:
    """InterimTranscriptHashInput bytes: the confirmation tag as ``opaque<V>``."""
    w = Writer()
    w.opaque_v(confirmation_tag)
    return w.getvalue()
