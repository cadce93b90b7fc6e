"""The cache of an epoch's proposals by reference (RFC 9420 12.1, 12.4).

:class:`ProposalStore` holds the proposals received (or sent) by reference in the current epoch, keyed by
ProposalRef, in arrival order; it is emptied at every epoch change. It is part of the group state, written out
after every message, so it is bounded: at most :data:`MAX_CACHED_PROPOSALS` proposals and
:data:`MAX_CACHED_PROPOSAL_BYTES` of them; one more is refused with
:class:`~pyxmtp.mls.group.errors.ProposalStoreFull` (before its message's key is used up). A commit that names a
proposal refused so is then a :class:`~pyxmtp.mls.group.errors.MissingProposalError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..codec import Reader, Writer
from ..messages._codec import encode_item
from ..messages.proposals import Proposal
from .errors import ProposalStoreFull
from .proposals import CachedProposal

#: At most this many proposals by reference are kept in one epoch ...
MAX_CACHED_PROPOSALS = 1000
#: ... holding at most this many bytes of proposals (their TLS encoding): the store is part of the group state,
#: written out after every message, so a member sending proposals nobody commits must not grow it for ever.
MAX_CACHED_PROPOSAL_BYTES = 1 << 20


def proposal_size(proposal: Proposal) -> int:
    """What a proposal counts against :data:`MAX_CACHED_PROPOSAL_BYTES`: its TLS encoding's length."""
    w = Writer()
    proposal.encode(w)
    return len(w.getvalue())


class ProposalStore:
    """By-reference proposals of the current epoch, in arrival order, keyed by ProposalRef; at most
    :data:`MAX_CACHED_PROPOSALS` of them and :data:`MAX_CACHED_PROPOSAL_BYTES` in all (:meth:`check_room`)."""

    __slots__ = ("_bytes", "_items")

    def __init__(self, items: Sequence[CachedProposal] = ()) -> None:
        self._items: dict[bytes, CachedProposal] = {}
        self._bytes = 0
        for item in items:  # our own state: stored within the bounds of when it was written
            self._put(item)

    def check_room(self, proposal: Proposal) -> None:
        """:class:`ProposalStoreFull` unless one more proposal like this one fits."""
        if len(self._items) >= MAX_CACHED_PROPOSALS:
            raise ProposalStoreFull(
                f"{len(self._items)} proposals by reference are cached in this epoch already, the most kept"
            )
        size = proposal_size(proposal)
        if self._bytes + size > MAX_CACHED_PROPOSAL_BYTES:
            raise ProposalStoreFull(
                f"a {size}-byte proposal does not fit: {self._bytes} of the {MAX_CACHED_PROPOSAL_BYTES} bytes "
                "kept for this epoch's proposals by reference are used"
            )

    def add(self, item: CachedProposal) -> None:
        """Cache ``item`` (:class:`ProposalStoreFull` if it does not fit: see :meth:`check_room`)."""
        if item.reference is None:
            raise ValueError("only proposals sent by reference are cached")
        if item.reference not in self._items:
            self.check_room(item.proposal)
        self._put(item)

    def _put(self, item: CachedProposal) -> None:
        assert item.reference is not None
        old = self._items.get(item.reference)
        if old is not None:
            self._bytes -= proposal_size(old.proposal)
        self._items[item.reference] = item
        self._bytes += proposal_size(item.proposal)

    def get(self, reference: bytes) -> CachedProposal | None:
        return self._items.get(reference)

    def __contains__(self, reference: object) -> bool:
        return reference in self._items

    def __iter__(self) -> Iterator[CachedProposal]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    def encode(self, w: Writer) -> None:
        w.vector_v(self._items.values(), encode_item)

    @classmethod
    def decode(cls, r: Reader) -> ProposalStore:
        with r.structure("ProposalStore"):
            items = r.vector_v(CachedProposal.decode)
            if any(item.reference is None for item in items):
                raise r.error("a cached proposal has no reference")
            return cls(items)
