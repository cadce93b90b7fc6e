"""validate_commit: XMTP's rules on incoming commits (protocol reference 6.5), on real conversations, sans-IO.

Every group here is built as libxmtp builds one (``Conversation.create`` with ``group_extensions`` /
``dm_extensions``, members added by ``commit_membership``) from real, signed identity logs; a rule-breaking commit
is crafted with the MLS ``Group.commit`` directly on a member's group, and ``validate_commit`` runs on the staged
commit another member's ``group.process`` returns. Sequence ids are positions in an inbox's log (0: the whole
log), so an installation added or revoked later is only in the states from its position on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from pyxmtp.conversations.commit_validation import (
    Actor,
    CommitValidationError,
    Rule,
    ValidatedCommit,
    evaluate_policy,
    validate_commit,
)
from pyxmtp.conversations.conversation import Conversation
from pyxmtp.conversations.credential import build_credential
from pyxmtp.conversations.key_packages import (
    GROUP_MUTABLE_PERMISSIONS,
    IMMUTABLE_METADATA,
    XMTP_CAPABILITIES,
    XMTP_CIPHER_SUITE,
    create_xmtp_key_package,
)
from pyxmtp.conversations.new_group import (
    ADMIN_ONLY_POLICIES,
    DEFAULT_POLICIES,
    DM_POLICIES,
    METADATA_FIELDS,
    dm_extensions,
    group_extensions,
    membership_extension,
    mutable_metadata_extension,
    with_extension,
)
from pyxmtp.identity.associations import get_state
from pyxmtp.identity.builder import IdentityUpdateBuilder
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.state import AssociationState
from pyxmtp.mls.codec import encode_varint
from pyxmtp.mls.crypto.keys import SignaturePrivateKey
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.group import Group, ProposalReceived, StagedCommit
from pyxmtp.mls.key_packages import KeyPackageBundle
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import GroupContextExtensions, Proposal, ReInit
from pyxmtp.proto.identity.associations import association_pb2
from pyxmtp.proto.mls.message_contents import group_metadata_pb2, group_permissions_pb2

from ..node.identity_helpers import add_installation, inbox_of, now_ns, register

NOW = 1_800_000_000
rng = os.urandom

_M = group_permissions_pb2.MembershipPolicy
_D = group_permissions_pb2.MetadataPolicy
_P = group_permissions_pb2.PermissionsUpdatePolicy


# --- identities ------------------------------------------------------------------------------------------------
@dataclass
class Inbox:
    """A real inbox: its owner wallet, its installations in log order, and its signed log."""

    inbox_id: str
    owner: LocalWalletSigner
    installations: list[InstallationKey]
    log: list[association_pb2.IdentityUpdate] = field(default_factory=list)

    @property
    def seq(self) -> int:
        return len(self.log)

    def state(self, sequence_id: int) -> AssociationState:
        return get_state(self.log if sequence_id == 0 else self.log[:sequence_id])

    def add_installation(self) -> InstallationKey:
        installation = InstallationKey.generate()
        self.log.append(add_installation(self.inbox_id, self.owner, installation))
        self.installations.append(installation)
        return installation

    def revoke(self, installation: InstallationKey) -> None:
        request = (
            IdentityUpdateBuilder(self.inbox_id, client_timestamp_ns=now_ns())
            .revoke_association(self.owner.identifier, installation.identifier)
            .build()
        )
        request.sign_with(self.owner)
        self.log.append(request.build_identity_update())


def new_inbox() -> Inbox:
    owner, first = LocalWalletSigner.generate(), InstallationKey.generate()
    return Inbox(inbox_of(owner), owner, [first], [register(owner, first)])


def signer_of(installation: InstallationKey) -> SignaturePrivateKey:
    return get_suite(XMTP_CIPHER_SUITE).signature_key_from_bytes(installation.seed)


def key_package(inbox: Inbox, installation: InstallationKey | None = None) -> KeyPackageBundle:
    installation = installation or inbox.installations[0]
    return create_xmtp_key_package(inbox.inbox_id, signer_of(installation), rng=rng, now=NOW)


class States:
    """``states_for`` over the inboxes' logs, recording what was asked."""

    def __init__(self, *inboxes: Inbox) -> None:
        self.inboxes = {i.inbox_id: i for i in inboxes}
        self.calls: list[dict[str, int]] = []

    def __call__(self, wanted: Mapping[str, int]) -> Mapping[str, AssociationState]:
        self.calls.append(dict(wanted))
        return {i: self.inboxes[i].state(s) for i, s in wanted.items()}


# --- groups ----------------------------------------------------------------------------------------------------
@dataclass
class World:
    inboxes: dict[str, Inbox]
    conversations: dict[
        str, Conversation
    ]  # by name: "alice", "bob", ... ("alice2" for a second installation)
    states: States

    def __getitem__(self, name: str) -> Conversation:
        return self.conversations[name]

    def id(self, name: str) -> str:
        return self.inboxes[name].inbox_id

    def members(self, **changes: int | None) -> dict[str, int]:
        """The current membership of the group with ``name=sequence_id`` changes (None: removed)."""
        current = dict(next(iter(self.conversations.values())).context.membership.members)
        for name, seq in changes.items():
            if seq is None:
                current.pop(self.id(name), None)
            else:
                current[self.id(name)] = seq
        return current

    def leaf_of(self, name: str, installation: int = 0) -> int:
        key = self.inboxes[name].installations[installation].public_key
        conv = next(iter(self.conversations.values()))
        return next(leaf.leaf_index for leaf in conv.installations() if leaf.installation_key == key)


