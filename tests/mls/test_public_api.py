"""``pyxmtp.mls`` as a library: everything an MLS peer needs, imported from the package's top level only.

Key packages (made, published as bytes, stored and restored, matched to a Welcome), groups created and joined
(ratchet tree in the Welcome or out of band, per commit), commits and every proposal kind (per-call wire
format), protect / unprotect with authenticated data, exporter agreement, state serialization, and the status
of a member a commit removed, which stays readable.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import pyxmtp.mls as mls
from pyxmtp.mls import (
    INTEROP_CONFIG,
    XMTP_CONFIG,
    Add,
    ApplicationMessage,
    Credential,
    Extension,
    ExternalPSK,
    Group,
    GroupContextExtensions,
    GroupStatus,
    InvalidArgument,
    KeyPackageBundle,
    PreSharedKey,
    ProposalReceived,
    Remove,
    ResumptionPSK,
    SignaturePrivateKey,
    StagedCommit,
    StateError,
    Update,
    WelcomeError,
    WireFormat,
    WireFormatError,
    create_key_package,
    get_suite,
    key_package_for_welcome,
    parse_key_package_bytes,
)

NOW = 1_700_000_000
rng = os.urandom
# required_capabilities with empty lists, external_senders with none (as the IETF interop scenarios use)
EXTENSIONS = (Extension(3, b"\x00\x00\x00"), Extension(5, b"\x00"))


def wire_format_of(message: bytes) -> WireFormat:
    """An MLSMessage's wire format (``uint16 version; uint16 wire_format; ...``)."""
    return WireFormat(int.from_bytes(message[2:4], "big"))


class Peer:
    """One member, written as an outside developer would."""

    def __init__(self, name: str, suite: int = 3) -> None:
        self.suite = get_suite(suite)
        self.signer: SignaturePrivateKey = self.suite.generate_signature_key(rng)
        self.credential = Credential.basic(name.encode())
        self.bundles: list[KeyPackageBundle] = []
        self.group: Group | None = None

    def key_package(self) -> bytes:
        bundle = create_key_package(self.suite, self.signer, self.credential, rng=rng, now=NOW)
        self.bundles.append(KeyPackageBundle.from_bytes(bundle.to_bytes()))
        return bundle.key_package_message()

    def create(self, config: mls.GroupConfig = INTEROP_CONFIG) -> Group:
        self.group = Group.create(self.suite, self.signer, self.credential, rng=rng, now=NOW, config=config)
        return self.group

    def join(
        self,
        welcome: bytes,
        tree: bytes | None = None,
        config: mls.GroupConfig = INTEROP_CONFIG,
        psks: dict[bytes, bytes] | None = None,
    ) -> None:
        bundle = key_package_for_welcome(welcome, self.bundles)
        assert bundle is not None
        self.group = Group.join(
            welcome, bundle, self.signer, now=NOW, config=config, ratchet_tree=tree, psks=psks
        )
        self.bundles.remove(bundle)

    @property
    def g(self) -> Group:
        assert self.group is not None
        return self.group

    def leaf_of(self, name: str) -> int:
        return next(m.leaf_index for m in self.g.members() if m.credential.identity == name.encode())


def agree(*peers: Peer) -> None:
    views = {
        (
            p.g.epoch,
            p.g.epoch_authenticator,
            p.g.export_secret("test", b"ctx", 32),
            p.g.export_ratchet_tree(),
            tuple(m.credential.identity for m in p.g.members()),
        )
        for p in peers
    }
    assert len(views) == 1


def commit_and_deliver(committer: Peer, *others: Peer, **options: object) -> StagedCommit:
    staged = committer.g.commit(rng=rng, now=NOW, **options)  # type: ignore[arg-type]
    committer.g.merge_pending_commit()
    assert staged.message is not None
    for other in others:
        result = other.g.process(staged.message, now=NOW)
        assert isinstance(result, StagedCommit)
        other.g.merge_staged_commit(result)
    return staged


def trio(suite: int = 3) -> tuple[Peer, Peer, Peer]:
    a, b, c = Peer("alice", suite), Peer("bob", suite), Peer("carol", suite)
    a.create()
    staged = commit_and_deliver(a, add=[b.key_package(), c.key_package()])
    assert staged.welcome is not None
    b.join(staged.welcome)
    c.join(staged.welcome)
    agree(a, b, c)
    return a, b, c


def test_the_package_exports_a_documented_api() -> None:
    assert mls.__doc__ is not None and "Example" in mls.__doc__
    for name in mls.__all__:
        assert getattr(mls, name) is not None, name
    assert set(mls.SUPPORTED_SUITES) == {1, 2, 3, 4, 5, 6, 7}


def test_this_file_imports_only_the_top_level() -> None:
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in modules if m and m.startswith("pyxmtp")} == {"pyxmtp.mls"}


