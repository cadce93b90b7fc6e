"""Secret tree and sender ratchets (RFC 9420 section 9): derivation, windows, two-phase consumption, deletion,
persistence."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxmtp.mls.crypto import derive_tree_secret, expand_with_label, get_suite
from pyxmtp.mls.errors import DecodeError, LocalMLSError, MissingKeyError, StateError, ValidationError
from pyxmtp.mls.tree.secret_tree import (
    DEFAULT_RATCHET_CONFIG,
    RatchetConfig,
    RatchetType,
    SecretTree,
    TooDistantInFutureError,
)

SUITE = get_suite(3)
SECRET = bytes(range(32))
HS = RatchetType.handshake
APP = RatchetType.application


def tree(n_leaves: int = 4, config: RatchetConfig = DEFAULT_RATCHET_CONFIG) -> SecretTree:
    return SecretTree(SUITE, SECRET, n_leaves, config)


def sent_keys(leaf: int, rtype: RatchetType, count: int, n_leaves: int = 4) -> list[tuple[bytes, bytes]]:
    sender = tree(n_leaves)
    out = []
    for g in range(count):
        generation, key, nonce = sender.next_key(leaf, rtype)
        assert generation == g
        out.append((key, nonce))
    return out


def test_keys_follow_the_rfc_derivation() -> None:
    """Leaf 1 of a 2-leaf tree: right child of the root, then the application ratchet chain."""
    leaf_secret = expand_with_label(SUITE, SECRET, "tree", b"right", 32)
    ratchet = expand_with_label(SUITE, leaf_secret, "application", b"", 32)
    want = []
    for g in range(3):
        want.append(
            (
                derive_tree_secret(SUITE, ratchet, "key", g, 32),
                derive_tree_secret(SUITE, ratchet, "nonce", g, 12),
            )
        )
        ratchet = derive_tree_secret(SUITE, ratchet, "secret", g, 32)
    assert sent_keys(1, APP, 3, n_leaves=2) == want


def test_receiver_in_order_matches_sender_and_ratchets_are_independent() -> None:
    want_app = sent_keys(2, APP, 4)
    want_hs = sent_keys(2, HS, 4)
    assert want_app[0] != want_hs[0]
    receiver = tree()
    for g in range(4):
        assert receiver.consume(2, APP, g) == want_app[g]
        assert receiver.consume(2, HS, g) == want_hs[g]
    assert sent_keys(1, APP, 1)[0] != want_app[0]


def test_out_of_order_within_tolerance() -> None:
    want = sent_keys(0, APP, 10)
    receiver = tree()  # tolerance 5
    assert receiver.consume(0, APP, 9) == want[9]
    for g in (7, 5, 8, 6):  # skipped keys inside the window [5, 10) are kept, in any order
        assert receiver.consume(0, APP, g) == want[g]
    with pytest.raises(MissingKeyError, match="outside the out-of-order window"):
        receiver.stage(0, APP, 4)


def test_window_slides_and_old_skipped_keys_are_deleted() -> None:
    want = sent_keys(0, APP, 20)
    receiver = tree(config=RatchetConfig(out_of_order_tolerance=3))
    # the window is the 3 generations ending at the newest one received (as in OpenMLS)
    receiver.consume(0, APP, 5)  # window [3, 6): keeps 3, 4
    with pytest.raises(MissingKeyError):
        receiver.stage(0, APP, 2)
    receiver.consume(0, APP, 6)  # window [4, 7): 3 falls out
    with pytest.raises(MissingKeyError):
        receiver.stage(0, APP, 3)
    assert receiver.consume(0, APP, 4) == want[4]
    receiver.consume(0, APP, 15)
    for g in (13, 14):
        assert receiver.consume(0, APP, g) == want[g]
    with pytest.raises(MissingKeyError):
        receiver.stage(0, APP, 12)


def test_zero_tolerance_keeps_nothing() -> None:
    receiver = tree(config=RatchetConfig(out_of_order_tolerance=0))
    receiver.consume(0, APP, 3)
    for g in range(3):
        with pytest.raises(MissingKeyError):
            receiver.stage(0, APP, g)


def test_maximum_forward_distance() -> None:
    receiver = tree(config=RatchetConfig(maximum_forward_distance=10))
    with pytest.raises(TooDistantInFutureError):
        receiver.stage(1, APP, 11)
    receiver.consume(1, APP, 10)  # exactly the distance is fine
    with pytest.raises(TooDistantInFutureError):
        receiver.stage(1, APP, 22)
    assert receiver.stage(1, APP, 21).generation == 21


def test_default_forward_distance_is_1000() -> None:
    receiver = tree()
    with pytest.raises(TooDistantInFutureError):
        receiver.stage(0, HS, 1001)
    receiver.stage(0, HS, 1000)


def test_replay_of_a_consumed_generation() -> None:
    receiver = tree()
    receiver.consume(3, HS, 0)
    with pytest.raises(MissingKeyError, match="already used"):
        receiver.stage(3, HS, 0)
    receiver.consume(3, HS, 2)
    receiver.consume(3, HS, 1)  # skipped, then used
    with pytest.raises(MissingKeyError):
        receiver.stage(3, HS, 1)


def test_stage_without_commit_changes_nothing() -> None:
    receiver = tree(8)
    receiver.consume(5, APP, 2)
    before = receiver.to_bytes()
    for leaf, rtype, g in ((5, APP, 0), (5, APP, 3), (5, APP, 40), (5, HS, 0), (6, APP, 7), (0, HS, 0)):
        staged = receiver.stage(leaf, rtype, g)
        assert staged.key and staged.nonce
    assert receiver.to_bytes() == before
    # staging the same key again gives the same key
    assert receiver.stage(6, APP, 7).key == receiver.stage(6, APP, 7).key


def test_commit_consumes_and_clears_the_staged_key() -> None:
    receiver = tree()
    staged = receiver.stage(1, APP, 0)
    key = staged.key
    staged.commit()
    assert staged.key == b"" and staged.nonce == b""
    assert key not in receiver.to_bytes()
    with pytest.raises(StateError):
        staged.commit()


def test_stale_staged_key_is_refused() -> None:
    receiver = tree()
    first = receiver.stage(1, APP, 0)
    second = receiver.stage(1, APP, 1)
    first.commit()
    with pytest.raises(StateError, match="stage it again"):
        second.commit()
    receiver.stage(1, APP, 1).commit()
    # an underived leaf staged twice: the first commit derives it, the second is stale
    a, b = receiver.stage(2, HS, 0), receiver.stage(2, APP, 0)
    a.commit()
    with pytest.raises(StateError):
        b.commit()
    with pytest.raises(LocalMLSError):
        tree()._commit(receiver.stage(3, HS, 0))


def test_lazy_derivation_and_deletion_of_tree_secrets() -> None:
    t = tree(4)  # nodes 0..6, root 3
    assert t.stored_nodes == (3,)
    t.next_key(0, APP)  # derives root -> 1, 5; 1 -> 0, 2
    assert t.stored_nodes == (2, 5)
    assert t.derived_leaves(HS) == t.derived_leaves(APP) == (0,)
    t.stage(3, APP, 0)  # staging derives nothing
    assert t.stored_nodes == (2, 5)
    t.consume(3, APP, 0)  # 5 -> 4, 6
    assert t.stored_nodes == (2, 4)
    t.consume(1, HS, 0)
    t.consume(2, HS, 0)
    assert t.stored_nodes == ()
    blob = t.to_bytes()
    assert SECRET not in blob
    left = expand_with_label(SUITE, SECRET, "tree", b"left", 32)
    assert left not in blob


def test_used_key_and_chain_secret_are_not_in_the_serialisation() -> None:
    receiver = tree()
    sender = tree()
    _, key0, nonce0 = sender.next_key(0, APP)
    assert key0 not in sender.to_bytes()
    assert receiver.consume(0, APP, 0) == (key0, nonce0)
    blob = receiver.to_bytes()
    assert key0 not in blob and nonce0 not in blob
    # the skipped key of generation 1 is kept until used, then gone
    receiver.consume(0, APP, 2)
    key1 = sent_keys(0, APP, 2)[1][0]
    assert key1 in receiver.to_bytes()
    receiver.consume(0, APP, 1)
    assert key1 not in receiver.to_bytes()


def test_persistence_round_trip_keeps_behaviour() -> None:
    want = sent_keys(2, APP, 12, n_leaves=8)
    receiver = SecretTree(SUITE, SECRET, 8, RatchetConfig(4, 50))
    receiver.consume(2, APP, 10)
    restored = SecretTree.from_bytes(receiver.to_bytes())
    assert restored.to_bytes() == receiver.to_bytes()
    assert restored.config == RatchetConfig(4, 50)
    assert restored.n_leaves == 8 and restored.suite is SUITE
    assert restored.consume(2, APP, 8) == want[8]
    assert restored.consume(2, APP, 11) == want[11]
    with pytest.raises(MissingKeyError):
        restored.stage(2, APP, 10)
    assert restored.next_generation(2, APP) == 12


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],
        lambda b: b + b"\x00",
        lambda b: b[:2] + (3).to_bytes(4, "big") + b[6:],  # n_leaves not a power of two
        lambda b: b"\x00\x09" + b[2:],  # unknown suite
    ],
)
def test_from_bytes_rejects_malformed_state(mutate: object) -> None:
    t = tree()
    t.consume(0, APP, 3)
    assert callable(mutate)
    with pytest.raises(DecodeError):
        SecretTree.from_bytes(mutate(t.to_bytes()))


def test_from_bytes_rejects_a_node_outside_the_tree() -> None:
    t = tree(2)
    blob = bytearray(t.to_bytes())
    # header: suite(2) n_leaves(4) tolerance(4) distance(4), nodes vector length(1), node index(4)
    blob[15:19] = (9).to_bytes(4, "big")
    with pytest.raises(DecodeError, match="node"):
        SecretTree.from_bytes(bytes(blob))


def test_argument_checks() -> None:
    with pytest.raises(LocalMLSError):
        SecretTree(SUITE, SECRET, 3)
    with pytest.raises(LocalMLSError):
        SecretTree(SUITE, SECRET[:16], 4)
    with pytest.raises(LocalMLSError):
        RatchetConfig(-1)
    t = tree(4)
    with pytest.raises(ValidationError):
        t.stage(4, APP, 0)
    with pytest.raises(ValidationError):
        t.next_key(4, APP)
    assert RatchetType.for_content(1) is APP  # ContentType.application
    assert RatchetType.for_content(2) is HS and RatchetType.for_content(3) is HS


def test_single_leaf_tree() -> None:
    t = SecretTree(SUITE, SECRET, 1)
    assert t.stored_nodes == (0,)
    g, key, _ = t.next_key(0, HS)
    assert g == 0 and t.stored_nodes == ()
    assert tree(1).consume(0, HS, 0)[0] == key


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=40), st.integers(0, 6))
def test_receiving_matches_a_window_model(deliveries: list[int], tolerance: int) -> None:
    """Any delivery order: a generation decrypts (with the sender's key) iff it is unused and not older than
    the window behind the highest generation seen; otherwise MissingKeyError and the state is unchanged."""
    want = sent_keys(1, HS, 31)
    receiver = tree(config=RatchetConfig(tolerance, 1000))
    used: set[int] = set()
    head = 0
    for g in deliveries:
        ok = g not in used and (g >= head or g + tolerance >= head)
        before = receiver.to_bytes()
        if ok:
            assert receiver.consume(1, HS, g) == want[g]
            used.add(g)
            head = max(head, g + 1)
        else:
            with pytest.raises(MissingKeyError):
                receiver.stage(1, HS, g)
            assert receiver.to_bytes() == before


def test_random_sender_receiver_agreement() -> None:
    rng = random.Random(7)
    sender, receiver = tree(8), tree(8)
    for _ in range(200):
        leaf, rtype = rng.randrange(8), rng.choice((HS, APP))
        g, key, nonce = sender.next_key(leaf, rtype)
        assert receiver.consume(leaf, rtype, g) == (key, nonce)
