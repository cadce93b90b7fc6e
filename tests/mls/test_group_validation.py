"""Every proposal-list rule the group engine enforces (RFC 9420 12.1, 12.2, 12.4) rejects a commit that breaks
it, with a typed error, leaving the receiver's state unchanged.

Invalid commits are forged by a real member: the content is signed with its key and framed with its epoch
secrets (so the receiver gets past decryption, membership tag and signature) but the proposal list is built
by hand, bypassing the committer-side checks.
"""

from __future__ import annotations

import dataclasses

import pytest

from pyxmtp.mls.constants import ResumptionPSKUsage, WireFormat
from pyxmtp.mls.errors import InvalidSignature, MLSError, ValidationError
from pyxmtp.mls.framing.content import FramedContent, Sender
from pyxmtp.mls.framing.protection import authenticate
from pyxmtp.mls.group import GroupConfig, StagedCommit, WireFormatPolicy
from pyxmtp.mls.group.advance import make_psk_lookup
from pyxmtp.mls.group.errors import (
    CommitError,
    InvalidArgument,
    MissingProposalError,
    MissingPSKError,
    ProposalError,
)
from pyxmtp.mls.group.proposals import CachedProposal, ProposalRules, apply_proposals
from pyxmtp.mls.group.send import frame
from pyxmtp.mls.group.tree_delta import TreeJournal
from pyxmtp.mls.messages.commit import Commit
from pyxmtp.mls.messages.extensions import Extension, RequiredCapabilities
from pyxmtp.mls.messages.proposals import (
    Add,
    AppDataUpdate,
    ExternalInit,
    ExternalPSK,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ProposalOrRef,
    ReInit,
    Remove,
    ResumptionPSK,
    SelfRemove,
    UnknownProposal,
    Update,
)
from pyxmtp.mls.transcript import InvalidConfirmationTag
from tests.mls.helpers import InMemoryGroup

NOW = 1_700_000_000
POLICY = GroupConfig(wire_format_policy=WireFormatPolicy.MIXED_PLAINTEXT)


def group_of(*names: str, seed: int = 0, config: GroupConfig = POLICY) -> InMemoryGroup:
    net = InMemoryGroup(seed=seed, config=config)
    net.create(names[0])
    net.add(names[0], *names[1:])
    return net


def forge_commit(
    net: InMemoryGroup,
    sender: str,
    proposals: list[Proposal | bytes],
    *,
    path: bool = False,
    wire_format: WireFormat = WireFormat.public_message,
) -> bytes:
    """A commit signed and framed by ``sender`` with exactly ``proposals`` (refs as bytes), a garbage
    confirmation tag and, with ``path``, the path of a genuine full commit (not valid for this list)."""
    group = net[sender]
    state = group.state
    epoch = state.current
    update_path = None
    if path:
        real = group.commit(rng=net.rng, now=NOW, force_path=True, by_reference=False)
        group.clear_pending_commit()
        assert real.path_leaf is not None
        from pyxmtp.mls.codec import decode
        from pyxmtp.mls.framing.messages import MLSMessage

        assert real.message is not None
        body = decode(MLSMessage, real.message).body
        content = getattr(body, "content", None)
        update_path = content.body.path if content is not None else None
    framed = FramedContent(
        epoch.context.group_id,
        epoch.number,
        Sender.member(state.own_leaf),
        b"",
        Commit(tuple(ProposalOrRef(p) for p in proposals), update_path),
    )
    content = authenticate(state.suite, state.signer, wire_format, framed, epoch.context_bytes, bytes(32))
    return frame(state, content, rng=net.rng)


def rejects(
    net: InMemoryGroup, receiver: str, data: bytes, error: type[MLSError], rule: str | None = None
) -> MLSError:
    group = net[receiver]
    before = group.to_bytes()
    with pytest.raises(error) as info:
        group.process(data, now=NOW)
    assert group.to_bytes() == before
    if rule is not None:
        assert isinstance(info.value, ProposalError) and info.value.rule == rule, info.value
    return info.value


# --- the list rules ------------------------------------------------------------------------------------------
def test_update_by_the_committer() -> None:
    net = group_of("a", "b")
    leaf = net["a"].state.tree.member_leaf(0)
    data = forge_commit(net, "a", [Proposal(Update(leaf))], path=True)
    rejects(net, "b", data, ProposalError, "update.committer")