@pytest.mark.parametrize("suite", [1, 3])
def test_members_talk_export_and_survive_serialization(suite: int) -> None:
    a, b, c = trio(suite)
    message = a.g.create_message(b"hello", rng=rng, authenticated_data=b"ad")
    assert wire_format_of(message) is WireFormat.private_message
    for reader in (b, c):
        event = reader.g.process(message, now=NOW)
        assert isinstance(event, ApplicationMessage)
        assert (event.sender, event.data, event.authenticated_data) == (0, b"hello", b"ad")
    b.group = Group.from_bytes(b.g.to_bytes())
    reply = b.g.create_message(b"hi", rng=rng)
    assert isinstance(a.g.process(reply, now=NOW), ApplicationMessage)
    commit_and_deliver(b, a, c)
    agree(a, b, c)
    assert a.g.epoch == 2


def test_key_package_for_welcome_picks_the_addressed_bundle() -> None:
    a, b = Peer("alice"), Peer("bob")
    a.create()
    b.key_package()
    addressed = b.key_package()
    b.key_package()
    staged = commit_and_deliver(a, add=[addressed])
    assert staged.welcome is not None
    found = key_package_for_welcome(staged.welcome, b.bundles)
    assert found is b.bundles[1] and found.key_package_message() == addressed
    assert key_package_for_welcome(staged.welcome, [b.bundles[0], b.bundles[2]]) is None


def test_every_proposal_kind_by_reference_in_either_wire_format() -> None:
    a, b, c = trio()
    psk_id, psk = b"psk-1", b"\x11" * 32
    psks = {psk_id: psk}
    public, private = WireFormat.public_message, WireFormat.private_message
    sent = [
        (b, b.g.propose_update(rng=rng, now=NOW, wire_format=public)),
        (c, c.g.propose_remove(a.leaf_of("carol"), rng=rng, now=NOW)),
        (b, b.g.propose_group_context_extensions(EXTENSIONS, rng=rng, now=NOW, wire_format=public)),
        (b, b.g.propose_external_psk(psk_id, rng=rng, now=NOW, wire_format=private)),
        (c, c.g.propose_resumption_psk(1, rng=rng, now=NOW, wire_format=public)),
    ]
    assert [wire_format_of(m) for _, m in sent] == [public, private, public, private, public]
    kinds = []
    for sender, message in sent:
        for reader in {a, b, c} - {sender}:
            event = reader.g.process(message, now=NOW)
            assert isinstance(event, ProposalReceived)
            if reader is a:
                kinds.append(type(event.proposal.body))
    assert kinds == [Update, Remove, GroupContextExtensions, PreSharedKey, PreSharedKey]
    staged = a.g.commit(rng=rng, now=NOW, psks=psks, wire_format=public)
    a.g.merge_pending_commit()
    assert staged.message is not None and wire_format_of(staged.message) is public
    assert [type(p.proposal.body) for p in staged.proposals] == kinds
    assert {type(p.psk) for p in staged.psk_ids} == {ExternalPSK, ResumptionPSK}
    for reader in (b, c):
        result = reader.g.process(staged.message, now=NOW, psks=psks)
        assert isinstance(result, StagedCommit) and result.self_removed is (reader is c)
        reader.g.merge_staged_commit(result)
    agree(a, b)
    assert a.g.extensions == EXTENSIONS and not c.g.is_active

    # an Add by reference, committed with an external PSK inline: the joiner needs that PSK too
    d = Peer("dave")
    event = a.g.process(b.g.propose_add(d.key_package(), rng=rng, now=NOW), now=NOW)
    assert isinstance(event, ProposalReceived) and isinstance(event.proposal.body, Add)
    staged = a.g.commit(rng=rng, now=NOW, psks=psks, proposals=[a.g.external_psk_proposal(psk_id, rng=rng)])
    a.g.merge_pending_commit()
    assert staged.message is not None and staged.welcome is not None
    result = b.g.process(staged.message, now=NOW, psks=psks)
    assert isinstance(result, StagedCommit)
    b.g.merge_staged_commit(result)
    d.join(staged.welcome, psks=psks)
    agree(a, b, d)


def test_per_call_wire_format_against_each_policy() -> None:
    """A PublicMessage commit is accepted by a member whose policy accepts both and refused (typed error, group
    unchanged) by one whose policy is XMTP's; a wire format that is not a handshake one is the caller's error."""
    a, b = Peer("alice"), Peer("bob")
    a.create()
    staged = commit_and_deliver(a, add=[b.key_package()])
    assert staged.welcome is not None
    b.join(staged.welcome, config=XMTP_CONFIG)
    before = a.g.to_bytes()
    with pytest.raises(InvalidArgument):
        a.g.commit(rng=rng, now=NOW, wire_format=WireFormat.welcome)
    with pytest.raises(InvalidArgument):
        a.g.propose_remove(1, rng=rng, now=NOW, wire_format=WireFormat.key_package)
    assert a.g.to_bytes() == before and a.g.status is GroupStatus.OPERATIONAL
    public = a.g.commit(rng=rng, now=NOW, wire_format=WireFormat.public_message)
    assert public.message is not None and wire_format_of(public.message) is WireFormat.public_message
    bob_before = b.g.to_bytes()
    with pytest.raises(WireFormatError):
        b.g.process(public.message, now=NOW)
    assert b.g.to_bytes() == bob_before
    a.g.clear_pending_commit()
    private = a.g.commit(rng=rng, now=NOW)  # the policy's own format (INTEROP_CONFIG sends PrivateMessages)
    assert private.message is not None and wire_format_of(private.message) is WireFormat.private_message
    a.g.merge_pending_commit()
    result = b.g.process(private.message, now=NOW)
    assert isinstance(result, StagedCommit)
    b.g.merge_staged_commit(result)
    agree(a, b)