def world(
    *names: str,
    policies: group_permissions_pb2.PolicySet = DEFAULT_POLICIES,
    dm: bool = False,
    extra: Sequence[str] = (),
) -> World:
    """A conversation created by ``names[0]`` with every name a member (at its log's latest sequence id);
    ``extra`` inboxes exist but are not members."""
    inboxes = {name: new_inbox() for name in (*names, *extra)}
    states = States(*inboxes.values())
    creator = inboxes[names[0]]
    if dm:
        assert len(names) == 2
        extensions = dm_extensions(creator.inbox_id, inboxes[names[1]].inbox_id, rng=rng)
    else:
        extensions = group_extensions(creator.inbox_id, rng=rng, policies=policies)
    first = Conversation.create(
        extensions, signer_of(creator.installations[0]), creator.inbox_id, rng=rng, now=NOW
    )
    conversations = {names[0]: first}
    bundles = {name: key_package(inboxes[name]) for name in names[1:]}
    if bundles:
        staged = first.commit_membership(
            {inboxes[n].inbox_id: inboxes[n].seq for n in names},
            add=[b.key_package for b in bundles.values()],
            rng=rng,
            now=NOW,
        )
        first.merge_own_commit()
        assert staged.welcome is not None
        for name, bundle in bundles.items():
            inbox = inboxes[name]
            signer = signer_of(inbox.installations[0])
            conversations[name] = Conversation.join(
                staged.welcome, bundle, signer, inbox.inbox_id, states, now=NOW
            )
    return World(inboxes, conversations, states)


def extensions_with(
    conv: Conversation,
    *,
    members: Mapping[str, int] | None = None,
    failed: Sequence[bytes] = (),
    attributes: Mapping[str, str] | None = None,
    admins: Sequence[str] | None = None,
    super_admins: Sequence[str] | None = None,
    policies: group_permissions_pb2.PolicySet | None = None,
    immutable: Extension | None = None,
) -> tuple[Extension, ...]:
    """The group's context extensions with the given parts replaced."""
    exts = conv.group.extensions
    context = conv.context
    if members is not None or failed:
        exts = with_extension(
            exts, membership_extension(context.membership.members if members is None else members, failed)
        )
    if attributes is not None or admins is not None or super_admins is not None:
        mutable = context.mutable
        exts = with_extension(
            exts,
            mutable_metadata_extension(
                {**mutable.attributes, **(attributes or {})},
                mutable.admins if admins is None else admins,
                mutable.super_admins if super_admins is None else super_admins,
            ),
        )
    if policies is not None:
        body = group_permissions_pb2.GroupMutablePermissionsV1(policies=policies)
        exts = with_extension(
            exts, Extension(GROUP_MUTABLE_PERMISSIONS, body.SerializeToString(deterministic=True))
        )
    if immutable is not None:
        exts = with_extension(exts, immutable)
    return exts


def commit(
    conv: Conversation,
    *,
    add: Sequence[KeyPackage] = (),
    remove: Sequence[int] = (),
    proposals: Sequence[Proposal] = (),
    by_reference: bool = False,
    psks: Mapping[bytes, bytes] | None = None,
    **changes: object,
) -> StagedCommit:
    """A commit by ``conv``: a GroupContextExtensions proposal if ``changes`` (see :func:`extensions_with`),
    plus ``proposals``, removes and adds; always with a path."""
    inline = list(proposals)
    if changes:
        inline.insert(0, Proposal(GroupContextExtensions(extensions_with(conv, **changes))))  # type: ignore[arg-type]
    return conv.group.commit(
        rng=rng,
        now=NOW,
        add=add,
        remove=remove,
        proposals=inline,
        by_reference=by_reference,
        force_path=True,
        psks=psks,
    )


def receive(
    w: World,
    receiver: str,
    staged: StagedCommit,
    *,
    sender: str | None = None,
    psks: Mapping[bytes, bytes] | None = None,
) -> ValidatedCommit:
    """``receiver`` processes and validates ``staged``; if valid, every member merges it (the sender its own
    pending commit, the others the staged one) so the group moves on together."""
    assert staged.message is not None
    conv = w[receiver]
    incoming = conv.group.process(staged.message, now=NOW, psks=psks)
    assert isinstance(incoming, StagedCommit)
    result = validate_commit(conv.group.extensions, incoming, conv.installations(), w.states)
    conv.group.merge_staged_commit(incoming)
    for name, other in w.conversations.items():
        if name == receiver:
            continue
        if other.group.pending_commit is staged:
            other.merge_own_commit()
        elif other.is_active:
            processed = other.group.process(staged.message, now=NOW, psks=psks)
            assert isinstance(processed, StagedCommit)
            other.group.merge_staged_commit(processed)
    return result


