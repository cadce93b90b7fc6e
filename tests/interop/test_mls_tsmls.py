"""RFC 9420 interop between pyxmtp's MLS core and ts-mls 1.6.4 (an independent implementation).

Both implementations sit behind the same op surface (tests/interop/members.py); every test checks, after each
epoch change, that all members report the same epoch, epoch_authenticator, MLS-Exporter outputs, tree hash,
ratchet tree and member list.
"""

from __future__ import annotations

import pytest

from pyxmtp.mls.errors import DecodeError, MLSError
from pyxmtp.mls.group.errors import WireFormatError
from pyxmtp.mls.tree.nodes import decode_ratchet_tree
from tests.interop.members import (
    WIRE_PRIVATE,
    WIRE_PUBLIC,
    Member,
    RpcPeer,
    assert_agree,
    deliver_commit,
    exchange,
    wire_format,
)
from tests.interop.pyxmtp_peer import PyxmtpPeer
from tests.interop.tsmls_peer import HarnessError, TsMlsHarness

pytestmark = pytest.mark.interop

PEERS = ("pyxmtp", "ts-mls")
PAIRS = [(c, j) for c in PEERS for j in PEERS]
CROSS = [("pyxmtp", "ts-mls"), ("ts-mls", "pyxmtp")]
# (suite, public handshakes, ratchet tree in the Welcome)
SETUPS = [
    pytest.param(3, False, True, id="s3-private-treeext"),
    pytest.param(3, False, False, id="s3-private-treeoob"),
    pytest.param(3, True, True, id="s3-public-treeext"),
    pytest.param(3, True, False, id="s3-public-treeoob"),
    pytest.param(1, False, True, id="s1-private-treeext"),
    pytest.param(1, True, False, id="s1-public-treeoob"),
]


@pytest.fixture
def peers(tsmls: TsMlsHarness) -> dict[str, RpcPeer]:
    return {"pyxmtp": PyxmtpPeer(), "ts-mls": tsmls}


def _member(peers: dict[str, RpcPeer], peer: str, name: bytes, suite: int = 3) -> Member:
    return Member.new(peers[peer], peer, name, suite)


def _handshake(message: bytes, public: bool) -> bytes:
    """`message`, after checking that its framing follows the group's policy."""
    want = WIRE_PUBLIC if public else WIRE_PRIVATE
    assert wire_format(message) == want, f"handshake sent as wire format {wire_format(message)}, want {want}"
    return message


def _join(joiner: Member, welcome: bytes, tree_in_welcome: bool, source: Member, public: bool) -> None:
    if tree_in_welcome:
        joiner.join(welcome, public_handshakes=public)
        return
    with pytest.raises((HarnessError, MLSError)):
        joiner.join(welcome, public_handshakes=public)  # the tree is not in the Welcome
    joiner.join(welcome, source.snapshot().ratchet_tree, public_handshakes=public)


def test_tsmls_harness_sanity(tsmls: TsMlsHarness) -> None:
    """The harness alone: two ts-mls clients through create, add, join, messages, commits, remove, external
    join; they agree with each other after every epoch."""
    a = _member({"ts-mls": tsmls}, "ts-mls", b"alice")
    b = _member({"ts-mls": tsmls}, "ts-mls", b"bob")
    a.create_group(b"sanity")
    commit, welcome = a.add(b.key_package())
    assert (wire_format(commit), wire_format(welcome)) == (WIRE_PRIVATE, 3)
    b.join(welcome)
    assert_agree(a, b, epoch=1)
    exchange(a, b, text=b"hello bob")
    exchange(b, a, text=b"hello alice")
    deliver_commit(b.commit(), a)
    assert_agree(a, b, epoch=2)
    deliver_commit(a.commit(), b)
    assert_agree(a, b, epoch=3)
    c = _member({"ts-mls": tsmls}, "ts-mls", b"carol")
    commit, welcome = a.add(c.key_package(), tree_in_welcome=False)
    deliver_commit(commit, b)
    _join(c, welcome, False, a, False)
    assert_agree(a, b, c, epoch=4)
    removal = b.remove(b.leaf_of(c))
    deliver_commit(removal, a)
    assert c.process(removal).active is False
    assert_agree(a, b, epoch=5)
    d = _member({"ts-mls": tsmls}, "ts-mls", b"dave")
    deliver_commit(d.external_join(a.group_info()), a, b)
    assert_agree(a, b, d, epoch=6)
    exchange(d, a, b, text=b"joined from outside")