@pytest.mark.parametrize("in_welcome", [False, True])
def test_ratchet_tree_in_the_welcome_per_commit(in_welcome: bool) -> None:
    """The per-call option wins over the configuration either way; without the tree the joiner needs
    ``export_ratchet_tree()`` of the new epoch."""
    a, b = Peer("alice"), Peer("bob")
    config = mls.GroupConfig(use_ratchet_tree_extension=not in_welcome)
    a.create(config)
    staged = a.g.commit(add=[b.key_package()], rng=rng, now=NOW, ratchet_tree_in_welcome=in_welcome)
    staged_tree = a.g.export_ratchet_tree(staged)
    assert staged_tree != a.g.export_ratchet_tree()
    a.g.merge_pending_commit()
    assert staged.welcome is not None
    with pytest.raises(StateError):
        a.g.export_ratchet_tree(staged)  # no longer a commit of the current epoch
    if not in_welcome:
        bundle = key_package_for_welcome(staged.welcome, b.bundles)
        assert bundle is not None
        with pytest.raises(WelcomeError):
            Group.join(staged.welcome, bundle, b.signer, now=NOW)
        assert (
            staged_tree == a.g.export_ratchet_tree()
        )  # the tree of the pending commit's epoch, before merging
        b.join(staged.welcome, tree=a.g.export_ratchet_tree())
    else:
        b.join(staged.welcome)
    agree(a, b)


def test_a_removed_member_stays_readable() -> None:
    """After merging the commit that removes it: inactive, ``epoch`` and ``epoch_authenticator`` of the last epoch
    it was in (also after a round trip through bytes); sending or exporting is a StateError."""
    a, b, c = trio()
    last = (b.g.epoch, b.g.epoch_authenticator, b.g.group_context)
    late = a.g.create_message(b"late", rng=rng)
    staged = commit_and_deliver(a, c, remove=[a.leaf_of("bob")])
    result = b.g.process(staged.message or b"", now=NOW)
    assert isinstance(result, StagedCommit) and result.self_removed and result.epoch_authenticator is None
    b.g.merge_staged_commit(result)
    for group in (b.g, Group.from_bytes(b.g.to_bytes())):
        assert group.status is GroupStatus.INACTIVE and not group.is_active
        assert (group.epoch, group.epoch_authenticator, group.group_context) == last
        assert group.epoch == a.g.epoch - 1
        with pytest.raises(StateError):
            group.create_message(b"x", rng=rng)
        with pytest.raises(StateError):
            group.export_secret("test", b"", 32)
    event = b.g.process(late, now=NOW)  # a late message of the last epoch still reads
    assert isinstance(event, ApplicationMessage) and event.data == b"late"
    agree(a, c)
    assert a.g.is_active


def test_state_bytes_of_the_previous_format_still_load() -> None:
    """Group states stored before the removed-member record and the lifetime-range bound existed (format 1) load
    unchanged."""
    a, b, _ = trio()
    data = b.g.to_bytes()
    # format 2: after the format and status bytes, the config (policy, four u32, three bools, then the optional
    # lifetime-range bound: absent here); at the end, no final epoch
    assert data[0] == 2 and data[2 + 1 + 16 + 3] == 0 and data[-1] == 0
    old = Group.from_bytes(b"\x01" + data[1:22] + data[23:-1])
    assert old.to_bytes() == data
    message = old.create_message(b"still here", rng=rng)
    assert isinstance(a.g.process(message, now=NOW), ApplicationMessage)


def test_a_bundle_from_key_packages_and_private_keys_made_elsewhere() -> None:
    """A passive client's bundle: a key package (MLSMessage bytes) and its private keys as bytes; keys that are
    not the key package's are the caller's error."""
    maker = Peer("bob")
    message = maker.key_package()
    made = maker.bundles[0]
    init, enc = made.init_private_key.to_bytes(), made.encryption_private_key.to_bytes()
    bundle = KeyPackageBundle.from_private_keys(message, init, enc)
    assert bundle.to_bytes() == made.to_bytes() and bundle.reference() == made.reference()
    assert parse_key_package_bytes(message) == made.key_package == parse_key_package_bytes(message[4:])
    with pytest.raises(mls.DecodeError):
        parse_key_package_bytes(message[:-1])
    with pytest.raises(mls.LocalMLSError):
        KeyPackageBundle.from_private_keys(message, enc, init)
    a = Peer("alice")
    a.create()
    staged = commit_and_deliver(a, add=[message])
    assert staged.welcome is not None
    signer = maker.suite.signature_key_from_bytes(maker.signer.to_bytes())
    b = Group.join(staged.welcome, bundle, signer, now=NOW, config=INTEROP_CONFIG)
    assert b.epoch_authenticator == a.g.epoch_authenticator