def test_remove_of_the_committer() -> None:
    net = group_of("a", "b")
    rejects(
        net, "b", forge_commit(net, "a", [Proposal(Remove(0))], path=True), ProposalError, "remove.committer"
    )


def test_remove_of_a_blank_or_absent_leaf() -> None:
    net = group_of("a", "b", "c")
    net.remove("a", "b")  # leaf 1 is now blank
    rejects(net, "c", forge_commit(net, "a", [Proposal(Remove(1))], path=True), ProposalError, "remove.blank")
    rejects(
        net, "c", forge_commit(net, "a", [Proposal(Remove(40))], path=True), ProposalError, "remove.blank"
    )


def test_two_proposals_for_the_same_leaf() -> None:
    net = group_of("a", "b", "c")
    data = forge_commit(net, "a", [Proposal(Remove(1)), Proposal(Remove(1))], path=True)
    rejects(net, "c", data, ProposalError, "leaf.multiple")
    update = net["b"].propose_update(rng=net.rng, now=NOW)
    ref = net.deliver("b", update)["a"]
    reference = ref.reference
    data = forge_commit(net, "a", [reference, Proposal(Remove(1))], path=True)
    rejects(net, "c", data, ProposalError, "leaf.multiple")


def test_add_with_an_invalid_key_package() -> None:
    net = group_of("a", "b")
    kp = net.key_package("c").key_package
    bad_signature = dataclasses.replace(kp, signature=bytes(len(kp.signature)))
    data = forge_commit(net, "a", [Proposal(Add(bad_signature))])
    rejects(net, "b", data, ProposalError, "add.key_package")
    other_suite = dataclasses.replace(kp, cipher_suite=1)
    rejects(net, "b", forge_commit(net, "a", [Proposal(Add(other_suite))]), ProposalError, "add.key_package")
    expired = InMemoryGroup(seed=1, now=NOW - 200 * 86400).key_package("old").key_package
    rejects(net, "b", forge_commit(net, "a", [Proposal(Add(expired))]), ProposalError, "add.key_package")


def test_add_of_a_client_already_in_the_group_or_twice() -> None:
    net = group_of("a", "b")
    again = net.key_package("b").key_package  # b's signature key, new key package
    rejects(net, "b", forge_commit(net, "a", [Proposal(Add(again))]), ProposalError, "add.key_package")
    kp = net.key_package("c").key_package
    rejects(
        net,
        "b",
        forge_commit(net, "a", [Proposal(Add(kp)), Proposal(Add(kp))]),
        ProposalError,
        "add.key_package",
    )
    # re-adding b after removing it in the same commit is fine (for the committer too)
    staged = net["a"].commit(rng=net.rng, now=NOW, remove=[1], add=[again])
    assert [i for i, _ in staged.removed] == [1] and [i for i, _ in staged.added] == [1]


def test_psk_rules() -> None:
    net = group_of("a", "b")
    net.psks[b"k"] = b"secret"
    nonce = bytes(32)
    psk = Proposal(PreSharedKey(PreSharedKeyID(ExternalPSK(b"k"), nonce)))
    rejects(net, "b", forge_commit(net, "a", [psk, psk]), ProposalError, "psk.duplicate")
    short = Proposal(PreSharedKey(PreSharedKeyID(ExternalPSK(b"k"), b"short")))
    rejects(net, "b", forge_commit(net, "a", [short]), ProposalError, "psk.nonce")
    reinit_usage = Proposal(
        PreSharedKey(PreSharedKeyID(ResumptionPSK(ResumptionPSKUsage.reinit, net["a"].group_id, 0), nonce))
    )
    rejects(net, "b", forge_commit(net, "a", [reinit_usage]), ProposalError, "psk.usage")
    unknown = Proposal(PreSharedKey(PreSharedKeyID(ExternalPSK(b"nobody has it"), nonce)))
    rejects(net, "b", forge_commit(net, "a", [unknown]), MissingPSKError)
    too_old = Proposal(
        PreSharedKey(
            PreSharedKeyID(ResumptionPSK(ResumptionPSKUsage.application, net["a"].group_id, 99), nonce)
        )
    )
    rejects(net, "b", forge_commit(net, "a", [too_old]), MissingPSKError)


