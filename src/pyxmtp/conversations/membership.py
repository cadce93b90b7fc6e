"""Who is in an XMTP group, and whether the tree agrees with the identity logs (protocol reference, 6.5).

An MLS leaf names an inbox only through its credential, which anyone can write. What makes a leaf an inbox's
installation is the inbox's identity log: the leaf's signature key must be an installation in the inbox's
association state at the sequence id the group's membership extension records for it (0: the latest). So
before a joined group or a commit's new members are trusted, :func:`check_leaves_belong` holds every leaf
against those states; :func:`identity_requirements` says which logs, up to where, the caller must fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from pyxmtp.identity.state import AssociationState
from pyxmtp.mls.errors import ValidationError
from pyxmtp.mls.group.events import Member

from .credential import CredentialError, parse_credential
from .group_context import Membership

#: ``{inbox_id: sequence_id} -> {inbox_id: state}``: each inbox's association state at that sequence id (0: the
#: latest). The caller fetches the logs; it may raise to say which it still needs.
StatesFor = Callable[[Mapping[str, int]], Mapping[str, AssociationState]]


class MembershipError(ValidationError):
    """The group's tree and its membership or the identity logs disagree."""


@dataclass(frozen=True, slots=True)
class Installation:
    """One leaf of the group: the inbox its credential names and its installation (signature) key."""

    leaf_index: int
    inbox_id: str
    installation_key: bytes


def installations(members: Iterable[Member]) -> list[Installation]:
    """Every leaf as an :class:`Installation`; :class:`MembershipError` if a leaf has no XMTP credential."""
    out = []
    for member in members:
        try:
            inbox_id = parse_credential(member.credential)
        except CredentialError as exc:
            raise MembershipError(f"leaf {member.leaf_index}: {exc}") from exc
        out.append(Installation(member.leaf_index, inbox_id, member.signature_key))
    return out


def identity_requirements(membership: Membership) -> dict[str, int]:
    """``{inbox_id: sequence_id}``: the identity logs needed to check the tree (0: the whole log)."""
    return dict(membership.members)


def check_leaves_belong(
    leaves: Iterable[Installation],
    membership: Membership,
    states: Mapping[str, AssociationState],
    *,
    expect_complete: bool,
) -> None:
    """Every leaf is an installation of its inbox, and its inbox is a member.

    ``states`` holds each member inbox's association state at the sequence id the membership records (the
    caller computed them from the logs :func:`identity_requirements` names). With ``expect_complete`` (a new
    member joining), every installation the states list must also be in the tree, unless the membership
    lists it as failed: otherwise the welcome hides some of a member's devices from us.
    """
    present: dict[str, set[bytes]] = {}
    for leaf in leaves:
        if leaf.inbox_id not in membership.members:
            raise MembershipError(f"leaf {leaf.leaf_index} names inbox {leaf.inbox_id!r}, not a group member")
        state = states.get(leaf.inbox_id)
        if state is None:
            raise MembershipError(f"no identity state for member inbox {leaf.inbox_id}")
        if leaf.installation_key not in state.installations():
            raise MembershipError(
                f"leaf {leaf.leaf_index}: installation {leaf.installation_key.hex()} is not in inbox "
                f"{leaf.inbox_id}'s identity log"
            )
        present.setdefault(leaf.inbox_id, set()).add(leaf.installation_key)
    if not expect_complete:
        return
    failed = set(membership.failed_installations)
    for inbox_id in membership.members:
        state = states.get(inbox_id)
        if state is None:
            raise MembershipError(f"no identity state for member inbox {inbox_id}")
        missing = set(state.installations()) - present.get(inbox_id, set()) - failed
        if missing:
            listed = ", ".join(sorted(k.hex() for k in missing))
            raise MembershipError(
                f"inbox {inbox_id}'s installations {listed} are neither in the group nor failed"
            )