@pytest.mark.parametrize(("creator", "joiner"), PAIRS)
@pytest.mark.parametrize(("suite", "public", "tree_in_welcome"), SETUPS)
def test_group_lifecycle(
    peers: dict[str, RpcPeer], creator: str, joiner: str, suite: int, public: bool, tree_in_welcome: bool
) -> None:
    """Add -> Welcome -> join, messages both ways, a path commit from each side, a third member (on the other
    implementation when creator and joiner coincide) added by the creator and removed by the joiner."""
    third = joiner if creator != joiner else next(p for p in PEERS if p != creator)
    a = _member(peers, creator, b"alice", suite)
    b = _member(peers, joiner, b"bob", suite)
    c = _member(peers, third, b"carol", suite)
    a.create_group(
        f"life-{creator}-{joiner}-{suite}-{public}-{tree_in_welcome}".encode(), public_handshakes=public
    )
    assert_agree(a, epoch=0)

    commit, welcome = a.add(b.key_package(), tree_in_welcome=tree_in_welcome)
    _handshake(commit, public)
    _join(b, welcome, tree_in_welcome, a, public)
    assert_agree(a, b, epoch=1)
    exchange(a, b, text=b"hello from the creator")
    exchange(b, a, text=b"hello from the joiner")
    exchange(b, a, text=b"a second one, next generation")

    deliver_commit(_handshake(b.commit(), public), a)
    assert_agree(a, b, epoch=2)
    deliver_commit(_handshake(a.commit(), public), b)
    assert_agree(a, b, epoch=3)
    exchange(a, b, text=b"after both path commits")

    commit, welcome = a.add(c.key_package(), tree_in_welcome=tree_in_welcome)
    deliver_commit(_handshake(commit, public), b)
    _join(c, welcome, tree_in_welcome, a, public)
    assert_agree(a, b, c, epoch=4)
    exchange(c, a, b, text=b"carol here")

    removal = _handshake(b.remove(b.leaf_of(c)), public)
    deliver_commit(removal, a)
    gone = c.process(removal)
    assert (gone.kind, gone.active) == ("commit", False), f"{c} on its own removal: {gone}"
    assert_agree(a, b, epoch=5)
    assert [ident for _, ident in a.snapshot().members] == [b"alice", b"bob"]
    exchange(a, b, text=b"just the two of us again")
    exchange(b, a, text=b"indeed")