def refused(w: World, receiver: str, staged: StagedCommit, psks: Mapping[bytes, bytes] | None = None) -> Rule:
    """``receiver`` processes ``staged`` and the validation refuses it: the rule broken. The committer drops it."""
    assert staged.message is not None
    conv = w[receiver]
    incoming = conv.group.process(staged.message, now=NOW, psks=psks)
    assert isinstance(incoming, StagedCommit)
    with pytest.raises(CommitValidationError) as info:
        validate_commit(conv.group.extensions, incoming, conv.installations(), w.states)
    for other in w.conversations.values():
        if other.group.pending_commit is staged:
            other.discard_own_commit()
    assert str(info.value).startswith(info.value.rule.value)
    return info.value.rule


def made_admin(w: World, name: str) -> None:
    """The creator (the super admin) makes ``name`` an admin."""
    creator = next(iter(w.conversations))
    other = next(n for n in w.conversations if n not in (creator,))
    receive(w, other, commit(w[creator], admins=[*w[creator].context.mutable.admins, w.id(name)]))


# === passing commits ===========================================================================================
def test_a_key_update_changes_nothing_and_passes() -> None:
    w = world("alice", "bob")
    result = receive(w, "alice", w["bob"].group.commit(rng=rng, now=NOW, force_path=True))
    assert result.committer.inbox_id == w.id("bob")
    assert result.added_inboxes == result.removed_inboxes == result.metadata_changes == ()
    assert not result.permissions_changed
    # a key update needs only the committer's own state, at its sequence id
    assert w.states.calls[-1] == {w.id("bob"): w.inboxes["bob"].seq}


def test_a_key_update_in_a_dm_passes() -> None:
    w = world("alice", "bob", dm=True)
    receive(w, "bob", w["alice"].group.commit(rng=rng, now=NOW, force_path=True))
    receive(w, "alice", w["bob"].group.commit(rng=rng, now=NOW, force_path=True))


def test_adding_a_member_as_commit_membership_does_passes() -> None:
    w = world("alice", "bob", extra=["carol"])
    staged = w["bob"].commit_membership(
        w.members(carol=w.inboxes["carol"].seq),
        add=[key_package(w.inboxes["carol"]).key_package],
        rng=rng,
        now=NOW,
    )
    result = receive(w, "alice", staged)
    assert result.added_inboxes == (w.id("carol"),)
    assert result.committer.inbox_id == w.id("bob")


def alone_with_second_installation(
    alice: Inbox, alice2: InstallationKey, extensions: tuple[Extension, ...], states: States
) -> tuple[Conversation, Conversation]:
    """Alice's first installation creates a conversation with ``extensions`` and adds her second one, alone."""
    a1 = Conversation.create(extensions, signer_of(alice.installations[0]), alice.inbox_id, rng=rng, now=NOW)
    bundle = key_package(alice, alice2)
    staged = a1.commit_membership({alice.inbox_id: alice.seq}, add=[bundle.key_package], rng=rng, now=NOW)
    a1.merge_own_commit()
    assert staged.welcome is not None
    a2 = Conversation.join(staged.welcome, bundle, signer_of(alice2), alice.inbox_id, states, now=NOW)
    return a1, a2


def test_the_first_membership_commit_raises_the_placeholder_and_adds_the_creators_other_installations() -> (
    None
):
    alice, bob = new_inbox(), new_inbox()
    alice2 = alice.add_installation()
    states = States(alice, bob)
    # alice1 alone adds her second installation (sequence id 0 -> 2: every installation of alice is expected)
    a1, a2 = alone_with_second_installation(alice, alice2, group_extensions(alice.inbox_id, rng=rng), states)
    w = World({"alice": alice, "bob": bob}, {"alice": a1, "alice2": a2}, states)
    staged = a1.commit_membership(
        w.members(bob=bob.seq), add=[key_package(bob).key_package], rng=rng, now=NOW
    )
    assert receive(w, "alice2", staged).added_inboxes == (bob.inbox_id,)


# === rule 1: sequence ids only increase ========================================================================
def test_a_sequence_id_may_rise_but_not_fall() -> None:
    w = world("alice", "bob", "carol")
    bob_seq = w.inboxes["bob"].seq
    receive(w, "carol", commit(w["alice"], members=w.members(bob=bob_seq + 1)))  # same installations: fine
    assert refused(w, "carol", commit(w["alice"], members=w.members(bob=bob_seq))) is Rule.SEQUENCE_ID


# === rules 2 and 3: the installation diff =====================================================================
def test_a_new_installation_is_added_with_its_sequence_id() -> None:
    w = world("alice", "bob")
    bob = w.inboxes["bob"]
    bob2 = bob.add_installation()
    result = receive(
        w, "bob", commit(w["alice"], members=w.members(bob=bob.seq), add=[key_package(bob, bob2).key_package])
    )
    assert result.added_inboxes == ()
    assert {leaf.installation_key for leaf in w["bob"].installations()} >= {bob2.public_key}


