"""Computing the next epoch from a commit: the part shared by creating, processing and externally joining.

Order (RFC 9420 8.2, 12.4): the commit's FramedContent is signed; the new confirmed transcript hash covers it;
the new GroupContext (next epoch, new tree hash and extensions) carries that hash; the key schedule runs from
``init_secret`` (the previous epoch's, or an external commit's), the commit secret and the PSK secret; the
confirmation tag is the MAC of the confirmed hash under the new ``confirmation_key``; the interim transcript
hash covers the tag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..codec import encode
from ..crypto.suite import CipherSuite
from ..framing.content import FramedContent
from ..key_schedule import EpochKeySchedule, advance_epoch
from ..messages.extensions import Extension
from ..messages.group_info import GroupContext
from ..messages.proposals import ExternalPSK, PreSharedKeyID, ProposalOrRef, ResumptionPSK
from ..psk import psk_secret
from ..transcript import confirmed_transcript_hash
from .proposals import CachedProposal


def provisional_context(
    old: GroupContext, extensions: tuple[Extension, ...]
) -> Callable[[bytes], GroupContext]:
    """``tree_hash -> GroupContext`` of the next epoch before the transcript is updated (RFC 9420 12.4.2:
    the context path secrets are encrypted under)."""

    def build(tree_hash: bytes) -> GroupContext:
        return GroupContext(
            old.version,
            old.cipher_suite,
            old.group_id,
            old.epoch + 1,
            tree_hash,
            old.confirmed_transcript_hash,
            extensions,
        )

    return build


def context_bytes_for(build: Callable[[bytes], GroupContext]) -> Callable[[bytes], bytes]:
    """The TreeKEM callback: the encoded provisional context for a tree hash."""
    return lambda tree_hash: encode(build(tree_hash))


def next_key_schedule(
    suite: CipherSuite,
    provisional: GroupContext,
    *,
    interim_transcript_hash: bytes,
    wire_format: int,
    content: FramedContent,
    signature: bytes,
    init_secret: bytes,
    commit_secret: bytes,
    psks: Sequence[tuple[PreSharedKeyID, bytes]],
) -> tuple[GroupContext, bytes, EpochKeySchedule]:
    """``(new GroupContext, its encoding, key schedule)`` for a signed commit."""
    confirmed = confirmed_transcript_hash(suite, interim_transcript_hash, wire_format, content, signature)
    context = GroupContext(
        provisional.version,
        provisional.cipher_suite,
        provisional.group_id,
        provisional.epoch,
        provisional.tree_hash,
        confirmed,
        provisional.extensions,
    )
    context_bytes = encode(context)
    schedule = advance_epoch(
        suite, init_secret, commit_secret, context_bytes, psk_secret(suite, psks) if psks else None
    )
    return context, context_bytes, schedule


def proposal_or_refs(proposals: Sequence[CachedProposal]) -> tuple[ProposalOrRef, ...]:
    """How a commit lists ``proposals``: by reference when they have one, inline otherwise."""
    return tuple(ProposalOrRef(p.reference if p.reference is not None else p.proposal) for p in proposals)


def make_psk_lookup(
    group_id: bytes, external: Mapping[bytes, bytes] | None, resumption: Mapping[int, bytes]
) -> Callable[[PreSharedKeyID], bytes | None]:
    """PSK values: external PSKs from the caller's store (psk_id -> secret), resumption PSKs of this group's
    recent epochs."""

    def lookup(psk_id: PreSharedKeyID) -> bytes | None:
        psk = psk_id.psk
        if isinstance(psk, ExternalPSK):
            return None if external is None else external.get(psk.psk_id)
        assert isinstance(psk, ResumptionPSK)
        if psk.psk_group_id != group_id:
            return None
        return resumption.get(psk.psk_epoch)

    return lookup
