"""Association state of an inbox (XIP-46): its members, recovery identifier and seen signatures.

States are immutable values. An update is applied to a :class:`StateDraft` (:meth:`AssociationState.edit`, or
:meth:`StateDraft.new` for a new inbox) that copies the member map once and then changes it in place, so
applying an update costs time linear in its actions and the inbox's size; :meth:`StateDraft.freeze` makes the
new state. A failed update drops its draft and never touches the state it started from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Self

from pyxmtp.identity.errors import MalformedUpdate, Rule
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.proto.identity.associations import association_pb2

_NO_TIMESTAMP = 2**64


@dataclass(frozen=True, slots=True)
class Member:
    """A member and how it joined: who added it, the update's client time, the SCW chain it signed from."""

    identifier: MemberIdentifier
    added_by_entity: MemberIdentifier | None = None
    client_timestamp_ns: int | None = None
    added_on_chain_id: int | None = None

    @property
    def kind(self) -> MemberKind:
        return self.identifier.kind

    def to_proto(self) -> association_pb2.Member:
        proto = association_pb2.Member(identifier=self.identifier.to_proto())
        if self.added_by_entity is not None:
            proto.added_by_entity.CopyFrom(self.added_by_entity.to_proto())
        if self.client_timestamp_ns is not None:
            proto.client_timestamp_ns = self.client_timestamp_ns
        if self.added_on_chain_id is not None:
            proto.added_on_chain_id = self.added_on_chain_id
        return proto

    @classmethod
    def from_proto(cls, proto: association_pb2.Member) -> Self:
        if not proto.HasField("identifier"):
            raise MalformedUpdate(Rule.MISSING_FIELD, "Member.identifier")
        return cls(
            MemberIdentifier.from_proto(proto.identifier),
            MemberIdentifier.from_proto(proto.added_by_entity) if proto.HasField("added_by_entity") else None,
            proto.client_timestamp_ns if proto.HasField("client_timestamp_ns") else None,
            proto.added_on_chain_id if proto.HasField("added_on_chain_id") else None,
        )


@dataclass(frozen=True, slots=True)
class StateDiff:
    """Members present in the newer state only, and members present in the older state only."""

    new_members: tuple[MemberIdentifier, ...]
    removed_members: tuple[MemberIdentifier, ...]

    def new_installations(self) -> list[bytes]:
        return [m.key for m in self.new_members if m.kind is MemberKind.INSTALLATION]

    def removed_installations(self) -> list[bytes]:
        return [m.key for m in self.removed_members if m.kind is MemberKind.INSTALLATION]

    def to_proto(self) -> association_pb2.AssociationStateDiff:
        return association_pb2.AssociationStateDiff(
            new_members=[m.to_proto() for m in self.new_members],
            removed_members=[m.to_proto() for m in self.removed_members],
        )


