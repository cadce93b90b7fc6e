"""Joining a group by external commit (RFC 9420 sections 8.3 and 12.4.3.2).

From a GroupInfo that carries ``external_pub`` (and the ratchet tree, or with the tree supplied out of band):
check the tree and the GroupInfo signature, derive a fresh ``init_secret`` by HPKE export to ``external_pub``
(the ExternalInit proposal carries the KEM output), take the leftmost free leaf (after an optional Remove of
our previous leaf, for resynchronisation), and commit with a path from there as a ``new_member_commit``
PublicMessage. The joiner's group is returned in status ``EXTERNAL_PENDING``: it becomes a member when the
pending commit is merged (XMTP: once the server accepted it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..codec import decode, encode
from ..constants import LeafNodeSource, WireFormat
from ..crypto.keys import RandomSource, SignaturePrivateKey
from ..crypto.suite import get_suite
from ..errors import MLSError
from ..framing.content import FramedContent, FramedContentAuthData, Sender
from ..framing.messages import MLSMessage, PublicMessage
from ..framing.protection import sign_content
from ..key_packages import default_capabilities
from ..key_schedule import external_init_send
from ..messages.commit import Commit
from ..messages.credential import Credential
from ..messages.extensions import Extension, ExternalPub, get_extension
from ..messages.group_info import GroupInfo
from ..messages.proposals import ExternalInit, ExternalPSK, PreSharedKey, PreSharedKeyID, Proposal, Remove
from ..transcript import confirmation_tag, interim_transcript_hash
from ..tree.leaf_validation import check_credential_support, check_leaf_content
from ..tree.nodes import Capabilities, LeafNode
from ..tree.treekem import create_update_path
from ..tree.validation import validate_tree_for_group
from .advance import (
    context_bytes_for,
    make_psk_lookup,
    next_key_schedule,
    proposal_or_refs,
    provisional_context,
)
from .config import GroupConfig
from .epoch import Epoch
from .errors import InvalidArgument, WelcomeError
from .proposals import CachedProposal, ProposalRules, apply_proposals
from .staged import StagedCommit
from .state import GroupState
from .transitions import GroupStatus
from .tree_delta import journaled
from .welcome import TreeInput, check_group_info_extensions, group_tree, verify_group_info_signer

_NEW_MEMBER = Sender.new_member_commit()


def parse_group_info(group_info: bytes | GroupInfo) -> GroupInfo:
    if isinstance(group_info, GroupInfo):
        return group_info
    body = decode(MLSMessage, group_info).body
    if not isinstance(body, GroupInfo):
        raise WelcomeError(f"expected a GroupInfo MLSMessage, got a {type(body).__name__}")
    return body


def join_by_external_commit(
    group_info: bytes | GroupInfo,
    signer: SignaturePrivateKey,
    credential: Credential,
    *,
    rng: RandomSource,
    now: int,
    config: GroupConfig,
    ratchet_tree: TreeInput | None = None,
    capabilities: Capabilities | None = None,
    leaf_extensions: tuple[Extension, ...] = (),
    remove_leaf: int | None = None,
    psk_ids: Sequence[bytes] = (),
    psks: Mapping[bytes, bytes] | None = None,
    authenticated_data: bytes = b"",
) -> GroupState:
    """Build an external commit joining the group of ``group_info`` (see the module docstring).

    ``remove_leaf``: our old leaf to remove (resync). ``psk_ids``: external PSKs (ids in ``psks``) to inject.
    The returned group's ``pending`` commit holds the message to send.
    """
    info = parse_group_info(group_info)
    context = info.group_context
    suite = get_suite(context.cipher_suite)
    if signer.algorithm != suite.signature_scheme:
        raise InvalidArgument(
            f"signer is a {signer.algorithm} key; the group signs with {suite.signature_scheme}"
        )
    external_pub = get_extension(info.extensions, ExternalPub)
    if external_pub is None:
        raise WelcomeError("the GroupInfo has no external_pub extension: external commits are not possible")
    check_group_info_extensions(info)
    tree = group_tree(suite, info, ratchet_tree)
    validate_tree_for_group(
        tree,
        context,
        now=now if config.check_received_lifetimes else None,
        max_lifetime_range=config.max_lifetime_range,
    )
    verify_group_info_signer(suite, tree, info)

    kem_output, init_secret = external_init_send(suite, external_pub.external_pub, rng)
    proposals: list[Proposal] = [Proposal(ExternalInit(kem_output))]
    if remove_leaf is not None:
        proposals.append(Proposal(Remove(remove_leaf)))
    proposals += [
        Proposal(PreSharedKey(PreSharedKeyID(ExternalPSK(i), rng(suite.hash_len)))) for i in psk_ids
    ]
    if capabilities is None:
        capabilities = default_capabilities(suite, credential, [e.extension_type for e in leaf_extensions])
    template = LeafNode(
        b"",
        signer.public_bytes(),
        credential,
        capabilities,
        LeafNodeSource.update,
        None,
        None,
        leaf_extensions,
        b"",
    )
    context_bytes = encode(context)
    rules = ProposalRules(
        suite,
        context,
        make_psk_lookup(context.group_id, psks, {}),
        now,  # our own proposals
        config.max_lifetime_range,
    )
    state = GroupState(suite, context.group_id, config, GroupStatus.EXTERNAL_PENDING, 0, signer, tree, None)

    with journaled(tree) as journal:
        try:
            applied = apply_proposals(
                journal, [CachedProposal(p, _NEW_MEMBER) for p in proposals], _NEW_MEMBER, rules
            )
            slot = tree.free_leaf_index()
            check_leaf_content(suite, template, applied.leaf_rules, slot, None)
            check_credential_support(tree, template, slot, None)
        except MLSError as exc:
            raise InvalidArgument(f"cannot join by external commit: {exc}") from exc
        build = provisional_context(context, applied.extensions)
        journal.touch(slot)
        created = create_update_path(
            tree,
            leaf_index=slot,
            group_id=context.group_id,
            signer=signer,
            context_for=context_bytes_for(build),
            rng=rng,
            leaf_template=template,
        )
        framed = FramedContent(
            context.group_id,
            context.epoch,
            _NEW_MEMBER,
            authenticated_data,
            Commit(proposal_or_refs(applied.proposals), created.update_path),
        )
        signature = sign_content(suite, signer, WireFormat.public_message, framed, context_bytes)
        new_context, new_context_bytes, schedule = next_key_schedule(
            suite,
            build(created.tree_hash),
            interim_transcript_hash=interim_transcript_hash(
                suite, context.confirmed_transcript_hash, info.confirmation_tag
            ),
            wire_format=WireFormat.public_message,
            content=framed,
            signature=signature,
            init_secret=init_secret,
            commit_secret=created.commit_secret,
            psks=applied.psks,
        )
        tag = confirmation_tag(
            suite, schedule.secrets.confirmation_key, new_context.confirmed_transcript_hash
        )
        next_epoch = Epoch.start(
            suite,
            new_context,
            created.private_state,
            schedule.secrets,
            tree.n_leaves,
            interim_transcript_hash(suite, new_context.confirmed_transcript_hash, tag),
            tag,
            state.ratchet_config(),
            new_context_bytes,
        )
        delta = journal.capture()

    message = encode(MLSMessage(PublicMessage(framed, FramedContentAuthData(signature, tag), None)))
    state.own_leaf = slot
    state.pending = StagedCommit(
        group_id=context.group_id,
        sender=_NEW_MEMBER,
        committer=slot,
        base_epoch=context.epoch,
        proposals=applied.proposals,
        added=(),
        updated=(),
        removed=tuple(applied.removed),
        extensions=None,
        psk_ids=tuple(psk for psk, _ in applied.psks),
        path_leaf=created.update_path.leaf_node,
        reinit=None,
        delta=delta,
        next_epoch=next_epoch,
        own=True,
        message=message,
    )
    return state
