"""Group engine flows between in-process members: create, add, remove, update, by-reference and inline
proposals, Welcome joins (tree inline or out of band), PSKs, external commits, pending commits and state
serialization."""

from __future__ import annotations

import pytest

from pyxmtp.mls.codec import decode, encode
from pyxmtp.mls.constants import ResumptionPSKUsage, WireFormat
from pyxmtp.mls.errors import InvalidSignature, StateError, ValidationError, WrongEpochError
from pyxmtp.mls.framing.content import FramedContent, Sender
from pyxmtp.mls.framing.messages import MLSMessage, PublicMessage
from pyxmtp.mls.framing.protection import authenticate
from pyxmtp.mls.group import (
    ApplicationMessage,
    Group,
    GroupConfig,
    GroupStatus,
    ProposalReceived,
    StagedCommit,
    WireFormatPolicy,
)
from pyxmtp.mls.group.errors import InvalidArgument, MissingPSKError, WelcomeError
from pyxmtp.mls.messages.extensions import Extension, ExternalSender, ExternalSenders, RequiredCapabilities
from pyxmtp.mls.messages.group_info import GroupInfo
from pyxmtp.mls.messages.proposals import (
    Add,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    Remove,
    ResumptionPSK,
)
from pyxmtp.mls.messages.welcome import Welcome
from tests.mls.helpers import InMemoryGroup, SeededRandom

NOW = 1_700_000_000


def names(group: Group) -> list[bytes]:
    return [m.credential.identity for m in group.members()]


@pytest.mark.parametrize("suite", [1, 2, 3, 4, 5, 6, 7])
def test_create_add_message_remove_every_suite(suite: int) -> None:
    net = InMemoryGroup(suite, seed=suite)
    alice = net.create("alice")
    assert (alice.epoch, alice.own_leaf_index, names(alice)) == (0, 0, [b"alice"])
    staged = net.add("alice", "bob", "carol")
    assert [i for i, _ in staged.added] == [1, 2]
    assert net.check_agreement() == alice.epoch_authenticator
    assert alice.epoch == net["bob"].epoch == 1
    assert names(net["carol"]) == [b"alice", b"bob", b"carol"]

    events = net.send("bob", b"hello", authenticated_data=b"ad")
    for name in ("alice", "carol"):
        event = events[name]
        assert isinstance(event, ApplicationMessage)
        assert (event.sender, event.data, event.authenticated_data, event.epoch) == (1, b"hello", b"ad", 1)

    net.remove("carol", "alice")
    assert net["alice"].status is GroupStatus.INACTIVE
    net.check_agreement()
    assert names(net["bob"]) == [b"bob", b"carol"]
    assert net["bob"].export_secret("label", b"ctx", 32) == net["carol"].export_secret("label", b"ctx", 32)


def test_exporter_differs_per_label_context_and_epoch() -> None:
    net = InMemoryGroup(seed=2)
    net.create("a")
    net.add("a", "b")
    a = net["a"]
    first = a.export_secret("x", b"", 32)
    assert first != a.export_secret("y", b"", 32) != a.export_secret("x", b"c", 32)
    assert len(a.export_secret("x", b"", 64)) == 64
    net.update("b")
    assert a.export_secret("x", b"", 32) != first


def test_commit_without_proposals_has_a_path_and_changes_the_leaf_key() -> None:
    net = InMemoryGroup(seed=3)
    net.create("a")
    net.add("a", "b")
    before = net["a"].member(1)
    staged = net.update("b")
    assert staged.has_path and not staged.proposals
    after = net["a"].member(1)
    assert before is not None and after is not None
    assert before.encryption_key != after.encryption_key
    assert before.signature_key == after.signature_key
    net.check_agreement()


def test_add_only_commit_has_no_path_unless_forced() -> None:
    net = InMemoryGroup(seed=4)
    net.create("a")
    assert not net.add("a", "b").has_path
    assert net.add("b", "c", force_path=True).has_path
    net.check_agreement()


def test_proposals_by_reference_are_committed_by_another_member() -> None:
    net = InMemoryGroup(seed=5)
    net.create("a")
    net.add("a", "b", "c")
    bundle = net.key_package("d")
    data = net["b"].propose_add(bundle.key_package, rng=net.rng, now=NOW)
    events = net.deliver("b", data)
    assert all(isinstance(e, ProposalReceived) for e in events.values())
    ref = events["a"].reference if isinstance(events["a"], ProposalReceived) else b""
    assert [p.reference for p in net["a"].pending_proposals] == [ref]
    net.propose("c", Proposal(Remove(0)))
    staged = net.commit("b")
    assert [i for i, _ in staged.removed] == [0]
    assert [i for i, _ in staged.added] == [0]  # removes apply before adds: d takes the freed leaf
    assert all(p.reference is not None for p in staged.proposals)
    assert net["a"].status is GroupStatus.INACTIVE
    assert names(net["d"]) == [b"d", b"b", b"c"]
    net.check_agreement()
    assert not net["b"].pending_proposals  # the cache is per epoch