@pytest.mark.parametrize(("proposer", "committer"), CROSS)
@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_remove_proposal_by_reference(
    peers: dict[str, RpcPeer], proposer: str, committer: str, public: bool
) -> None:
    """Two members added in one commit; a Remove proposal sent on its own by one implementation is committed
    by reference by the other."""
    p = _member(peers, proposer, b"proposer")
    q = _member(peers, committer, b"committer")
    r = _member(peers, committer, b"removed")
    p.create_group(f"byref-{proposer}-{public}".encode(), public_handshakes=public)
    _, welcome = p.add(q.key_package(), r.key_package())
    q.join(welcome, public_handshakes=public)
    r.join(welcome, public_handshakes=public)
    assert_agree(p, q, r, epoch=1)

    proposal = _handshake(p.propose("propose_remove", leaf=p.leaf_of(r)), public)
    for m in (q, r):
        assert m.process(proposal).kind == "proposal"
    commit = _handshake(q.commit(), public)
    deliver_commit(commit, p)
    assert r.process(commit).active is False
    assert_agree(p, q, epoch=2)
    assert [ident for _, ident in p.snapshot().members] == [b"proposer", b"committer"]
    exchange(q, p, text=b"removed by reference")


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_update_proposal_committed_by_tsmls(peers: dict[str, RpcPeer], public: bool) -> None:
    """pyxmtp proposes an Update of its leaf; ts-mls commits it by reference, encrypting the path to the new
    leaf key, which pyxmtp must have kept. (ts-mls 1.6.4 cannot build Update proposals, so one direction.)"""
    p = _member(peers, "pyxmtp", b"updater")
    t = _member(peers, "ts-mls", b"committer")
    t.create_group(f"update-{public}".encode(), public_handshakes=public)
    _, welcome = t.add(p.key_package())
    p.join(welcome, public_handshakes=public)
    old_key = p.snapshot()
    assert t.process(_handshake(p.propose("propose_update"), public)).kind == "proposal"
    deliver_commit(_handshake(t.commit(), public), p)
    new = assert_agree(p, t, epoch=2)
    assert new.ratchet_tree != old_key.ratchet_tree
    exchange(t, p, text=b"after the update")
    deliver_commit(_handshake(t.commit(), public), p)
    assert_agree(p, t, epoch=3)


@pytest.mark.parametrize(("issuer", "joiner"), CROSS)
@pytest.mark.parametrize("tree_in_group_info", [True, False], ids=["treeext", "treeoob"])
def test_external_join(peers: dict[str, RpcPeer], issuer: str, joiner: str, tree_in_group_info: bool) -> None:
    """A newcomer joins by external commit from the other implementation's GroupInfo (RFC-form external_pub;
    see test_tsmls_native_external_pub_deviation)."""
    a = _member(peers, issuer, b"alice")
    b = _member(peers, joiner, b"bob")
    d = _member(peers, joiner, b"dave")
    a.create_group(f"external-{issuer}-{tree_in_group_info}".encode())
    _, welcome = a.add(b.key_package())
    b.join(welcome)
    exchange(a, b, text=b"before dave")
    group_info = a.group_info(with_tree=tree_in_group_info)
    tree = None if tree_in_group_info else a.snapshot().ratchet_tree
    if not tree_in_group_info:
        with pytest.raises((HarnessError, MLSError)):
            d.external_join(group_info)  # no tree anywhere
    commit = d.external_join(group_info, tree)
    assert wire_format(commit) == WIRE_PUBLIC  # external commits are always PublicMessages
    deliver_commit(commit, a, b)
    assert_agree(a, b, d, epoch=2)
    exchange(d, a, b, text=b"dave joined from outside")
    exchange(a, b, d, text=b"welcome dave")
    deliver_commit(d.commit(), a, b)
    assert_agree(a, b, d, epoch=3)


def _copath_keys_of_third_leaf(ratchet_tree: bytes) -> list[bytes]:
    """The HPKE keys a newcomer at leaf 2 of a two-member group encrypts its path to: node 1's resolution."""
    nodes = decode_ratchet_tree(ratchet_tree)
    parent = nodes[1] if len(nodes) > 1 else None
    resolution = [parent] if parent is not None else [n for n in nodes[0:3:2] if n is not None]
    return [n.value.encryption_key for n in resolution]


def test_external_join_when_a_tree_key_looks_length_prefixed(peers: dict[str, RpcPeer]) -> None:
    """A path key whose first byte reads as a varint length (0x1f before 31 bytes) is still a bare key: the
    harness's bridge for ts-mls's external_pub form must not strip it (it did, about one join in 256)."""
    for attempt in range(3000):
        a = _member(peers, "pyxmtp", b"alice")
        b = _member(peers, "pyxmtp", b"bob")
        a.create_group(b"prefix-lookalike-%d" % attempt)
        _, welcome = a.add(b.key_package())
        b.join(welcome)
        if any(k[0] == 0x1F for k in _copath_keys_of_third_leaf(a.snapshot().ratchet_tree)):
            break
    else:
        pytest.fail("no tree key starting with 0x1f in 3000 groups")
    d = _member(peers, "ts-mls", b"dave")
    commit = d.external_join(a.group_info(with_tree=True))
    deliver_commit(commit, a, b)
    assert_agree(a, b, d, epoch=2)