def test_group_context_extensions_rules() -> None:
    net = group_of("a", "b")
    gce = Proposal(GroupContextExtensions(()))
    rejects(net, "b", forge_commit(net, "a", [gce, gce], path=True), ProposalError, "gce.multiple")
    ext = Extension(0xFF00, b"x")
    duplicate = Proposal(GroupContextExtensions((ext, ext)))
    rejects(net, "b", forge_commit(net, "a", [duplicate], path=True), ProposalError, "gce.extensions")
    misplaced = Proposal(GroupContextExtensions((Extension(2, b""),)))  # ratchet_tree belongs in a GroupInfo
    rejects(net, "b", forge_commit(net, "a", [misplaced], path=True), ProposalError, "gce.extensions")
    unsupported = Proposal(GroupContextExtensions((ext,)))  # no member lists 0xFF00 in its capabilities
    rejects(net, "b", forge_commit(net, "a", [unsupported], path=True), ProposalError, "gce.extensions")
    required = RequiredCapabilities(proposal_types=(0xFF01,)).to_extension()
    rejects(
        net,
        "b",
        forge_commit(net, "a", [Proposal(GroupContextExtensions((required,)))], path=True),
        ProposalError,
        "gce.extensions",
    )
    malformed = Proposal(GroupContextExtensions((Extension(3, b"\xff"),)))
    rejects(net, "b", forge_commit(net, "a", [malformed], path=True), ProposalError, "gce.extensions")


def test_reinit_must_be_alone() -> None:
    net = group_of("a", "b", "c")
    reinit = Proposal(ReInit(b"new", 1, 3, ()))
    rejects(
        net,
        "b",
        forge_commit(net, "a", [reinit, Proposal(Remove(2))], path=True),
        ProposalError,
        "reinit.alone",
    )


def test_external_init_from_a_member() -> None:
    net = group_of("a", "b")
    rejects(
        net, "b", forge_commit(net, "a", [Proposal(ExternalInit(b"kem"))], path=True), ProposalError, "sender"
    )


def test_unsupported_custom_proposal_type() -> None:
    net = group_of("a", "b")
    custom = Proposal(UnknownProposal(0xFF02, b"payload"))
    rejects(net, "b", forge_commit(net, "a", [custom], path=True), ProposalError, "capabilities")
    app_data = Proposal(AppDataUpdate(1, b"x"))
    rejects(net, "b", forge_commit(net, "a", [app_data]), ProposalError, "unsupported")


def test_external_commit_list_rules() -> None:
    net = group_of("a", "b", "c")
    state = net["a"].state
    rules = ProposalRules(
        state.suite, state.current.context, make_psk_lookup(net["a"].group_id, None, {}), NOW
    )
    external = Sender.new_member_commit()

    def check(proposals: list[CachedProposal], rule: str) -> None:
        journal = TreeJournal(state.tree)
        before = state.tree.to_bytes()
        with pytest.raises(ProposalError) as info:
            try:
                apply_proposals(journal, proposals, external, rules)
            finally:
                journal.rollback()
        assert info.value.rule == rule
        assert state.tree.to_bytes() == before

    init = CachedProposal(Proposal(ExternalInit(b"kem")), external)
    check([], "external_commit")
    check([init, init], "external_commit")
    check(
        [init, CachedProposal(Proposal(Remove(1)), external), CachedProposal(Proposal(Remove(2)), external)],
        "external_commit",
    )
    check([init, CachedProposal(Proposal(GroupContextExtensions(())), external)], "sender")
    by_ref = CachedProposal(Proposal(Remove(1)), Sender.member(0), b"ref")
    check([init, by_ref], "by_reference")


# --- commit-level rules -------------------------------------------------------------------------------------
def test_path_required_but_missing() -> None:
    net = group_of("a", "b", "c")
    rejects(net, "b", forge_commit(net, "a", [Proposal(Remove(2))]), CommitError)
    rejects(net, "b", forge_commit(net, "a", []), CommitError)


def test_unknown_proposal_reference() -> None:
    net = group_of("a", "b")
    rejects(net, "b", forge_commit(net, "a", [b"\x01" * 32]), MissingProposalError)


def test_wrong_confirmation_tag() -> None:
    net = group_of("a", "b")
    kp = net.key_package("c").key_package
    rejects(net, "b", forge_commit(net, "a", [Proposal(Add(kp))]), InvalidConfirmationTag)