@dataclass(frozen=True, slots=True, eq=False)
class AssociationState:
    """One inbox at one point of its log. ``members`` is read-only and keeps insertion order."""

    inbox_id: str
    members: Mapping[MemberIdentifier, Member]
    recovery_identifier: MemberIdentifier
    seen_signatures: frozenset[bytes]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssociationState):
            return NotImplemented
        return (
            self.inbox_id == other.inbox_id
            and dict(self.members) == dict(other.members)
            and self.recovery_identifier == other.recovery_identifier
            and self.recovery_identifier.relying_party == other.recovery_identifier.relying_party
            and self.seen_signatures == other.seen_signatures
        )

    __hash__ = None  # type: ignore[assignment]

    # queries -----------------------------------------------------------------------------------------------

    def get(self, identifier: MemberIdentifier) -> Member | None:
        return self.members.get(identifier)

    def has_seen(self, signature: bytes) -> bool:
        return signature in self.seen_signatures

    def sorted_members(self) -> list[Member]:
        """Members by client timestamp (members without one, such as the creator, last), as libxmtp."""
        return sorted(
            self.members.values(),
            key=lambda m: _NO_TIMESTAMP if m.client_timestamp_ns is None else m.client_timestamp_ns,
        )

    def members_by_kind(self, kind: MemberKind) -> list[Member]:
        return [m for m in self.members.values() if m.kind is kind]

    def members_by_parent(self, parent: MemberIdentifier) -> list[Member]:
        return [m for m in self.members.values() if m.added_by_entity == parent]

    def installations(self) -> list[bytes]:
        """Installation public keys (installation ids), oldest first."""
        return [m.identifier.key for m in self.sorted_members() if m.kind is MemberKind.INSTALLATION]

    def ethereum_addresses(self) -> list[str]:
        """Ethereum member addresses, in libxmtp's ``identifiers()`` order."""
        return [m.identifier.address for m in self.sorted_members() if m.kind is MemberKind.ETHEREUM]

    def identifiers(self) -> list[MemberIdentifier]:
        """Ethereum and passkey members (the public identifiers of the inbox)."""
        return [m.identifier for m in self.sorted_members() if m.kind is not MemberKind.INSTALLATION]

    def diff(self, newer: AssociationState) -> StateDiff:
        return StateDiff(
            tuple(m for m in newer.members if m not in self.members),
            tuple(m for m in self.members if m not in newer.members),
        )

    def as_diff(self) -> StateDiff:
        """Every member as new (the diff from nothing)."""
        return StateDiff(tuple(self.members), ())

    # changes ---------------------------------------------------------------------------------------------

    def edit(self) -> StateDraft:
        """A draft of this state for one update to change (the member map copied once)."""
        return StateDraft(self.inbox_id, dict(self.members), self.recovery_identifier, self.seen_signatures)

    # wire form ---------------------------------------------------------------------------------------------

    def to_proto(self) -> association_pb2.AssociationState:
        """``xmtp.identity.associations.AssociationState`` (members in insertion order, signatures sorted)."""
        proto = association_pb2.AssociationState(
            inbox_id=self.inbox_id,
            members=[
                association_pb2.MemberMap(key=k.to_proto(), value=v.to_proto())
                for k, v in self.members.items()
            ],
            recovery_identifier=str(self.recovery_identifier),
            seen_signatures=sorted(self.seen_signatures),
            recovery_identifier_kind=self.recovery_identifier.identifier_kind(),
        )
        if (
            self.recovery_identifier.kind is MemberKind.PASSKEY
            and self.recovery_identifier.relying_party is not None
        ):
            proto.relying_party = self.recovery_identifier.relying_party
        return proto

    @classmethod
    def from_proto(cls, proto: association_pb2.AssociationState) -> AssociationState:
        rp = proto.relying_party if proto.HasField("relying_party") else None
        recovery = MemberIdentifier.from_identifier_text(
            proto.recovery_identifier, proto.recovery_identifier_kind, rp
        )
        members: dict[MemberIdentifier, Member] = {}
        for entry in proto.members:
            if not entry.HasField("key") or not entry.HasField("value"):
                raise MalformedUpdate(Rule.MISSING_FIELD, "MemberMap.key/value")
            members[MemberIdentifier.from_proto(entry.key)] = Member.from_proto(entry.value)
        return cls(proto.inbox_id, MappingProxyType(members), recovery, frozenset(proto.seen_signatures))

    def __repr__(self) -> str:
        members = ", ".join(repr(m) for m in self.members)
        return (
            f"AssociationState(inbox_id={self.inbox_id}, members=[{members}], "
            f"recovery={self.recovery_identifier!r}, seen_signatures={len(self.seen_signatures)})"
        )


class StateDraft:
    """One update's working copy of a state (see the module docstring); used once, then frozen."""

    __slots__ = ("_members", "_seen", "inbox_id", "recovery_identifier")

    def __init__(
        self,
        inbox_id: str,
        members: dict[MemberIdentifier, Member],
        recovery_identifier: MemberIdentifier,
        seen_signatures: frozenset[bytes],
    ) -> None:
        self.inbox_id = inbox_id
        self._members: dict[MemberIdentifier, Member] | None = members
        self.recovery_identifier = recovery_identifier
        self._seen = seen_signatures

    @classmethod
    def new(cls, inbox_id: str, identifier: MemberIdentifier, chain_id: int | None) -> StateDraft:
        """What a CreateInbox makes: one member (no parent, no timestamp), which is also the recovery."""
        return cls(inbox_id, {identifier: Member(identifier, None, None, chain_id)}, identifier, frozenset())

    @property
    def _live(self) -> dict[MemberIdentifier, Member]:
        if self._members is None:
            raise RuntimeError("this StateDraft was frozen")
        return self._members

    def get(self, identifier: MemberIdentifier) -> Member | None:
        return self._live.get(identifier)

    def has_seen(self, signature: bytes) -> bool:
        """Whether an earlier update used ``signature`` (this update's own do not count)."""
        return signature in self._seen

    def members_by_parent(self, parent: MemberIdentifier) -> list[Member]:
        return [m for m in self._live.values() if m.added_by_entity == parent]

    def add(self, member: Member) -> None:
        self._live[member.identifier] = member

    def remove(self, identifiers: Iterable[MemberIdentifier]) -> None:
        members = self._live
        for identifier in identifiers:
            members.pop(identifier, None)

    def freeze(self, new_signatures: Iterable[bytes]) -> AssociationState:
        """The new state, with ``new_signatures`` (the update's) seen; the draft cannot be used afterwards."""
        members = self._live
        self._members = None
        return AssociationState(
            self.inbox_id,
            MappingProxyType(members),
            self.recovery_identifier,
            self._seen.union(new_signatures),
        )
