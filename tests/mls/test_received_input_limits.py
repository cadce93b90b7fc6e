"""What the group engine accepts from peers, beyond the wire format: key-package lifetimes in received Adds and
joined trees are the configuration's choice (``check_received_lifetimes``), ours are always checked; lifetime
ranges have an upper bound (RFC 9420 7.2); a Welcome whose GroupInfo or GroupContext repeats an extension type is
refused (13.4); and proposals by reference are bounded in count and bytes. Every refusal is typed and leaves the
group as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pyxmtp.mls.errors import RemoteMLSError
from pyxmtp.mls.group import XMTP_CONFIG, Group, GroupConfig, StagedCommit
from pyxmtp.mls.group import proposal_store as store_module
from pyxmtp.mls.group import proposals as proposals_module
from pyxmtp.mls.group import welcome as welcome_module
from pyxmtp.mls.group.errors import InvalidArgument, ProposalError, ProposalStoreFull, WelcomeError
from pyxmtp.mls.key_package_validation import KeyPackageValidationError, validate_key_package
from pyxmtp.mls.key_packages import DEFAULT_LIFETIME, LIFETIME_MARGIN, create_key_package
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import GroupContextExtensions, Proposal, Remove
from pyxmtp.mls.tree.leaf_validation import LeafValidationError
from pyxmtp.mls.tree.nodes import Lifetime
from tests.mls.helpers import InMemoryGroup, SeededRandom

NOW = 1_700_000_000
DAY = 24 * 3600
#: An application's bound on lifetime ranges (RFC 9420 7.2): our own key packages' default, 90 days and an hour.
MAX_RANGE = DEFAULT_LIFETIME + LIFETIME_MARGIN
CHECKED = GroupConfig(max_lifetime_range=MAX_RANGE)
CHECKS_OFF = GroupConfig(check_received_lifetimes=False, max_lifetime_range=MAX_RANGE)


def three(config: GroupConfig) -> InMemoryGroup:
    net = InMemoryGroup(3, seed=7, now=NOW, config=config)
    net.create("alice")
    net.add("alice", "bob")
    return net


def test_defaults_check_received_lifetimes_without_a_range_bound_and_xmtp_skips_them() -> None:
    defaults = GroupConfig()
    assert defaults.check_received_lifetimes and defaults.max_lifetime_range is None  # as OpenMLS
    assert not XMTP_CONFIG.check_received_lifetimes and XMTP_CONFIG.max_lifetime_range is None
    restored = Group.from_bytes(three(CHECKS_OFF)["bob"].to_bytes())
    assert restored.config == CHECKS_OFF  # the choice is kept with the group


@pytest.mark.parametrize(
    ("lifetime", "check"),
    [
        (Lifetime(NOW - 10 * DAY, NOW - DAY), "lifetime"),  # expired by the time it is received
        (Lifetime(NOW - 3600, NOW + 10 * 365 * DAY), "lifetime_range"),  # valid, but ten years long
    ],
)
def test_a_received_add_is_held_to_its_lifetime_only_if_the_group_says_so(
    lifetime: Lifetime, check: str
) -> None:
    for config, refused in ((CHECKED, True), (CHECKS_OFF, False)):
        net = three(config)
        carol = create_key_package(
            3, net.signer("carol"), net.credential("carol"), rng=net.rng, now=NOW, lifetime=lifetime
        )
        # alice's copy of the engine lets her add it (she made the lifetime or commits with her own clock)
        staged = _commit_at(net, carol.key_package, lifetime.not_before + 1)
        bob = net["bob"]
        before = bob.to_bytes()
        if refused:
            with pytest.raises(ProposalError) as exc:
                bob.process(staged, now=NOW)
            assert exc.value.rule == "add.key_package" and check in str(exc.value)
            assert bob.to_bytes() == before
        else:
            result = bob.process(staged, now=NOW)
            assert isinstance(result, StagedCommit)
            bob.merge_staged_commit(result)
            assert len(bob.members()) == 3


def _commit_at(net: InMemoryGroup, key_package: KeyPackage, now: int) -> bytes:
    """A commit by alice adding ``key_package``, made at ``now`` by an engine without our range bound (an
    attacker's, or an implementation with another bound)."""

    def any_range(kp: KeyPackage, *, now: int | None, max_lifetime_range: int | None) -> object:
        return validate_key_package(kp, now=now)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(proposals_module, "validate_key_package", any_range)
        staged = net["alice"].commit(rng=net.rng, now=now, add=[key_package])
    assert staged.message is not None
    return staged.message


@pytest.mark.parametrize("config", [CHECKED, CHECKS_OFF], ids=["checked", "checks-off"])
def test_our_own_adds_are_always_held_to_their_lifetime_and_range(config: GroupConfig) -> None:
    net = three(config)
    alice = net["alice"]
    for lifetime in (Lifetime(NOW - 10 * DAY, NOW - DAY), Lifetime(NOW - 3600, NOW + MAX_RANGE)):
        carol = create_key_package(
            3, net.signer("carol"), net.credential("carol"), rng=net.rng, now=NOW, lifetime=lifetime
        )
        before = alice.to_bytes()
        with pytest.raises(InvalidArgument, match="lifetime"):
            alice.commit(rng=net.rng, now=NOW, add=[carol.key_package])
        assert alice.to_bytes() == before
    with pytest.raises(KeyPackageValidationError) as exc:
        validate_key_package(carol.key_package, now=NOW, max_lifetime_range=MAX_RANGE)
    assert exc.value.check == "lifetime_range"
    validate_key_package(carol.key_package, now=NOW)  # without a bound: any range
    unbounded = three(replace(config, max_lifetime_range=None))["alice"]
    unbounded.commit(rng=SeededRandom(1), now=NOW, add=[carol.key_package])


def test_a_joined_tree_with_leaves_not_valid_at_our_clock_joins_only_if_the_group_skips_the_check() -> None:
    """Bob's leaf keeps its key package's lifetime until he updates; Carol's clock is 100 days ahead."""
    for config, joins in ((CHECKED, False), (CHECKS_OFF, True)):
        net = three(config)
        bundle = create_key_package(
            3, net.signer("carol"), net.credential("carol"), rng=net.rng, now=NOW + 100 * DAY
        )
        staged = net["alice"].commit(rng=net.rng, now=NOW + 100 * DAY, add=[bundle.key_package])
        assert staged.welcome is not None
        if joins:
            carol = Group.join(
                staged.welcome, bundle, net.signer("carol"), now=NOW + 100 * DAY, config=config
            )
            assert len(carol.members()) == 3
        else:
            with pytest.raises(LeafValidationError) as exc:
                Group.join(staged.welcome, bundle, net.signer("carol"), now=NOW + 100 * DAY, config=config)
            assert exc.value.check == "lifetime"


def test_a_welcome_whose_group_info_repeats_an_extension_type_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = three(CHECKED)
    bundle = net.key_package("carol")
    real = welcome_module.group_info_extensions

    def doubled(tree_nodes, external_pub):  # type: ignore[no-untyped-def]
        out = real(tree_nodes, external_pub)
        return (*out, Extension(0xFF7F, b"one"), Extension(0xFF7F, b"two"))

    monkeypatch.setattr(welcome_module, "group_info_extensions", doubled)  # the sender's engine, not ours
    staged = net["alice"].commit(rng=net.rng, now=NOW, add=[bundle.key_package])
    monkeypatch.undo()
    assert staged.welcome is not None
    with pytest.raises(WelcomeError, match="GroupInfo has extension type 0xff7f twice"):
        Group.join(staged.welcome, bundle, net.signer("carol"), now=NOW)


def test_a_welcome_whose_group_context_repeats_an_extension_type_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a sender whose engine lets it create such a group (ours refuses: InvalidArgument)
    net = InMemoryGroup(3, seed=9, now=NOW)
    twice = (Extension(0xFF7E, b"what alice reads"), Extension(0xFF7E, b"what another client reads"))
    with pytest.raises(InvalidArgument):
        net.create("alice", extensions=twice)
    monkeypatch.setattr("pyxmtp.mls.group.create.check_group_context_extensions", lambda *a: None)
    net.create("alice", extensions=twice)
    monkeypatch.undo()
    bundle = net.key_package("bob")
    staged = net["alice"].commit(rng=net.rng, now=NOW, add=[bundle.key_package])
    assert staged.welcome is not None
    with pytest.raises(WelcomeError, match="GroupContext has extension type 0xff7e twice"):
        Group.join(staged.welcome, bundle, net.signer("bob"), now=NOW)


# --- the proposal store --------------------------------------------------------------------------------------
def test_proposals_by_reference_are_bounded_in_count_and_the_refusal_changes_nothing() -> None:
    net = three(CHECKED)
    alice, bob = net["alice"], net["bob"]

    def remove_bob(n: int, group: Group = alice) -> bytes:  # distinct proposals (the same one is cached once)
        return group.propose(
            Proposal(Remove(1)), rng=net.rng, now=NOW, authenticated_data=n.to_bytes(4, "big")
        )

    messages = [remove_bob(n) for n in range(store_module.MAX_CACHED_PROPOSALS)]
    with pytest.raises(InvalidArgument, match="proposals by reference are cached"):
        remove_bob(-1 % 2**32)  # our own: a caller's error
    for data in messages:
        bob.process(data, now=NOW)
    assert len(bob.pending_proposals) == store_module.MAX_CACHED_PROPOSALS
    # a member with another engine sends one more: refused, and its key is not used up
    alice_copy = Group.from_bytes(alice.to_bytes())
    _forget_proposals(alice_copy)
    one_more = remove_bob(2**31, alice_copy)
    before = bob.to_bytes()
    with pytest.raises(ProposalStoreFull):
        bob.process(one_more, now=NOW)
    assert bob.to_bytes() == before
    # the next commit empties the store: proposals are taken again
    net.deliver("alice", _commit_only(alice, net))
    assert bob.pending_proposals == ()
    bob.process(net["alice"].propose(Proposal(Remove(1)), rng=net.rng, now=NOW), now=NOW)
    assert len(bob.pending_proposals) == 1


def test_proposals_by_reference_are_bounded_in_bytes() -> None:
    net = three(CHECKED)
    alice, bob = net["alice"], net["bob"]
    big = Extension(0xFF7D, bytes(300_000))
    proposal = Proposal(GroupContextExtensions((*alice.extensions, big)))
    fits = store_module.MAX_CACHED_PROPOSAL_BYTES // store_module.proposal_size(proposal)
    for n in range(fits + 1):
        data = alice.propose(proposal, rng=net.rng, now=NOW, authenticated_data=bytes([n]))
        if n < fits:
            bob.process(data, now=NOW)
        _forget_proposals(alice)
    before = bob.to_bytes()
    with pytest.raises(ProposalStoreFull, match="does not fit"):
        bob.process(data, now=NOW)
    assert bob.to_bytes() == before
    bob.process(alice.propose(Proposal(Remove(1)), rng=net.rng, now=NOW), now=NOW)  # a small one still fits
    assert len(bob.to_bytes()) < store_module.MAX_CACHED_PROPOSAL_BYTES + 100_000


def _forget_proposals(group: Group) -> None:
    """An attacker's engine that keeps no proposals of its own (so ours never stops it sending)."""
    group._state.proposals.clear()


def _commit_only(group: Group, net: InMemoryGroup) -> bytes:
    staged = group.commit(rng=net.rng, now=NOW, by_reference=False, force_path=True)
    group.merge_pending_commit()
    assert staged.message is not None
    return staged.message


def test_a_refused_add_is_a_remote_error_naming_the_check() -> None:
    net = three(CHECKED)
    old = create_key_package(
        3, net.signer("carol"), net.credential("carol"), rng=net.rng, now=NOW - 200 * DAY
    )
    staged = _commit_at(net, old.key_package, NOW - 200 * DAY)
    with pytest.raises(RemoteMLSError, match="expired"):
        net["bob"].process(staged, now=NOW)
    assert replace(CHECKED, check_received_lifetimes=False) == CHECKS_OFF