def test_update_proposal_committed_by_another_member() -> None:
    net = InMemoryGroup(seed=6)
    net.create("a")
    net.add("a", "b")
    old = net["a"].member(1)
    data = net["b"].propose_update(rng=net.rng, now=NOW)
    net.deliver("b", data)
    staged = net.commit("a")
    assert [i for i, _ in staged.updated] == [1] and staged.has_path
    new = net["a"].member(1)
    assert old is not None and new is not None and old.encryption_key != new.encryption_key
    net.check_agreement()
    net.send("b", b"after update")
    net.update("b")  # b can still commit: it holds its new leaf key
    net.check_agreement()


def test_group_context_extensions_proposal_inline_and_by_reference() -> None:
    net = InMemoryGroup(seed=7)
    net.create("a")
    net.add("a", "b")
    required = RequiredCapabilities(credential_types=(1,)).to_extension()
    staged = net.commit("a", proposals=[Proposal(GroupContextExtensions((required,)))])
    assert staged.extensions == (required,)
    assert net["b"].extensions == (required,)
    data = net["b"].propose_group_context_extensions((), rng=net.rng, now=NOW)
    net.deliver("b", data)
    net.commit("a")
    assert net["a"].extensions == () == net["b"].extensions
    net.check_agreement()


def test_external_psk_inline_by_reference_and_in_the_welcome() -> None:
    net = InMemoryGroup(seed=8)
    net.psks[b"psk-1"] = b"secret one"
    net.create("a")
    net.add("a", "b")
    inline = net["a"].external_psk_proposal(b"psk-1", rng=net.rng)
    staged = net.commit("a", proposals=[inline])
    assert len(staged.psk_ids) == 1
    net.check_agreement()
    data = net["b"].propose_external_psk(b"psk-1", rng=net.rng, now=NOW)
    net.deliver("b", data)
    joiner = net.key_package("c")
    net.commit("a", add=[joiner.key_package])
    net.check_agreement()


def test_missing_external_psk_is_rejected() -> None:
    net = InMemoryGroup(seed=9)
    net.create("a")
    net.add("a", "b")
    proposal = net["a"].external_psk_proposal(b"unknown", rng=net.rng)
    with pytest.raises(InvalidArgument):
        net["a"].commit(rng=net.rng, now=NOW, proposals=[proposal])
    net.psks[b"only-a"] = b"k"
    staged = net["a"].commit(
        rng=net.rng,
        now=NOW,
        proposals=[net["a"].external_psk_proposal(b"only-a", rng=net.rng)],
        psks=net.psks,
    )
    before = net["b"].to_bytes()
    assert staged.message is not None
    with pytest.raises(MissingPSKError):
        net["b"].process(staged.message, now=NOW)  # b does not have the PSK
    assert net["b"].to_bytes() == before


def test_resumption_psk_of_a_recent_epoch() -> None:
    net = InMemoryGroup(seed=10)
    net.create("a")
    net.add("a", "b")
    epoch = net["a"].epoch
    net.update("b")
    psk = PreSharedKeyID(ResumptionPSK(ResumptionPSKUsage.application, net["a"].group_id, epoch), net.rng(32))
    staged = net.commit("a", proposals=[Proposal(PreSharedKey(psk))])
    assert staged.psk_ids == (psk,)
    net.check_agreement()


def test_join_with_the_tree_out_of_band() -> None:
    config = GroupConfig(use_ratchet_tree_extension=False)
    net = InMemoryGroup(seed=11, config=config)
    net.create("a")
    staged = net.add("a", "b", "c")
    assert staged.welcome is not None
    welcome = decode(MLSMessage, staged.welcome).body
    assert isinstance(welcome, Welcome)
    net.check_agreement()
    bundle = net.key_package("d")
    staged = net["a"].commit(rng=net.rng, now=NOW, add=[bundle.key_package])
    assert staged.welcome is not None
    with pytest.raises(WelcomeError, match="no ratchet tree"):
        Group.join(staged.welcome, bundle, net.signer("d"), now=NOW)


def test_own_commit_echo_returns_the_pending_commit() -> None:
    net = InMemoryGroup(seed=12)
    net.create("a")
    net.add("a", "b")
    a = net["a"]
    staged = a.commit(rng=net.rng, now=NOW, force_path=True)
    assert a.status is GroupStatus.PENDING_COMMIT and a.pending_commit is staged
    assert staged.message is not None
    assert a.process(staged.message, now=NOW) is staged
    net.deliver("a", staged.message)
    a.merge_staged_commit(staged)
    assert a.status is GroupStatus.OPERATIONAL and a.pending_commit is None
    net.check_agreement()


