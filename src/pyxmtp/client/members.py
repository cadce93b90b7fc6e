"""Who is who: an inbox's state (its identifiers and installations, from its identity log) and a conversation's
members, as node-sdk shows them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.state import AssociationState
from pyxmtp.proto.identity.associations import association_pb2

from .api import NodeApi
from .consent import ConsentState


class PermissionLevel(IntEnum):
    """A member's role in a group."""

    MEMBER = 0
    ADMIN = 1
    SUPER_ADMIN = 2


@dataclass(frozen=True, slots=True)
class InstallationInfo:
    """One installation of an inbox: its id (the installation's public key) and when it was added (the client's
    clock of the identity update that added it, if it said)."""

    id: bytes
    client_timestamp_ns: int | None

    @property
    def id_hex(self) -> str:
        return self.id.hex()


@dataclass(frozen=True, slots=True)
class InboxState:
    """An inbox as its identity log leaves it (node-sdk's ``InboxState``): the recovery identifier, the
    installations and the linked accounts (Ethereum addresses, passkeys), oldest first."""

    inbox_id: str
    recovery_identifier: MemberIdentifier
    installations: tuple[InstallationInfo, ...]
    account_identifiers: tuple[MemberIdentifier, ...]

    @classmethod
    def from_association_state(cls, state: AssociationState) -> InboxState:
        members = state.sorted_members()
        return cls(
            state.inbox_id,
            state.recovery_identifier,
            tuple(
                InstallationInfo(m.identifier.key, m.client_timestamp_ns)
                for m in members
                if m.kind is MemberKind.INSTALLATION
            ),
            tuple(m.identifier for m in members if m.kind is not MemberKind.INSTALLATION),
        )

    @property
    def installation_ids(self) -> list[bytes]:
        return [i.id for i in self.installations]


@dataclass(frozen=True, slots=True)
class GroupMember:
    """A member of a conversation: its inbox, the identifiers and installations its identity log lists at the
    sequence id the group records, its role, and our consent decision about the inbox."""

    inbox_id: str
    account_identifiers: tuple[MemberIdentifier, ...]
    installation_ids: tuple[bytes, ...]
    permission_level: PermissionLevel
    consent_state: ConsentState


#: Anything that names an inbox's member: an Ethereum address (``str``) or a :class:`MemberIdentifier`.
Identifier = str | MemberIdentifier


def as_identifier(identifier: Identifier) -> MemberIdentifier:
    """``identifier`` as a :class:`MemberIdentifier` (a ``str`` is an Ethereum address, validated)."""
    if isinstance(identifier, MemberIdentifier):
        if identifier.kind is MemberKind.INSTALLATION:
            raise ValueError("an installation key is not an identifier of an inbox's owner")
        return identifier
    return MemberIdentifier.ethereum(identifier)


def identifier_key(identifier: MemberIdentifier) -> str:
    """How the node looks an identifier up (GetInboxIds): a lowercase address, or a passkey's key in hex."""
    return str(identifier).lower()


def lookups(identifiers: Sequence[Identifier]) -> list[tuple[str, association_pb2.IdentifierKind.ValueType]]:
    """The GetInboxIds requests for ``identifiers``."""
    members = [as_identifier(i) for i in identifiers]
    return [(identifier_key(m), m.identifier_kind()) for m in members]


async def inbox_ids_for(api: NodeApi, identifiers: Sequence[Identifier]) -> dict[str, str | None]:
    """The inbox id of each identifier (keyed by the lookup key: a lowercase address or a passkey's hex), None
    for one without an inbox."""
    requests = lookups(identifiers)
    found = await api.get_inbox_ids(requests) if requests else {}
    return {key: found.get(key) for key, _ in requests}