def test_an_installation_added_without_raising_the_sequence_id_is_unexpected() -> None:
    w = world("alice", "bob")
    bob = w.inboxes["bob"]
    bob2 = bob.add_installation()
    staged = commit(w["alice"], add=[key_package(bob, bob2).key_package])
    assert refused(w, "bob", staged) is Rule.UNEXPECTED_ADD


def test_an_installation_of_no_inbox_is_unexpected() -> None:
    w = world("alice", "bob")
    forged = create_xmtp_key_package(w.id("bob"), signer_of(InstallationKey.generate()), rng=rng, now=NOW)
    assert refused(w, "bob", commit(w["alice"], add=[forged.key_package])) is Rule.UNEXPECTED_ADD


def test_an_expected_installation_may_be_missing_listed_as_failed_or_not() -> None:
    """As libxmtp: a membership commit may leave out an installation the logs add (its key package may have
    failed); refusing that would fork us from libxmtp members, who accept it."""
    w = world("alice", "bob")
    bob = w.inboxes["bob"]
    bob.add_installation()
    receive(w, "bob", commit(w["alice"], members=w.members(bob=bob.seq)))


def test_a_revoked_installation_must_be_removed_with_the_new_sequence_id() -> None:
    w = world("alice", "bob", "carol")
    bob = w.inboxes["bob"]
    bob2 = bob.add_installation()
    receive(
        w,
        "carol",
        commit(w["alice"], members=w.members(bob=bob.seq), add=[key_package(bob, bob2).key_package]),
    )
    bob.revoke(bob2)
    leaf = w.leaf_of("bob", 1)
    # raised, but the revoked installation kept
    assert refused(w, "carol", commit(w["alice"], members=w.members(bob=bob.seq))) is Rule.REMOVALS
    # removed, but the sequence id not raised
    assert refused(w, "carol", commit(w["alice"], remove=[leaf])) is Rule.REMOVALS
    receive(w, "carol", commit(w["alice"], members=w.members(bob=bob.seq), remove=[leaf]))
    assert bob2.public_key not in {i.installation_key for i in w["carol"].installations()}


def test_removing_an_inbox_removes_exactly_its_installations() -> None:
    w = world("alice", "bob", "carol")
    carol_leaf = w.leaf_of("carol")
    # the leaf removed, the inbox kept
    assert refused(w, "bob", commit(w["alice"], remove=[carol_leaf])) is Rule.REMOVALS
    # the inbox removed, its leaf kept
    assert refused(w, "bob", commit(w["alice"], members=w.members(carol=None))) is Rule.REMOVALS
    result = receive(w, "bob", commit(w["alice"], members=w.members(carol=None), remove=[carol_leaf]))
    assert result.removed_inboxes == (w.id("carol"),)


def test_a_super_admin_may_readd_an_installation_but_a_member_may_not() -> None:
    w = world("alice", "bob", "carol")
    fresh = key_package(w.inboxes["bob"]).key_package
    result = receive(w, "carol", commit(w["alice"], remove=[w.leaf_of("bob")], add=[fresh]))
    assert result.readded_installations == {w.inboxes["bob"].installations[0].public_key}
    w = world("alice", "bob", "carol")
    fresh = key_package(w.inboxes["carol"]).key_package
    assert refused(w, "alice", commit(w["bob"], remove=[w.leaf_of("carol")], add=[fresh])) is Rule.REMOVALS


# === rule 4: committer and updated leaves are installations of their inbox ====================================
def test_a_committer_that_is_not_an_installation_of_its_inbox_is_refused() -> None:
    w = world("alice", extra=["bob"])
    impostor = InstallationKey.generate()  # claims bob's inbox; alice (wrongly) added it herself
    forged = create_xmtp_key_package(w.id("bob"), signer_of(impostor), rng=rng, now=NOW)
    staged = w["alice"].commit_membership(
        w.members(bob=w.inboxes["bob"].seq), add=[forged.key_package], rng=rng, now=NOW
    )
    w["alice"].merge_own_commit()
    assert staged.welcome is not None
    mallory = Group.join(staged.welcome, forged, signer_of(impostor), now=NOW)
    key_update = mallory.commit(rng=rng, now=NOW, force_path=True)
    assert key_update.message is not None
    incoming = w["alice"].group.process(key_update.message, now=NOW)
    assert isinstance(incoming, StagedCommit)
    with pytest.raises(CommitValidationError) as info:
        validate_commit(w["alice"].group.extensions, incoming, w["alice"].installations(), w.states)
    assert info.value.rule is Rule.INSTALLATION


def test_an_update_proposal_keeps_its_inbox() -> None:
    w = world("alice", "bob", "carol")
    # a plain update (a fresh encryption key), committed by alice: fine
    proposal = w["bob"].group.propose_update(rng=rng, now=NOW)
    assert isinstance(w["alice"].group.process(proposal, now=NOW), ProposalReceived)
    assert isinstance(w["carol"].group.process(proposal, now=NOW), ProposalReceived)
    receive(w, "carol", commit(w["alice"], by_reference=True))
    # an update that makes bob's leaf claim carol's inbox
    proposal = w["bob"].group.propose_update(rng=rng, now=NOW, credential=build_credential(w.id("carol")))
    assert isinstance(w["alice"].group.process(proposal, now=NOW), ProposalReceived)
    assert isinstance(w["carol"].group.process(proposal, now=NOW), ProposalReceived)
    assert refused(w, "carol", commit(w["alice"], by_reference=True)) is Rule.CREDENTIAL_CHANGE


