"""Proposals (RFC 9420 section 12.1) and pre-shared key identifiers (section 8.4).

::

    struct {
        ProposalType proposal_type;
        select (Proposal.proposal_type) {
            case add:                      Add;        struct { KeyPackage key_package; }
            case update:                   Update;     struct { LeafNode leaf_node; }
            case remove:                   Remove;     struct { uint32 removed; }
            case psk:                      PreSharedKey;  struct { PreSharedKeyID psk; }
            case reinit:                   ReInit;
            case external_init:            ExternalInit;  struct { opaque kem_output<V>; }
            case group_context_extensions: GroupContextExtensions;  struct { Extension extensions<V>; }
        };
    } Proposal;

    struct {
        ProposalOrRefType type;
        select (ProposalOrRef.type) {
            case proposal:  Proposal proposal;
            case reference: ProposalRef reference;   /* opaque HashReference<V> */
        };
    } ProposalOrRef;

Beyond RFC 9420, two draft-ietf-mls-extensions proposals that OpenMLS (and so XMTP) speaks are typed:
:class:`AppDataUpdate` (0x0008) and :class:`SelfRemove` (0x000A, empty). Any other proposal type is an
:class:`UnknownProposal` whose body is carried as ``opaque payload<V>``: RFC 9420 gives no body format for
extension proposal types, and OpenMLS and mls-rs both encode custom (and GREASE) proposals that way, so this
keeps interop with them. Whether an unknown proposal is acceptable is the group's decision (capabilities).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

from ..codec import Reader, Writer
from ..constants import ProposalOrRefType, ProposalType, PSKType, ResumptionPSKUsage
from ..errors import EncodeError
from ..tree.nodes import LeafNode
from .extensions import Extension, decode_extensions, encode_extensions
from .key_package import KeyPackage

_USAGES = {u.value: u for u in ResumptionPSKUsage}


# --- pre-shared key identifiers -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExternalPSK:
    psk_id: bytes

    psk_type: ClassVar[PSKType] = PSKType.external


@dataclass(frozen=True, slots=True)
class ResumptionPSK:
    usage: ResumptionPSKUsage
    psk_group_id: bytes
    psk_epoch: int

    psk_type: ClassVar[PSKType] = PSKType.resumption


@dataclass(frozen=True, slots=True)
class PreSharedKeyID:
    """::

    struct {
      PSKType psktype;
      select (PreSharedKeyID.psktype) {
        case external:   opaque psk_id<V>;
        case resumption: ResumptionPSKUsage usage; opaque psk_group_id<V>; uint64 psk_epoch;
      };
      opaque psk_nonce<V>;
    } PreSharedKeyID;
    """

    psk: ExternalPSK | ResumptionPSK
    psk_nonce: bytes

    @property
    def psk_type(self) -> PSKType:
        return self.psk.psk_type

    def encode(self, w: Writer) -> None:
        psk = self.psk
        if isinstance(psk, ExternalPSK):
            w.u8(PSKType.external)
            w.opaque_v(psk.psk_id)
        else:
            w.u8(PSKType.resumption)
            w.u8(psk.usage)
            w.opaque_v(psk.psk_group_id)
            w.u64(psk.psk_epoch)
        w.opaque_v(self.psk_nonce)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("PreSharedKeyID"):
            start = r.pos
            t = r.u8()
            psk: ExternalPSK | ResumptionPSK
            if t == PSKType.external:
                psk = ExternalPSK(r.opaque_v())
            elif t == PSKType.resumption:
                start = r.pos
                usage = _USAGES.get(r.u8())
                if usage is None:
                    raise r.error("unknown resumption PSK usage", start)
                psk = ResumptionPSK(usage, r.opaque_v(), r.u64())
            else:
                raise r.error(f"unknown psktype {t}", start)
            return cls(psk, r.opaque_v())


def psk_label(psk_id: PreSharedKeyID, index: int, count: int) -> bytes:
    """``PSKLabel {PreSharedKeyID id; uint16 index; uint16 count;}`` (RFC 9420 section 8.4)."""
    w = Writer()
    psk_id.encode(w)
    w.u16(index)
    w.u16(count)
    return w.getvalue()


# --- proposal bodies ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Add:
    proposal_type: ClassVar[int] = ProposalType.add
    key_package: KeyPackage

    def encode(self, w: Writer) -> None:
        self.key_package.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(KeyPackage.decode(r))


@dataclass(frozen=True, slots=True)
class Update:
    proposal_type: ClassVar[int] = ProposalType.update
    leaf_node: LeafNode

    def encode(self, w: Writer) -> None:
        self.leaf_node.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(LeafNode.decode(r))


@dataclass(frozen=True, slots=True)
class Remove:
    proposal_type: ClassVar[int] = ProposalType.remove
    removed: int

    def encode(self, w: Writer) -> None:
        w.u32(self.removed)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.u32())


@dataclass(frozen=True, slots=True)
class PreSharedKey:
    proposal_type: ClassVar[int] = ProposalType.psk
    psk: PreSharedKeyID

    def encode(self, w: Writer) -> None:
        self.psk.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(PreSharedKeyID.decode(r))


@dataclass(frozen=True, slots=True)
class ReInit:
    """``struct { opaque group_id<V>; ProtocolVersion version; CipherSuite cipher_suite; Extension extensions<V>; }``"""

    proposal_type: ClassVar[int] = ProposalType.reinit
    group_id: bytes
    version: int
    cipher_suite: int
    extensions: tuple[Extension, ...]

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.group_id)
        w.u16(self.version)
        w.u16(self.cipher_suite)
        encode_extensions(w, self.extensions)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v(), r.u16(), r.u16(), decode_extensions(r))


@dataclass(frozen=True, slots=True)
class ExternalInit:
    proposal_type: ClassVar[int] = ProposalType.external_init
    kem_output: bytes

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.kem_output)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v())


@dataclass(frozen=True, slots=True)
class GroupContextExtensions:
    proposal_type: ClassVar[int] = ProposalType.group_context_extensions
    extensions: tuple[Extension, ...]

    def encode(self, w: Writer) -> None:
        encode_extensions(w, self.extensions)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(decode_extensions(r))


@dataclass(frozen=True, slots=True)
class AppDataUpdate:
    """draft-ietf-mls-extensions AppDataUpdate::

    struct {
        ComponentID component_id;            /* uint16 */
        AppDataUpdateOperation op;           /* uint8: update(1), remove(2) */
        select (AppDataUpdate.op) { case update: opaque update<V>; case remove: struct{}; };
    } AppDataUpdate;

    ``update`` is the new data, or None for a remove operation.
    """

    proposal_type: ClassVar[int] = ProposalType.app_data_update
    component_id: int
    update: bytes | None

    def encode(self, w: Writer) -> None:
        w.u16(self.component_id)
        if self.update is None:
            w.u8(2)
        else:
            w.u8(1)
            w.opaque_v(self.update)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        component_id = r.u16()
        start = r.pos
        op = r.u8()
        if op == 1:
            return cls(component_id, r.opaque_v())
        if op == 2:
            return cls(component_id, None)
        raise r.error(f"unknown AppDataUpdate operation {op}", start)


@dataclass(frozen=True, slots=True)
class SelfRemove:
    """draft-ietf-mls-extensions SelfRemove: the sender leaves; the body is empty."""

    proposal_type: ClassVar[int] = ProposalType.self_remove

    def encode(self, w: Writer) -> None:
        pass

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class UnknownProposal:
    """A proposal of a type this implementation does not know, body carried as ``opaque payload<V>``."""

    proposal_type: int
    payload: bytes

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.payload)


ProposalBody = (
    Add
    | Update
    | Remove
    | PreSharedKey
    | ReInit
    | ExternalInit
    | GroupContextExtensions
    | AppDataUpdate
    | SelfRemove
    | UnknownProposal
)

_BODY_DECODERS: dict[int, Callable[[Reader], ProposalBody]] = {
    cls.proposal_type: cls.decode
    for cls in (
        Add,
        Update,
        Remove,
        PreSharedKey,
        ReInit,
        ExternalInit,
        GroupContextExtensions,
        AppDataUpdate,
        SelfRemove,
    )
}


@dataclass(frozen=True, slots=True)
class Proposal:
    """The tagged proposal: ``proposal_type`` (from the body) then the body."""

    body: ProposalBody

    @property
    def proposal_type(self) -> int:
        return self.body.proposal_type

    def encode(self, w: Writer) -> None:
        body = self.body
        t = body.proposal_type
        if isinstance(body, UnknownProposal) and t in _BODY_DECODERS:
            raise EncodeError(f"UnknownProposal with the known proposal type {t}")
        w.u16(t)
        body.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("Proposal"):
            t = r.u16()
            body_decoder = _BODY_DECODERS.get(t)
            if body_decoder is None:
                return cls(UnknownProposal(t, r.opaque_v()))
            return cls(body_decoder(r))


@dataclass(frozen=True, slots=True)
class ProposalOrRef:
    """A proposal inline, or by reference: ``value`` is a :class:`Proposal` or the ProposalRef bytes."""

    value: Proposal | bytes

    @property
    def type(self) -> ProposalOrRefType:
        return ProposalOrRefType.proposal if isinstance(self.value, Proposal) else ProposalOrRefType.reference

    def encode(self, w: Writer) -> None:
        v = self.value
        if isinstance(v, Proposal):
            w.u8(ProposalOrRefType.proposal)
            v.encode(w)
        else:
            w.u8(ProposalOrRefType.reference)
            w.opaque_v(v)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        start = r.pos
        t = r.u8()
        if t == ProposalOrRefType.proposal:
            return cls(Proposal.decode(r))
        if t == ProposalOrRefType.reference:
            return cls(r.opaque_v())
        raise r.error(f"unknown ProposalOrRefType {t}", start)
