"""Processing an incoming MLSMessage (RFC 9420 sections 6, 12.4.2): decrypt or check, authenticate, then turn it
into an :class:`~pyxmtp.mls.group.events.ApplicationMessage`, a cached proposal
(:class:`~pyxmtp.mls.group.events.ProposalReceived`) or a :class:`~pyxmtp.mls.group.staged.StagedCommit`.

Nothing changes in the group when processing raises. On success an application message consumes its ratchet
key and a proposal is cached (with its key consumed); a commit changes nothing until it is merged.

Checks, in order: MLSMessage parses; it is a PublicMessage or PrivateMessage of this group; its epoch is the
current one, or (application messages only, as PrivateMessages) a kept past epoch; the wire format is allowed
(application data is always private; member handshake messages follow the group's policy; external senders and
new members always send PublicMessages); the membership tag (member PublicMessage) or the decryption; the
sender is a member of that epoch (or a valid external sender / new member); the content signature. Then the
content-specific checks: proposal validity (:func:`~pyxmtp.mls.group.proposals.check_single_proposal`) or the
whole commit (:func:`stage_commit`).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..codec import decode, encode
from ..constants import ContentType, LeafNodeSource, SenderType, WireFormat
from ..crypto.labels import make_proposal_ref
from ..crypto.suite import CipherSuite
from ..errors import MissingKeyError, ValidationError, WrongEpochError
from ..framing.content import AuthenticatedContent, Sender
from ..framing.messages import MLSMessage, PrivateMessage, PublicMessage, parse_private_message
from ..framing.protection import unprotect_private, unprotect_public, verify_content
from ..framing.sender_data import decrypt_sender_data, sender_data_aad
from ..key_schedule import external_init_receive, zero_secret
from ..messages.commit import Commit
from ..messages.extensions import ExternalSenders, get_extension
from ..messages.proposals import Add, Proposal, ProposalOrRef
from ..transcript import interim_transcript_hash, verify_confirmation_tag
from ..tree.leaf_validation import validate_leaf_node
from ..tree.nodes import LeafNode
from ..tree.ratchet_tree import RatchetTree
from ..tree.treekem import apply_update_path
from .advance import context_bytes_for, make_psk_lookup, next_key_schedule, provisional_context
from .epoch import Epoch
from .errors import CommitError, MissingProposalError, OwnMessageError, WireFormatError, WrongGroupError
from .events import ApplicationMessage, ProposalReceived
from .proposal_store import ProposalStore
from .proposals import CachedProposal, ProposalRules, apply_proposals, check_single_proposal
from .staged import Consumable, StagedCommit
from .state import GroupState
from .transitions import GroupInput, check_allowed
from .tree_delta import journaled

ProcessResult = ApplicationMessage | ProposalReceived | StagedCommit

_MEMBER = SenderType.member
_EXTERNAL = SenderType.external
_NEW_MEMBER_PROPOSAL = SenderType.new_member_proposal
_NEW_MEMBER_COMMIT = SenderType.new_member_commit
_PRIVATE = WireFormat.private_message
_PUBLIC = WireFormat.public_message


def process_message(
    state: GroupState, data: bytes, *, now: int, psks: Mapping[bytes, bytes] | None = None
) -> ProcessResult:
    """See the module docstring. ``psks`` maps external PSK ids to their secrets (for commits that use them).
    The bytes of our own pending commit give back that pending :class:`StagedCommit`."""
    pending = state.pending
    if pending is not None and pending.message == data:
        return pending
    check_allowed(state.status, GroupInput.PROCESS)
    message = parse_private_message(data) or decode(MLSMessage, data).body
    if isinstance(message, PrivateMessage):
        return _process_private(state, message, now, psks)
    if isinstance(message, PublicMessage):
        return _process_public(state, message, now, psks)
    raise WireFormatError(f"a {type(message).__name__} is not a group message (join with Group.join)")


def _member_leaf(tree: RatchetTree, leaf_index: int, what: str) -> LeafNode:
    leaf = tree.leaf(leaf_index) if leaf_index < tree.n_leaves else None
    if leaf is None:
        raise ValidationError(f"{what}: sender leaf {leaf_index} is not a member")
    return leaf


def _epoch_error(state: GroupState, epoch: int) -> WrongEpochError:
    current = state.epoch
    if current is not None and epoch > current.number:
        return WrongEpochError(f"message for future epoch {epoch} (current {current.number})")
    kept = ", ".join(str(p.epoch) for p in state.past) or "none"
    now = "none" if current is None else str(current.number)
    return WrongEpochError(
        f"message for epoch {epoch}: not current ({now}) nor kept (past epochs kept: {kept})"
    )


def _process_private(
    state: GroupState, message: PrivateMessage, now: int, psks: Mapping[bytes, bytes] | None
) -> ProcessResult:
    if message.group_id != state.group_id:
        raise WrongGroupError("PrivateMessage for another group")
    suite = state.suite
    current = state.epoch
    if current is not None and message.epoch == current.number:
        if (
            message.content_type is not ContentType.application
            and not state.config.wire_format_policy.accepts_handshake(_PRIVATE)
        ):
            raise WireFormatError("the group's wire format policy refuses handshake PrivateMessages")
        try:
            opened = unprotect_private(
                suite, message, current.secret_tree, current.secrets.sender_data_secret
            )
        except MissingKeyError:
            if _sent_by(suite, message, current.secrets.sender_data_secret) == state.own_leaf:
                raise OwnMessageError("this PrivateMessage was sent by us") from None
            raise
        leaf = _member_leaf(state.tree, opened.leaf_index, "PrivateMessage")
        opened.verify(suite, leaf.signature_key, current.context_bytes)
        body = opened.body
        if type(body) is bytes:  # application data: the hot path, without building the content objects
            event = ApplicationMessage(
                opened.leaf_index, body, message.authenticated_data, message.epoch, opened.generation
            )
            opened.commit()
            return event
        return _dispatch(state, opened.content, opened, opened.generation, now, psks)

    past = state.past_epoch(message.epoch)
    if past is None:
        raise _epoch_error(state, message.epoch)
    if message.content_type is not ContentType.application:
        raise WrongEpochError(
            f"{message.content_type.name} message for past epoch {message.epoch}: only application messages "
            "of past epochs are accepted"
        )
    opened = unprotect_private(suite, message, past.secret_tree, past.sender_data_secret)
    past_leaf = state.leaf_in_past_epoch(past.epoch, opened.leaf_index)
    if past_leaf is None:
        raise ValidationError(
            f"PrivateMessage: sender leaf {opened.leaf_index} was not a member in epoch {past.epoch}"
        )
    opened.verify(suite, past_leaf.signature_key, past.context_bytes)
    body = opened.body
    assert isinstance(body, bytes)
    event = ApplicationMessage(
        opened.leaf_index, body, message.authenticated_data, past.epoch, opened.generation
    )
    opened.commit()
    return event


def _sent_by(suite: CipherSuite, message: PrivateMessage, sender_data_secret: bytes) -> int:
    """The sender leaf of a PrivateMessage (its sender data already decrypted once)."""
    aad = sender_data_aad(message.group_id, message.epoch, message.content_type)
    return decrypt_sender_data(
        suite, sender_data_secret, aad, message.encrypted_sender_data, message.ciphertext
    )[0]


def _process_public(
    state: GroupState, message: PublicMessage, now: int, psks: Mapping[bytes, bytes] | None
) -> ProcessResult:
    framed = message.content
    if framed.group_id != state.group_id:
        raise WrongGroupError("PublicMessage for another group")
    current = state.epoch
    if current is None or framed.epoch != current.number:
        raise _epoch_error(state, framed.epoch)
    if isinstance(framed.body, bytes):
        raise WireFormatError("application data must be sent as a PrivateMessage")
    sender = framed.sender
    if sender.sender_type is _MEMBER and not state.config.wire_format_policy.accepts_handshake(_PUBLIC):
        raise WireFormatError("the group's wire format policy refuses handshake PublicMessages from members")
    suite = state.suite
    content = unprotect_public(suite, message, current.context_bytes, current.secrets.membership_key)
    verify_content(suite, _signature_key(state, current, content), content, current.context_bytes)
    return _dispatch(state, content, None, None, now, psks)


def _signature_key(state: GroupState, current: Epoch, content: AuthenticatedContent) -> bytes:
    """The public key the content must be signed with, by sender type (RFC 9420 6.1)."""
    framed = content.content
    sender = framed.sender
    body = framed.body
    t = sender.sender_type
    if t is _MEMBER:
        return _member_leaf(state.tree, sender.index, "PublicMessage").signature_key
    if t is _EXTERNAL:
        if not isinstance(body, Proposal):
            raise ValidationError("an external sender can only send proposals")
        senders = get_extension(current.context.extensions, ExternalSenders)
        if senders is None or sender.index >= len(senders.senders):
            raise ValidationError(f"external sender {sender.index} is not in the group's external_senders")
        return senders.senders[sender.index].signature_key
    if t is _NEW_MEMBER_PROPOSAL:
        if not isinstance(body, Proposal) or not isinstance(body.body, Add):
            raise ValidationError("a new_member_proposal sender can only send an Add proposal")
        return body.body.key_package.leaf_node.signature_key
    if not isinstance(body, Commit) or body.path is None:
        raise ValidationError("a new_member_commit sender must send a commit with a path")
    return body.path.leaf_node.signature_key


def _dispatch(
    state: GroupState,
    content: AuthenticatedContent,
    opened: Consumable | None,
    generation: int | None,
    now: int,
    psks: Mapping[bytes, bytes] | None,
) -> ProcessResult:
    framed = content.content
    body = framed.body
    if isinstance(body, bytes):
        if opened is None or generation is None:
            raise WireFormatError("application data must be sent as a PrivateMessage")
        event = ApplicationMessage(
            framed.sender.index, body, framed.authenticated_data, framed.epoch, generation
        )
        opened.commit()
        return event
    if isinstance(body, Proposal):
        cached = receive_proposal(state, content, now)
        state.proposals.check_room(body)  # refused before its key is used up: the group stays as it was
        if opened is not None:
            opened.commit()
        state.proposals.add(cached)
        assert cached.reference is not None
        return ProposalReceived(
            cached.sender, body, cached.reference, framed.authenticated_data, framed.epoch
        )
    return stage_commit(state, content, handshake_key=opened, now=now, psks=psks)


def proposal_rules(
    state: GroupState, now: int, psks: Mapping[bytes, bytes] | None, *, received: bool
) -> ProposalRules:
    """What proposals are validated against in the current epoch (external PSKs from ``psks``). The lifetimes
    of key packages in Adds are checked at ``now`` in our own proposals and commits, and in ``received`` ones
    only if the configuration asks for it (``check_received_lifetimes``)."""
    current = state.current
    lookup = make_psk_lookup(current.context.group_id, psks, state.resumption_psks)
    config = state.config
    check = not received or config.check_received_lifetimes
    return ProposalRules(
        state.suite, current.context, lookup, now if check else None, config.max_lifetime_range
    )


def receive_proposal(state: GroupState, content: AuthenticatedContent, now: int) -> CachedProposal:
    """Validate a proposal sent by reference; return it with its ProposalRef (the caller caches it)."""
    body = content.content.body
    assert isinstance(body, Proposal)
    sender = content.content.sender
    check_single_proposal(state.tree, body, sender, proposal_rules(state, now, None, received=True))
    return CachedProposal(body, sender, make_proposal_ref(state.suite, encode(content)))


def resolve_proposals(
    refs: tuple[ProposalOrRef, ...], committer: Sender, store: ProposalStore
) -> list[CachedProposal]:
    """The proposals a commit covers, inline ones attributed to the committer."""
    out: list[CachedProposal] = []
    for i, por in enumerate(refs):
        value = por.value
        if isinstance(value, Proposal):
            out.append(CachedProposal(value, committer, None))
            continue
        cached = store.get(value)
        if cached is None:
            raise MissingProposalError(f"proposal {i}: unknown ProposalRef {value.hex()}")
        out.append(cached)
    return out


def stage_commit(
    state: GroupState,
    content: AuthenticatedContent,
    *,
    handshake_key: Consumable | None,
    now: int,
    psks: Mapping[bytes, bytes] | None,
) -> StagedCommit:
    """Validate and compute a received commit (RFC 9420 12.4.2) without changing the group."""
    suite = state.suite
    current = state.current
    tree = state.tree
    framed = content.content
    commit = framed.body
    assert isinstance(commit, Commit)
    sender = framed.sender
    tag = content.auth.confirmation_tag
    assert tag is not None
    external = sender.sender_type is _NEW_MEMBER_COMMIT
    if sender.sender_type is _MEMBER:
        if sender.index == state.own_leaf:
            raise CommitError("a commit from our own leaf: only our pending commit can be merged")
    elif not external:
        raise CommitError(f"a {sender.sender_type.name} sender cannot commit")
    if external and commit.path is None:
        raise CommitError("an external commit must have a path")

    proposals = resolve_proposals(commit.proposals, sender, state.proposals)
    rules = proposal_rules(state, now, psks, received=True)
    own = state.own_leaf
    group_id = current.context.group_id
    with journaled(tree) as journal:
        applied = apply_proposals(journal, proposals, sender, rules)
        if applied.path_required and commit.path is None:
            raise CommitError("the commit's proposals require a path (RFC 9420 12.4) and it has none")
        removed_us = any(i == own for i, _ in applied.removed)
        private = current.private
        for i, leaf in applied.updated:
            if i == own:  # another member committed our Update proposal
                key = state.own_update_keys.get(leaf.encryption_key)
                if key is None:
                    raise MissingKeyError(
                        "a commit applies an Update of ours whose private key we do not hold"
                    )
                private = private.with_leaf_key(key)
        committer = tree.free_leaf_index() if external else sender.index
        build = provisional_context(current.context, applied.extensions)
        next_epoch: Epoch | None = None
        path_leaf = None if commit.path is None else commit.path.leaf_node
        if not removed_us:
            if commit.path is not None:
                validate_leaf_node(
                    tree,
                    commit.path.leaf_node,
                    rules=applied.leaf_rules,
                    source=LeafNodeSource.commit,
                    leaf_index=committer,
                    check_signature=False,  # apply_update_path verifies it
                )
                journal.touch(committer)
                path = apply_update_path(
                    tree,
                    private,
                    sender=committer,
                    update_path=commit.path,
                    group_id=group_id,
                    context_for=context_bytes_for(build),
                    excluded_leaves=[i for i, _ in applied.added],
                )
                commit_secret, private, tree_hash = path.commit_secret, path.private_state, path.tree_hash
            else:
                commit_secret, private, tree_hash = zero_secret(suite), private.pruned(tree), tree.tree_hash()
            if external:
                assert applied.external_init is not None
                init_secret = external_init_receive(
                    suite, current.secrets.external_private_key(suite), applied.external_init.kem_output
                )
            else:
                init_secret = current.secrets.init_secret
            context, context_bytes, schedule = next_key_schedule(
                suite,
                build(tree_hash),
                interim_transcript_hash=current.interim_transcript_hash,
                wire_format=content.wire_format,
                content=framed,
                signature=content.auth.signature,
                init_secret=init_secret,
                commit_secret=commit_secret,
                psks=applied.psks,
            )
            verify_confirmation_tag(
                suite, schedule.secrets.confirmation_key, context.confirmed_transcript_hash, tag
            )
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
        delta = journal.capture()
    return StagedCommit(
        group_id=group_id,
        sender=sender,
        committer=committer,
        base_epoch=current.number,
        proposals=applied.proposals,
        added=tuple(applied.added),
        updated=tuple(applied.updated),
        removed=tuple(applied.removed),
        extensions=applied.extensions if applied.extensions_changed else None,
        psk_ids=tuple(psk for psk, _ in applied.psks),
        path_leaf=path_leaf,
        reinit=applied.reinit,
        delta=delta,
        next_epoch=next_epoch,
        handshake_key=handshake_key,
    )