def test_an_added_leaf_must_name_the_inbox_its_installation_belongs_to() -> None:
    w = world("alice", "bob", extra=["carol"])
    carol = w.inboxes["carol"]
    # carol's installation key, under bob's inbox id
    misnamed = create_xmtp_key_package(w.id("bob"), signer_of(carol.installations[0]), rng=rng, now=NOW)
    staged = commit(w["alice"], members=w.members(carol=carol.seq), add=[misnamed.key_package])
    assert refused(w, "bob", staged) is Rule.ADDED_LEAF


# === rule 5: proposals from members, judged against their proposer ============================================
def test_an_external_commit_is_refused() -> None:
    w = world("alice", "bob", extra=["dave"])
    dave = w.inboxes["dave"]
    _, message = Group.join_by_external_commit(
        w["alice"].group.group_info(with_external_pub=True),
        signer_of(dave.installations[0]),
        build_credential(dave.inbox_id),
        capabilities=XMTP_CAPABILITIES,
        rng=rng,
        now=NOW,
    )
    incoming = w["bob"].group.process(message, now=NOW)
    assert isinstance(incoming, StagedCommit)
    with pytest.raises(CommitValidationError) as info:
        validate_commit(w["bob"].group.extensions, incoming, w["bob"].installations(), w.states)
    assert info.value.rule is Rule.SENDER


def _propose_add(w: World, proposer: str, name: str, to: Sequence[str]) -> None:
    proposal = w[proposer].group.propose_add(key_package(w.inboxes[name]).key_package, rng=rng, now=NOW)
    for other in to:
        assert isinstance(w[other].group.process(proposal, now=NOW), ProposalReceived)


def test_an_add_is_judged_against_its_proposer_not_the_committer() -> None:
    # admin-only: bob proposes carol, alice (super admin) commits it; bob had no right to propose it
    w = world("alice", "bob", policies=ADMIN_ONLY_POLICIES, extra=["carol"])
    _propose_add(w, "bob", "carol", ["alice"])
    staged = commit(w["alice"], by_reference=True, members=w.members(carol=w.inboxes["carol"].seq))
    assert refused(w, "bob", staged) is Rule.ADD_MEMBER
    # the same in the default preset, where members add: fine
    w = world("alice", "bob", extra=["carol"])
    _propose_add(w, "bob", "carol", ["alice"])
    staged = commit(w["alice"], by_reference=True, members=w.members(carol=w.inboxes["carol"].seq))
    assert receive(w, "bob", staged).added_inboxes == (w.id("carol"),)


def test_metadata_changes_are_judged_against_the_committer() -> None:
    w = world("alice", "bob", policies=ADMIN_ONLY_POLICIES)
    # bob may not rename the group, but the super admin who commits his proposal may
    proposal = w["bob"].group.propose_group_context_extensions(
        extensions_with(w["bob"], attributes={"group_name": "bob's"}), rng=rng, now=NOW
    )
    assert isinstance(w["alice"].group.process(proposal, now=NOW), ProposalReceived)
    receive(w, "bob", commit(w["alice"], by_reference=True))
    assert w["bob"].context.mutable.name == "bob's"
    # and the other way round: alice proposes, bob commits
    proposal = w["alice"].group.propose_group_context_extensions(
        extensions_with(w["alice"], attributes={"group_name": "alice's"}), rng=rng, now=NOW
    )
    assert isinstance(w["bob"].group.process(proposal, now=NOW), ProposalReceived)
    assert refused(w, "alice", commit(w["bob"], by_reference=True)) is Rule.METADATA


# === rule 6: no PSKs; and no ReInit ===========================================================================
def test_a_psk_proposal_is_refused() -> None:
    w = world("alice", "bob")
    psks = {b"shared": os.urandom(32)}
    staged = commit(
        w["alice"], proposals=[w["alice"].group.external_psk_proposal(b"shared", rng=rng)], psks=psks
    )
    assert refused(w, "bob", staged, psks=psks) is Rule.PSK
    receive(w, "bob", commit(w["alice"], attributes={"group_name": "no psk"}))


def test_a_reinit_is_refused() -> None:
    w = world("alice", "bob")
    reinit = Proposal(ReInit(os.urandom(16), 1, XMTP_CIPHER_SUITE, w["alice"].group.extensions))
    assert refused(w, "bob", w["alice"].group.commit(rng=rng, now=NOW, proposals=[reinit])) is Rule.REINIT


