"""What processing an incoming message yields (frozen, slotted, validated on construction).

:meth:`~pyxmtp.mls.group.group.Group.process` returns an :class:`ApplicationMessage`, a
:class:`ProposalReceived`, or a :class:`~pyxmtp.mls.group.staged.StagedCommit` (inspect, then merge).
:class:`Member` describes one leaf of the group.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..constants import SenderType
from ..errors import LocalMLSError
from ..framing.content import Sender
from ..messages.credential import Credential
from ..messages.proposals import Proposal


@dataclass(frozen=True, slots=True)
class Member:
    """A member's leaf: its index, credential and public keys."""

    leaf_index: int
    credential: Credential
    signature_key: bytes
    encryption_key: bytes

    def __post_init__(self) -> None:
        if self.leaf_index < 0:
            raise LocalMLSError(f"negative leaf index {self.leaf_index}")


@dataclass(frozen=True, slots=True)
class ApplicationMessage:
    """Application data from a member. ``epoch`` is the epoch it was sent in (possibly a past one)."""

    sender: int
    data: bytes
    authenticated_data: bytes
    epoch: int
    generation: int

    def __post_init__(self) -> None:
        if self.sender < 0 or self.epoch < 0 or self.generation < 0:
            raise LocalMLSError("ApplicationMessage: negative sender, epoch or generation")


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A proposal sent by reference, now cached for a commit of this epoch to include.

    ``sender`` is a member, an external sender or a new member (``new_member_proposal``); ``reference`` is its
    ProposalRef (what a commit names it by).
    """

    sender: Sender
    proposal: Proposal
    reference: bytes
    authenticated_data: bytes
    epoch: int

    def __post_init__(self) -> None:
        if self.sender.sender_type is SenderType.new_member_commit:
            raise LocalMLSError("a proposal cannot come from a new_member_commit sender")
        if not self.reference:
            raise LocalMLSError("ProposalReceived needs its ProposalRef")