def test_invalid_update_proposal_is_refused_on_receipt() -> None:
    net = group_of("a", "b")
    proposal = Proposal(
        Update(net["b"].state.tree.member_leaf(1))
    )  # same encryption key, update source missing
    state = net["b"].state
    epoch = state.current
    framed = FramedContent(epoch.context.group_id, epoch.number, Sender.member(1), b"", proposal)
    content = authenticate(state.suite, state.signer, WireFormat.public_message, framed, epoch.context_bytes)
    rejects(net, "a", frame(state, content, rng=net.rng), ProposalError, "update.leaf")


def test_committer_drops_invalid_cached_proposals_and_refuses_invalid_inline_ones() -> None:
    net = group_of("a", "b", "c")
    net.deliver("b", net["b"].propose_remove(2, rng=net.rng, now=NOW))
    net.deliver("c", net["c"].propose_remove(2, rng=net.rng, now=NOW))  # conflicts with b's
    staged = net.commit("a")
    assert [i for i, _ in staged.removed] == [2] and len(staged.proposals) == 1
    net.check_agreement()
    with pytest.raises(InvalidArgument):
        net["a"].commit(rng=net.rng, now=NOW, remove=[0])
    with pytest.raises(InvalidArgument):
        net["a"].propose_remove(7, rng=net.rng, now=NOW)


def test_signature_by_the_wrong_member() -> None:
    net = group_of("a", "b", "c")
    state = net["a"].state
    epoch = state.current
    framed = FramedContent(epoch.context.group_id, epoch.number, Sender.member(2), b"", b"I am c")
    content = authenticate(state.suite, state.signer, WireFormat.private_message, framed, epoch.context_bytes)
    data = frame(state, content, rng=net.rng)  # encrypted with leaf 2's ratchet, but signed by a
    rejects(net, "b", data, InvalidSignature)


def test_sender_leaf_that_is_not_a_member() -> None:
    net = group_of("a", "b", "c")
    net.remove("a", "c")
    state = net["a"].state
    epoch = state.current
    framed = FramedContent(epoch.context.group_id, epoch.number, Sender.member(2), b"", Proposal(Remove(1)))
    content = authenticate(state.suite, state.signer, WireFormat.public_message, framed, epoch.context_bytes)
    rejects(net, "b", frame(state, content, rng=net.rng), ValidationError)


def test_a_commit_from_our_own_leaf_that_is_not_pending() -> None:
    net = group_of("a", "b")
    staged = net["a"].commit(rng=net.rng, now=NOW, force_path=True)
    net["a"].clear_pending_commit()
    assert staged.message is not None
    rejects(net, "a", staged.message, CommitError)


def test_self_remove_by_the_committer() -> None:
    net = group_of("a", "b")
    rejects(
        net,
        "b",
        forge_commit(net, "a", [Proposal(SelfRemove())], path=True),
        ProposalError,
        "remove.committer",
    )


def test_staged_commit_inspection() -> None:
    net = group_of("a", "b", "c")
    bundle = net.key_package("d")
    staged = net["a"].commit(rng=net.rng, now=NOW, add=[bundle.key_package], remove=[1])
    assert staged.message is not None
    received = net["c"].process(staged.message, now=NOW)
    assert isinstance(received, StagedCommit) and not received.own and staged.own
    assert (received.base_epoch, received.epoch) == (1, 2)
    assert received.sender == Sender.member(0) and received.committer == 0
    assert [m.leaf_index for m in received.new_members] == [1]
    assert received.new_members[0].signature_key == bundle.key_package.leaf_node.signature_key
    assert [i for i, _ in received.removed] == [1] and received.has_path and not received.self_removed
    assert received.extensions is None and received.psk_ids == ()
    assert received.group_context is not None and received.group_context.epoch == 2
    assert net["c"].epoch == 1  # nothing changes before the merge
    net["c"].merge_staged_commit(received)
    net["a"].merge_pending_commit()
    assert received.epoch_authenticator == net["c"].epoch_authenticator == net["a"].epoch_authenticator
    removed = net["b"].process(staged.message, now=NOW)
    assert isinstance(removed, StagedCommit) and removed.self_removed and removed.epoch_authenticator is None