# === rule 7: metadata length limits (UTF-8 bytes) =============================================================
@pytest.mark.parametrize(
    ("name", "limit"),
    [("group_name", 100), ("description", 1000), ("group_image_url_square", 2048), ("app_data", 8192)],
)
def test_metadata_length_limits(name: str, limit: int) -> None:
    w = world("alice", "bob")
    receive(w, "bob", commit(w["alice"], attributes={name: "x" * limit}))
    assert refused(w, "bob", commit(w["alice"], attributes={name: "y" * (limit + 1)})) is Rule.METADATA_LENGTH


def test_metadata_limits_count_bytes_not_characters() -> None:
    w = world("alice", "bob")
    receive(w, "bob", commit(w["alice"], attributes={"group_name": "é" * 50}))  # 100 bytes
    assert refused(w, "bob", commit(w["alice"], attributes={"group_name": "é" * 51})) is Rule.METADATA_LENGTH


# === immutable metadata ======================================================================================
def test_the_immutable_metadata_cannot_change() -> None:
    w = world("alice", "bob")
    proto = group_metadata_pb2.GroupMetadataV1(
        conversation_type=1, creator_account_address="", creator_inbox_id=w.id("bob")
    )
    body = proto.SerializeToString()
    forged = Extension(IMMUTABLE_METADATA, encode_varint(len(body)) + body)
    assert refused(w, "bob", commit(w["alice"], immutable=forged)) is Rule.IMMUTABLE_METADATA


# === rule 8: the policy set, with libxmtp's presets ===========================================================
def test_default_preset_members_add_but_do_not_remove() -> None:
    w = world("alice", "bob", "carol", extra=["dave"])
    dave = w.inboxes["dave"]
    receive(
        w, "alice", commit(w["bob"], members=w.members(dave=dave.seq), add=[key_package(dave).key_package])
    )
    staged = commit(w["bob"], members=w.members(carol=None), remove=[w.leaf_of("carol")])
    assert refused(w, "alice", staged) is Rule.REMOVE_MEMBER
    receive(w, "bob", commit(w["alice"], members=w.members(carol=None), remove=[w.leaf_of("carol")]))


def test_admin_only_preset_members_neither_add_nor_edit() -> None:
    w = world("alice", "bob", policies=ADMIN_ONLY_POLICIES, extra=["carol"])
    carol = w.inboxes["carol"]
    staged = commit(w["bob"], members=w.members(carol=carol.seq), add=[key_package(carol).key_package])
    assert refused(w, "alice", staged) is Rule.ADD_MEMBER
    assert refused(w, "alice", commit(w["bob"], attributes={"group_name": "mine"})) is Rule.METADATA
    receive(w, "bob", commit(w["alice"], attributes={"group_name": "ours"}))
    receive(
        w, "bob", commit(w["alice"], members=w.members(carol=carol.seq), add=[key_package(carol).key_package])
    )


def test_default_preset_metadata_fields() -> None:
    w = world("alice", "bob", "carol")
    receive(w, "alice", commit(w["bob"], attributes={"group_name": "by bob", "description": "d"}))
    for name in (
        "message_disappear_in_ns",
        "message_disappear_from_ns",
        "minimum_supported_protocol_version",
    ):
        assert refused(w, "alice", commit(w["bob"], attributes={name: "1"})) is Rule.METADATA, name
    receive(w, "bob", commit(w["alice"], attributes={"message_disappear_in_ns": "1"}))
    receive(w, "bob", commit(w["alice"], attributes={"minimum_supported_protocol_version": "1.0.0"}))
    # a field with no policy: admin; with a leading "_": super admin
    assert refused(w, "alice", commit(w["bob"], attributes={"colour": "red"})) is Rule.METADATA
    made_admin(w, "bob")
    receive(w, "alice", commit(w["bob"], attributes={"colour": "red"}))
    assert refused(w, "alice", commit(w["bob"], attributes={"_secret": "x"})) is Rule.METADATA
    assert refused(w, "alice", commit(w["bob"], attributes={"_commit_log_signer": "00"})) is Rule.METADATA
    receive(w, "bob", commit(w["alice"], attributes={"_secret": "x"}))


def test_admin_list_changes_follow_the_admin_policies() -> None:
    w = world("alice", "bob", "carol")
    assert refused(w, "alice", commit(w["bob"], admins=[w.id("bob")])) is Rule.ADD_ADMIN
    result = receive(w, "bob", commit(w["alice"], admins=[w.id("bob"), w.id("carol")]))
    assert result.admins_added == (w.id("bob"), w.id("carol"))
    # an admin may remove members, but not the super admin, and (default preset) not other admins' roles
    assert refused(w, "alice", commit(w["bob"], admins=[w.id("bob")])) is Rule.REMOVE_ADMIN
    staged = commit(w["bob"], members=w.members(alice=None), remove=[w.leaf_of("alice")])
    assert refused(w, "carol", staged) is Rule.REMOVE_SUPER_ADMIN
    receive(w, "alice", commit(w["bob"], members=w.members(carol=None), remove=[w.leaf_of("carol")]))
    # carol left the group but not the admin list (libxmtp does not tidy it either)
    assert receive(w, "bob", commit(w["alice"], admins=[])).admins_removed == (w.id("bob"), w.id("carol"))


