"""Creating a commit (RFC 9420 12.4.1), with the Welcome for added members and, on request, a GroupInfo.

The commit covers every cached by-reference proposal of the epoch that is still valid (an invalid one is
left out, as RFC 9420 12.2 asks of committers) followed by the caller's inline proposals (which must all be
valid: a bad one is :class:`~pyxmtp.mls.group.errors.InvalidArgument`). It has a path when the proposals
require one (RFC 9420 12.4), when there are none, or when ``force_path`` is set.

The result is our pending :class:`~pyxmtp.mls.group.staged.StagedCommit`: the group stays in its epoch
(status ``PENDING_COMMIT``) until :meth:`~pyxmtp.mls.group.group.Group.merge_pending_commit`. Building the
commit consumes one generation of our handshake ratchet (the commit is a handshake message of this epoch),
and nothing else of the group changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..codec import encode
from ..constants import WireFormat
from ..crypto.keys import RandomSource
from ..framing.content import AuthenticatedContent, FramedContent, FramedContentAuthData, Sender
from ..framing.messages import MLSMessage
from ..framing.protection import sign_content
from ..key_schedule import zero_secret
from ..messages.commit import Commit, UpdatePath
from ..messages.proposals import Proposal
from ..transcript import confirmation_tag, interim_transcript_hash
from ..tree.treekem import create_update_path
from .advance import context_bytes_for, next_key_schedule, proposal_or_refs, provisional_context
from .epoch import Epoch
from .errors import InvalidArgument, MissingPSKError, ProposalError
from .process import proposal_rules
from .proposals import AppliedProposals, CachedProposal, apply_proposals
from .send import frame, handshake_wire_format
from .staged import StagedCommit
from .state import GroupState
from .transitions import GroupInput, next_status
from .tree_delta import TreeJournal, journaled
from .welcome import build_welcome_message, epoch_group_info


def _apply_dropping_invalid(
    state: GroupState,
    journal: TreeJournal,
    candidates: list[CachedProposal],
    now: int,
    psks: Mapping[bytes, bytes] | None,
) -> AppliedProposals:
    """:func:`apply_proposals`, leaving out by-reference proposals that break a rule (each retry starts from the
    untouched tree); a broken rule blamed on an inline proposal is the caller's error."""
    me = Sender.member(state.own_leaf)
    rules = proposal_rules(state, now, psks, received=False)
    while True:
        try:
            return apply_proposals(journal, candidates, me, rules)
        except (ProposalError, MissingPSKError) as exc:
            journal.rollback()
            index = exc.index
            if index is None or candidates[index].reference is None:
                raise InvalidArgument(f"cannot commit these proposals: {exc}") from exc
            del candidates[index]


def create_commit(
    state: GroupState,
    *,
    rng: RandomSource,
    now: int,
    proposals: Sequence[Proposal] = (),
    by_reference: bool = True,
    force_path: bool = False,
    psks: Mapping[bytes, bytes] | None = None,
    authenticated_data: bytes = b"",
    with_group_info: bool = False,
    wire_format: WireFormat | None = None,
    ratchet_tree_in_welcome: bool | None = None,
) -> StagedCommit:
    """Build our commit (see the module docstring) and make it the pending commit. ``wire_format`` and
    ``ratchet_tree_in_welcome`` override the group's configuration for this commit only."""
    status = next_status(state.status, GroupInput.COMMIT)
    wire_format = handshake_wire_format(state, wire_format)
    if ratchet_tree_in_welcome is None:
        ratchet_tree_in_welcome = state.config.use_ratchet_tree_extension
    suite = state.suite
    current = state.current
    tree = state.tree
    own = state.own_leaf
    me = Sender.member(own)
    group_id = current.context.group_id
    candidates = list(state.proposals) if by_reference else []
    candidates += [CachedProposal(p, me, None) for p in proposals]

    with journaled(tree) as journal:
        applied = _apply_dropping_invalid(state, journal, candidates, now, psks)
        added = [i for i, _ in applied.added]
        build = provisional_context(current.context, applied.extensions)
        update_path: UpdatePath | None = None
        path_secret_for = None
        if force_path or applied.path_required:
            journal.touch(own)
            created = create_update_path(
                tree,
                leaf_index=own,
                group_id=group_id,
                signer=state.signer,
                context_for=context_bytes_for(build),
                rng=rng,
                excluded_leaves=added,
            )
            commit_secret, private, tree_hash = (
                created.commit_secret,
                created.private_state,
                created.tree_hash,
            )
            update_path, path_secret_for = created.update_path, created.path_secret_for
        else:
            commit_secret, private, tree_hash = (
                zero_secret(suite),
                current.private.pruned(tree),
                tree.tree_hash(),
            )

        framed = FramedContent(
            group_id,
            current.number,
            me,
            authenticated_data,
            Commit(proposal_or_refs(applied.proposals), update_path),
        )
        signature = sign_content(suite, state.signer, wire_format, framed, current.context_bytes)
        context, context_bytes, schedule = next_key_schedule(
            suite,
            build(tree_hash),
            interim_transcript_hash=current.interim_transcript_hash,
            wire_format=wire_format,
            content=framed,
            signature=signature,
            init_secret=current.secrets.init_secret,
            commit_secret=commit_secret,
            psks=applied.psks,
        )
        tag = confirmation_tag(suite, schedule.secrets.confirmation_key, context.confirmed_transcript_hash)
        next_epoch = Epoch.start(
            suite,
            context,
            private,
            schedule.secrets,
            tree.n_leaves,
            interim_transcript_hash(suite, context.confirmed_transcript_hash, tag),
            tag,
            state.ratchet_config(),
            context_bytes,
        )
        tree_nodes = tree.to_nodes() if applied.added and ratchet_tree_in_welcome else None
        welcome = None
        if applied.added:
            welcome = build_welcome_message(
                suite,
                state.signer,
                own,
                context,
                tag,
                joiner_secret=schedule.joiner_secret,
                welcome_secret=schedule.welcome_secret,
                added=applied.added,
                psk_ids=[psk for psk, _ in applied.psks],
                path_secret_for=path_secret_for,
                tree_nodes=tree_nodes,
                rng=rng,
            )
        group_info = None
        if with_group_info:
            group_info = encode(
                MLSMessage(
                    epoch_group_info(
                        state,
                        next_epoch,
                        tree,
                        with_ratchet_tree=True,
                        with_external_pub=state.config.external_pub_in_group_info,
                    )
                )
            )
        delta = journal.capture()

    # the only change to the current epoch: our handshake ratchet moves one generation
    content = AuthenticatedContent(wire_format, framed, FramedContentAuthData(signature, tag))
    message = frame(state, content, rng=rng)
    staged = StagedCommit(
        group_id=group_id,
        sender=me,
        committer=own,
        base_epoch=current.number,
        proposals=applied.proposals,
        added=tuple(applied.added),
        updated=tuple(applied.updated),
        removed=tuple(applied.removed),
        extensions=applied.extensions if applied.extensions_changed else None,
        psk_ids=tuple(psk for psk, _ in applied.psks),
        path_leaf=None if update_path is None else update_path.leaf_node,
        reinit=applied.reinit,
        delta=delta,
        next_epoch=next_epoch,
        own=True,
        message=message,
        welcome=welcome,
        group_info=group_info,
    )
    state.pending = staged
    state.status = status
    return staged