def test_tsmls_native_external_pub_deviation(peers: dict[str, RpcPeer]) -> None:
    """ts-mls 1.6.4 writes the external_pub extension as the bare key, without the `HPKEPublicKey<V>` length
    prefix of RFC 9420 12.4.3.2 (fixed upstream after 1.6.4, ts-mls PR #449). pyxmtp follows the RFC, so it
    rejects such a GroupInfo as malformed and ts-mls's native decoder rejects pyxmtp's. The harness bridges the
    two forms for the external-join tests; this test pins the deviation so an upgrade that fixes it shows."""
    t = _member(peers, "ts-mls", b"alice")
    p = _member(peers, "pyxmtp", b"bob")
    t.create_group(b"native-external-pub")
    with pytest.raises(DecodeError, match="ExternalPub"):
        p.external_join(t.group_info(external_pub_encoding="tsmls"))
    p.create_group(b"native-external-pub")
    with pytest.raises(HarnessError, match="public key"):
        t.external_join(p.group_info(), external_pub_encoding="tsmls")


@pytest.mark.parametrize(("sender", "receiver"), CROSS)
def test_wire_format_policy_refuses_other_framing(
    peers: dict[str, RpcPeer], sender: str, receiver: str
) -> None:
    """A member whose policy is PrivateMessage-only refuses a PublicMessage commit, and vice versa for
    pyxmtp; the refused commit leaves it in its epoch."""
    s = _member(peers, sender, b"sender")
    r = _member(peers, receiver, b"receiver")
    s.create_group(f"policy-{sender}".encode(), public_handshakes=True)
    _, welcome = s.add(r.key_package())
    r.join(welcome, public_handshakes=False)
    before = r.snapshot()
    commit = _handshake(s.commit(), public=True)
    if receiver == "pyxmtp":
        with pytest.raises(WireFormatError):
            r.process(commit)
        assert r.snapshot() == before
    else:
        # ts-mls has no wire-format policy: it accepts either framing. Only pyxmtp's side is enforced.
        assert r.process(commit).kind == "commit"


@pytest.mark.parametrize(("sender", "receiver"), CROSS)
def test_reordered_and_late_application_messages(
    peers: dict[str, RpcPeer], sender: str, receiver: str
) -> None:
    """Application messages decrypt out of generation order (a replay does not), and after the receiver moved
    to the next epoch (both implementations keep past epochs' message secrets)."""
    s = _member(peers, sender, b"sender")
    r = _member(peers, receiver, b"receiver")
    s.create_group(f"late-{sender}".encode())
    _, welcome = s.add(r.key_package())
    r.join(welcome)
    msgs = [s.protect(b"message %d" % i) for i in range(4)]
    for i in (3, 0, 2):
        got = r.process(msgs[i])
        assert (got.kind, got.data) == ("application", b"message %d" % i)
    with pytest.raises((HarnessError, MLSError)):
        r.process(msgs[3])  # a replay: its key is gone
    deliver_commit(r.commit(), s)
    assert_agree(s, r, epoch=2)
    got = r.process(msgs[1])  # generation 1 of epoch 1, now a past epoch for the receiver
    assert (got.kind, got.data) == ("application", b"message 1")
    exchange(s, r, text=b"current epoch again")