def test_super_admin_list_changes_need_a_super_admin_and_one_must_remain() -> None:
    w = world("alice", "bob", "carol")
    made_admin(w, "bob")
    staged = commit(w["bob"], super_admins=[w.id("alice"), w.id("bob")])
    assert refused(w, "alice", staged) is Rule.SUPER_ADMINS
    assert refused(w, "bob", commit(w["alice"], super_admins=[])) is Rule.LAST_SUPER_ADMIN
    receive(w, "carol", commit(w["alice"], super_admins=[w.id("alice"), w.id("bob")]))
    result = receive(w, "carol", commit(w["alice"], super_admins=[w.id("bob")]))
    assert result.super_admins_removed == (w.id("alice"),)
    # alice is no super admin any more: she can be removed now (by the new super admin)
    receive(w, "carol", commit(w["bob"], members=w.members(alice=None), remove=[w.leaf_of("alice")]))


def test_permission_changes_need_a_super_admin() -> None:
    w = world("alice", "bob")
    made_admin(w, "bob")
    assert refused(w, "alice", commit(w["bob"], policies=ADMIN_ONLY_POLICIES)) is Rule.PERMISSIONS
    assert receive(w, "bob", commit(w["alice"], policies=ADMIN_ONLY_POLICIES)).permissions_changed
    assert w["bob"].context.permissions.policies == ADMIN_ONLY_POLICIES


def test_a_malformed_policy_set_cannot_be_installed() -> None:
    w = world("alice", "bob")
    broken = group_permissions_pb2.PolicySet()
    broken.CopyFrom(DEFAULT_POLICIES)
    broken.add_member_policy.CopyFrom(_M(and_condition=_M.AndCondition(policies=[])))
    assert refused(w, "bob", commit(w["alice"], policies=broken)) is Rule.POLICY_SET
    broken.CopyFrom(DEFAULT_POLICIES)
    broken.ClearField("remove_admin_policy")
    assert refused(w, "bob", commit(w["alice"], policies=broken)) is Rule.POLICY_SET


def test_and_and_any_conditions() -> None:
    policies = group_permissions_pb2.PolicySet()
    policies.CopyFrom(DEFAULT_POLICIES)
    # add: allowed AND admin (so admins only); remove: denied OR super admin (so super admins only)
    policies.add_member_policy.CopyFrom(_M(and_condition=_M.AndCondition(policies=[_M(base=1), _M(base=3)])))
    policies.remove_member_policy.CopyFrom(
        _M(any_condition=_M.AnyCondition(policies=[_M(base=2), _M(base=4)]))
    )
    w = world("alice", "bob", "carol", policies=policies, extra=["dave"])
    dave = w.inboxes["dave"]
    staged = commit(w["bob"], members=w.members(dave=dave.seq), add=[key_package(dave).key_package])
    assert refused(w, "alice", staged) is Rule.ADD_MEMBER
    made_admin(w, "bob")
    receive(
        w, "alice", commit(w["bob"], members=w.members(dave=dave.seq), add=[key_package(dave).key_package])
    )
    staged = commit(w["bob"], members=w.members(dave=None), remove=[w.leaf_of("dave")])
    assert refused(w, "alice", staged) is Rule.REMOVE_MEMBER
    receive(w, "bob", commit(w["alice"], members=w.members(dave=None), remove=[w.leaf_of("dave")]))


def dm_world() -> World:
    """A DM between alice (two installations) and bob, built as libxmtp would: alice's first installation
    creates it, adds her second (alone), then adds bob, which alice's second installation validates."""
    alice, bob, carol = new_inbox(), new_inbox(), new_inbox()
    alice2 = alice.add_installation()
    states = States(alice, bob, carol)
    a1, a2 = alone_with_second_installation(
        alice, alice2, dm_extensions(alice.inbox_id, bob.inbox_id, rng=rng), states
    )
    return World({"alice": alice, "bob": bob, "carol": carol}, {"alice": a1, "alice2": a2}, states)


def test_a_dm_member_can_always_be_added_but_no_third_inbox() -> None:
    w = dm_world()
    bob, carol = w.inboxes["bob"], w.inboxes["carol"]
    # bob and carol together: the DM exception is for one inbox only
    staged = commit(
        w["alice"],
        members=w.members(bob=bob.seq, carol=carol.seq),
        add=[key_package(bob).key_package, key_package(carol).key_package],
    )
    assert refused(w, "alice2", staged) is Rule.ADD_MEMBER
    staged = commit(w["alice"], members=w.members(carol=carol.seq), add=[key_package(carol).key_package])
    assert refused(w, "alice2", staged) is Rule.ADD_MEMBER
    # the other DM member: allowed although the DM's add policy is deny
    assert receive(
        w, "alice2", commit(w["alice"], members=w.members(bob=bob.seq), add=[key_package(bob).key_package])
    ).added_inboxes == (bob.inbox_id,)