def test_competing_commits_the_loser_merges_the_winner() -> None:
    net = InMemoryGroup(seed=13)
    net.create("a")
    net.add("a", "b", "c")
    mine = net["a"].commit(rng=net.rng, now=NOW, force_path=True)
    theirs = net["b"].commit(rng=net.rng, now=NOW, force_path=True)
    assert theirs.message is not None and mine.message is not None
    net.deliver("b", theirs.message)  # the server accepted b's commit: a and c merge it
    net["b"].merge_pending_commit()
    assert net["a"].pending_commit is None and net["a"].status is GroupStatus.OPERATIONAL
    with pytest.raises(StateError):
        net["a"].merge_staged_commit(mine)
    net.check_agreement()
    with pytest.raises(WrongEpochError):  # a's commit is for a past epoch now
        net["c"].process(mine.message, now=NOW)


def test_clear_pending_commit_keeps_the_epoch_and_allows_a_new_commit() -> None:
    net = InMemoryGroup(seed=14)
    net.create("a")
    net.add("a", "b")
    a = net["a"]
    epoch = a.epoch
    a.commit(rng=net.rng, now=NOW, force_path=True)
    with pytest.raises(StateError):
        a.commit(rng=net.rng, now=NOW)
    with pytest.raises(StateError):
        a.propose_remove(1, rng=net.rng, now=NOW)
    net.send("a", b"still in the epoch")  # application messages are allowed while a commit is pending
    a.clear_pending_commit()
    assert a.epoch == epoch and a.status is GroupStatus.OPERATIONAL
    net.update("a")
    net.check_agreement()


def test_external_commit_join_and_resync() -> None:
    net = InMemoryGroup(seed=15)
    net.create("a")
    net.add("a", "b")
    info = net["a"].group_info()
    assert isinstance(decode(MLSMessage, info).body, GroupInfo)
    c, message = Group.join_by_external_commit(
        info, net.signer("c"), net.credential("c"), rng=net.rng, now=NOW, config=net.config
    )
    assert c.status is GroupStatus.EXTERNAL_PENDING
    with pytest.raises(StateError):
        c.create_message(b"too early", rng=net.rng)
    results = net.deliver("c", message)
    assert all(
        isinstance(r, StagedCommit) and r.sender.sender_type.name == "new_member_commit"
        for r in results.values()
    )
    c.merge_pending_commit()
    net.members["c"] = c
    assert c.own_leaf_index == 2 and c.status is GroupStatus.OPERATIONAL
    net.check_agreement()
    net.send("c", b"hi from c")

    # c lost its state: it rejoins, removing its old leaf in the same external commit
    c2, message = Group.join_by_external_commit(
        net["a"].group_info(),
        net.signer("c"),
        net.credential("c"),
        rng=net.rng,
        now=NOW,
        config=net.config,
        remove_leaf=2,
    )
    del net.members["c"]
    net.deliver("c", message)
    c2.merge_pending_commit()
    net.members["c"] = c2
    assert c2.own_leaf_index == 2
    net.check_agreement()


def test_external_commit_needs_external_pub() -> None:
    net = InMemoryGroup(seed=16)
    net.create("a")
    info = net["a"].group_info(with_external_pub=False)
    with pytest.raises(WelcomeError, match="external_pub"):
        Group.join_by_external_commit(info, net.signer("z"), net.credential("z"), rng=net.rng, now=NOW)


@pytest.mark.parametrize("policy", list(WireFormatPolicy))
def test_serialization_round_trip_mid_conversation(policy: WireFormatPolicy) -> None:
    net = InMemoryGroup(seed=17, config=GroupConfig(wire_format_policy=policy))
    net.create("a")
    net.add("a", "b", "c")
    net.send("b", b"one")
    net.deliver("c", net["c"].propose_update(rng=net.rng, now=NOW))
    for name in list(net.members):
        data = net[name].to_bytes()
        restored = Group.from_bytes(data)
        assert restored.to_bytes() == data
        net.members[name] = restored
    net.commit("a")
    net.check_agreement()
    # a pending commit survives a round trip
    pending = net["b"].commit(rng=net.rng, now=NOW, force_path=True)
    restored = Group.from_bytes(net["b"].to_bytes())
    assert restored.status is GroupStatus.PENDING_COMMIT
    assert restored.pending_commit is not None and restored.pending_commit.message == pending.message
    net.members["b"] = restored
    assert pending.message is not None
    net.deliver("b", pending.message)
    restored.merge_pending_commit()
    net.check_agreement()


def test_a_restored_group_keeps_working_with_new_config() -> None:
    net = InMemoryGroup(seed=18)
    net.create("a")
    net.add("a", "b")
    restored = Group.from_bytes(net["b"].to_bytes(), config=GroupConfig(max_past_epochs=0))
    assert restored.config.max_past_epochs == 0
    net.members["b"] = restored
    net.update("a")
    assert restored.past_epochs == ()