@pytest.mark.parametrize(("active", "passive"), CROSS)
def test_passive_client(peers: dict[str, RpcPeer], active: str, passive: str) -> None:
    """The passive side joins with a key package and private keys generated by the other implementation
    (Ed25519 seed exported from PKCS#8 on the ts-mls side), then follows a run of commits it takes no part in:
    an Add, four path commits from two members, a remove."""
    a = _member(peers, active, b"alice")
    b = _member(peers, active, b"bob")
    keys = b.key_package_with_private_keys()  # bob's; bob itself never joins on the active side
    observer = _member(peers, passive, b"bob")
    c = _member(peers, active, b"carol")
    a.create_group(f"passive-{active}".encode())
    _, welcome = a.add(keys["key_package"])
    observer.join(welcome, foreign_keys=keys)
    assert_agree(a, observer, epoch=1)
    commit, welcome = a.add(c.key_package())
    deliver_commit(commit, observer)
    c.join(welcome)
    assert_agree(a, c, observer, epoch=2)
    exchange(c, a, observer, text=b"carol to all")
    for author in (a, c, a, c):
        deliver_commit(author.commit(), *(m for m in (a, c, observer) if m is not author))
    assert_agree(a, c, observer, epoch=6)
    removal = c.remove(c.leaf_of(a))
    deliver_commit(removal, observer)
    assert a.process(removal).active is False
    assert_agree(c, observer, epoch=7)
    exchange(c, observer, text=b"only carol and the observer")


class _Scene:
    """A group with members on both implementations; every commit goes to every other current member."""

    def __init__(self, creator: Member, group_id: bytes) -> None:
        creator.create_group(group_id)
        self.members = [creator]

    def commit(self, author: Member, commit: bytes, leaving: tuple[Member, ...] = ()) -> None:
        for m in self.members:
            if m is author:
                continue
            got = m.process(commit)
            assert got.kind == "commit", f"{m} processed {author}'s commit as {got.kind}"
            assert got.active is (m not in leaving), f"{m}: active={got.active} after {author}'s commit"
        self.members = [m for m in self.members if m not in leaving]
        assert_agree(*self.members)

    def add(self, author: Member, *joiners: Member) -> None:
        commit, welcome = author.add(*(j.key_package() for j in joiners))
        self.commit(author, commit)
        for j in joiners:
            j.join(welcome)
        self.members += joiners
        assert_agree(*self.members)

    def remove(self, author: Member, *leaving: Member) -> None:
        self.commit(author, author.remove(*(author.leaf_of(m) for m in leaving)), leaving)

    def path(self, author: Member) -> None:
        self.commit(author, author.commit())


@pytest.mark.parametrize("creator", PEERS)
def test_mixed_group_tree_shapes(peers: dict[str, RpcPeer], creator: str) -> None:
    """Seven members alternating between the implementations: blank nodes, unmerged leaves, adds into blank
    leaves, truncation when the rightmost leaf goes, and commits from members on both sides."""
    other = next(p for p in PEERS if p != creator)
    m = [_member(peers, (creator, other)[i % 2], f"m{i}".encode()) for i in range(8)]
    s = _Scene(m[0], f"shapes-{creator}".encode())
    s.add(m[0], m[1], m[2], m[3])  # add-only commit: no path
    s.path(m[2])
    s.add(m[1], m[4], m[5])  # m4, m5 become unmerged leaves of the parents m2's path set
    exchange(m[5], *s.members[:5], text=b"m5 speaks")
    s.path(m[3])  # resolution includes unmerged leaves
    s.remove(m[1], m[2], m[5])  # m5 is the rightmost leaf: the tree shrinks
    assert m[0].snapshot().members[-1][1] == b"m4"
    s.add(m[4], m[6])  # fills leaf 2
    assert m[0].leaf_of(m[6]) == 2
    s.path(m[6])
    s.add(m[6], m[7])
    s.remove(m[7], m[0])  # the creator leaves; leaf 0 blank
    s.path(m[1])
    for sender in s.members:
        exchange(
            sender, *(x for x in s.members if x is not sender), text=b"final round from " + sender.identity
        )