def test_dm_members_edit_metadata_but_never_remove_or_add() -> None:
    w = world("alice", "bob", dm=True, extra=["carol"])
    carol = w.inboxes["carol"]
    receive(w, "alice", commit(w["bob"], attributes={"group_name": "us", "description": "two"}))
    staged = commit(w["bob"], members=w.members(carol=carol.seq), add=[key_package(carol).key_package])
    assert refused(w, "alice", staged) is Rule.ADD_MEMBER
    staged = commit(w["bob"], members=w.members(alice=None), remove=[w.leaf_of("alice")])
    assert refused(w, "alice", staged) is Rule.REMOVE_MEMBER
    assert refused(w, "alice", commit(w["bob"], admins=[w.id("bob")])) is Rule.ADD_ADMIN


# --- the policy evaluator on its own --------------------------------------------------------------------------
MEMBER = Actor("m", is_admin=False, is_super_admin=False)
ADMIN = Actor("a", is_admin=True, is_super_admin=False)
SUPER = Actor("s", is_admin=False, is_super_admin=True)


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        (_M(base=1), (True, True, True)),
        (_M(base=2), (False, False, False)),
        (_M(base=3), (False, True, True)),
        (_M(base=4), (False, False, True)),
        (_D(base=3), (False, True, True)),
        (_P(base=1), (False, False, False)),
        (_P(base=2), (False, True, True)),
        (_P(base=3), (False, False, True)),
        (
            _M(
                and_condition=_M.AndCondition(
                    policies=[
                        _M(base=3),
                        _M(any_condition=_M.AnyCondition(policies=[_M(base=2), _M(base=4)])),
                    ]
                )
            ),
            (False, False, True),
        ),
        (_D(any_condition=_D.AnyCondition(policies=[_D(base=2), _D(base=3)])), (False, True, True)),
        (_P(and_condition=_P.AndCondition(policies=[_P(base=2), _P(base=3)])), (False, False, True)),
    ],
)
def test_evaluate_policy(policy: _M | _D | _P, allowed: tuple[bool, bool, bool]) -> None:
    assert tuple(evaluate_policy(policy, actor) for actor in (MEMBER, ADMIN, SUPER)) == allowed


@pytest.mark.parametrize(
    "policy",
    [
        _M(),
        _M(base=0),
        _M(base=5),
        _P(base=4),
        _M(and_condition=_M.AndCondition()),
        _D(any_condition=_D.AnyCondition()),
    ],
)
def test_a_malformed_policy_is_an_error(policy: _M | _D | _P) -> None:
    with pytest.raises(CommitValidationError) as info:
        evaluate_policy(policy, SUPER)
    assert info.value.rule is Rule.POLICY_SET


def test_presets_read_as_the_spec_table_says() -> None:
    def verdicts(policy: _M | _D | _P) -> tuple[bool, bool, bool]:
        return tuple(evaluate_policy(policy, actor) for actor in (MEMBER, ADMIN, SUPER))  # type: ignore[return-value]

    anyone, admins, supers, nobody = (
        (True, True, True),
        (False, True, True),
        (False, False, True),
        (False,) * 3,
    )
    for preset, add, remove, name in (
        (DEFAULT_POLICIES, anyone, admins, anyone),
        (ADMIN_ONLY_POLICIES, admins, admins, admins),
    ):
        assert verdicts(preset.add_member_policy) == add
        assert verdicts(preset.remove_member_policy) == remove
        assert verdicts(preset.update_metadata_policy["group_name"]) == name
        assert verdicts(preset.update_metadata_policy["message_disappear_in_ns"]) == admins
        assert verdicts(preset.update_metadata_policy["minimum_supported_protocol_version"]) == supers
        for admin_policy in (
            preset.add_admin_policy,
            preset.remove_admin_policy,
            preset.update_permissions_policy,
        ):
            assert verdicts(admin_policy) == supers
    assert verdicts(DM_POLICIES.add_member_policy) == verdicts(DM_POLICIES.remove_member_policy) == nobody
    assert all(verdicts(DM_POLICIES.update_metadata_policy[f]) == anyone for f in METADATA_FIELDS)
    for admin_policy in (DM_POLICIES.add_admin_policy, DM_POLICIES.remove_admin_policy):
        assert verdicts(admin_policy) == nobody
    assert verdicts(DM_POLICIES.update_permissions_policy) == nobody


def test_the_removed_member_can_validate_its_own_removal() -> None:
    w = world("alice", "bob", "carol")
    result = receive(
        w, "carol", commit(w["alice"], members=w.members(carol=None), remove=[w.leaf_of("carol")])
    )
    assert result.removed_inboxes == (w.id("carol"),) and not w["carol"].is_active


def test_an_installation_that_failed_before_need_not_be_removed_with_its_inbox() -> None:
    w = world("alice", "bob", "carol")
    bob = w.inboxes["bob"]
    bob2 = bob.add_installation()
    receive(w, "carol", commit(w["alice"], members=w.members(bob=bob.seq), failed=[bob2.public_key]))
    # bob leaves: his leaf goes, and bob2 (never in the tree, listed as failed before) cannot be removed
    result = receive(w, "carol", commit(w["alice"], members=w.members(bob=None), remove=[w.leaf_of("bob")]))
    assert result.removed_inboxes == (bob.inbox_id,)