def test_group_creation_options() -> None:
    rng = SeededRandom(19)
    net = InMemoryGroup(seed=19)
    ext = Extension(0xFF01, b"app")
    g = Group.create(
        3, net.signer("a"), net.credential("a"), rng=rng, now=NOW, group_id=b"gid", extensions=(ext,)
    )
    assert g.group_id == b"gid" and g.extensions == (ext,) and g.epoch == 0
    with pytest.raises(InvalidArgument):
        Group.create(3, net.signer("a"), net.credential("a"), rng=rng, now=NOW, extensions=(ext, ext))
    with pytest.raises(InvalidArgument):
        Group.create(2, net.signer("a"), net.credential("a"), rng=rng, now=NOW)  # Ed25519 key, P-256 suite


def test_external_sender_proposals() -> None:

    net = InMemoryGroup(seed=20, config=GroupConfig(wire_format_policy=WireFormatPolicy.PURE_CIPHERTEXT))
    server = net.signer("server")
    senders = ExternalSenders((ExternalSender(server.public_bytes(), net.credential("server")),))
    net.create("a", extensions=(senders.to_extension(),))
    net.add("a", "b", "c")
    a = net["a"]
    framed = FramedContent(a.group_id, a.epoch, Sender.external(0), b"", Proposal(Remove(2)))
    content = authenticate(net.suite, server, WireFormat.public_message, framed, None)
    data = encode(MLSMessage(PublicMessage(framed, content.auth, None)))
    events = net.deliver("server", data)  # accepted as a PublicMessage even under PURE_CIPHERTEXT
    assert all(isinstance(e, ProposalReceived) and e.sender == Sender.external(0) for e in events.values())
    staged = net.commit("b")
    assert [i for i, _ in staged.removed] == [2]
    net.check_agreement()
    # an unknown external sender index, or a commit from an external sender, is refused
    framed = FramedContent(a.group_id, a.epoch, Sender.external(1), b"", Proposal(Remove(1)))
    content = authenticate(net.suite, server, WireFormat.public_message, framed, None)
    with pytest.raises(ValidationError, match="external_senders"):
        net["b"].process(encode(MLSMessage(PublicMessage(framed, content.auth, None))), now=NOW)


def test_new_member_proposal_then_commit_by_reference() -> None:

    net = InMemoryGroup(seed=21)
    net.create("a")
    net.add("a", "b")
    bundle = net.key_package("c")
    a = net["a"]
    framed = FramedContent(
        a.group_id, a.epoch, Sender.new_member_proposal(), b"", Proposal(Add(bundle.key_package))
    )
    content = authenticate(net.suite, net.signer("c"), WireFormat.public_message, framed, None)
    data = encode(MLSMessage(PublicMessage(framed, content.auth, None)))
    events = net.deliver("c", data)
    assert all(isinstance(e, ProposalReceived) for e in events.values())
    net.commit("b")
    net.check_agreement()
    # signed by someone else than the key package's owner: refused
    framed = FramedContent(
        a.group_id,
        a.epoch,
        Sender.new_member_proposal(),
        b"",
        Proposal(Add(net.key_package("d").key_package)),
    )
    content = authenticate(net.suite, net.signer("e"), WireFormat.public_message, framed, None)
    with pytest.raises(InvalidSignature):
        net["a"].process(encode(MLSMessage(PublicMessage(framed, content.auth, None))), now=NOW)


def test_key_packages_as_bytes_and_external_join_state_round_trip() -> None:
    net = InMemoryGroup(seed=22)
    net.create("a")
    net.add("a", "b")
    as_message = encode(MLSMessage(net.key_package("c").key_package))
    bare = encode(net.key_package("d").key_package)
    net.deliver("a", net["a"].propose_add(as_message, rng=net.rng, now=NOW))
    staged = net.commit("b", add=[net.key_package("e").key_package])
    assert len(staged.added) == 2
    staged = net["a"].commit(rng=net.rng, now=NOW, add=[bare])
    assert len(staged.added) == 1
    net["a"].clear_pending_commit()
    with pytest.raises(InvalidArgument):
        net["a"].commit(rng=net.rng, now=NOW, add=[net["a"].group_info()])

    joiner, message = Group.join_by_external_commit(
        net["a"].group_info(), net.signer("z"), net.credential("z"), rng=net.rng, now=NOW
    )
    restored = Group.from_bytes(joiner.to_bytes())
    assert restored.status is GroupStatus.EXTERNAL_PENDING
    assert restored.process(message, now=NOW) is restored.pending_commit
    net.deliver("z", message)
    restored.merge_pending_commit()
    net.members["z"] = restored
    net.check_agreement()
