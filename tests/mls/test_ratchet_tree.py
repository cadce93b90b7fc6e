"""RatchetTree: shape changes (add/extend, update, remove/truncate), resolutions with unmerged leaves,
filtered direct paths, hash caching, indexes and copies."""

from __future__ import annotations

import random

import pytest

from pyxmtp.mls.crypto import get_suite
from pyxmtp.mls.errors import DecodeError, LocalMLSError, ValidationError
from pyxmtp.mls.tree.hashes import original_tree_hash
from pyxmtp.mls.tree.nodes import LeafNode, Node, ParentNode
from pyxmtp.mls.tree.ratchet_tree import RatchetTree
from pyxmtp.mls.tree.treekem import create_update_path
from tests.mls.test_tree_support import GROUP_ID, SimGroup, make_leaf

SUITE = get_suite(1)
RNG = random.Random(7)
SIGNER = SUITE.generate_signature_key(RNG.randbytes)


def leaf(tag: int) -> LeafNode:
    """A structurally valid leaf with distinct keys (signatures are not checked by these tests)."""
    signer = SUITE.generate_signature_key(random.Random(tag).randbytes)
    return make_leaf(SUITE, signer, bytes([tag]) * 32)


def parent(tag: int, unmerged: tuple[int, ...] = ()) -> ParentNode:
    return ParentNode(bytes([200 + tag]) * 32, b"", unmerged)


def fresh_hash(tree: RatchetTree) -> bytes:
    return RatchetTree.from_nodes(SUITE, tree.to_nodes()).tree_hash()


def test_add_fills_leftmost_blank_then_doubles() -> None:
    tree = RatchetTree.create(SUITE, leaf(1))
    assert tree.n_leaves == 1
    assert tree.add_leaf(leaf(2)) == 1
    assert tree.n_leaves == 2
    assert tree.add_leaf(leaf(3)) == 2
    assert tree.n_leaves == 4
    assert tree.add_leaf(leaf(4)) == 3
    assert tree.add_leaf(leaf(5)) == 4
    assert tree.n_leaves == 8
    tree.remove_leaf(1)
    assert tree.free_leaf_index() == 1
    assert tree.add_leaf(leaf(6)) == 1
    assert [i for i, _ in tree.members()] == [0, 1, 2, 3, 4]
    assert tree.member_count == 5


def test_add_marks_leaf_unmerged_at_non_blank_ancestors_only() -> None:
    nodes: list[Node | None] = [Node(leaf(1)), Node(parent(1)), Node(leaf(2)), Node(parent(3)), None]
    tree = RatchetTree.from_nodes(SUITE, nodes)
    assert tree.add_leaf(leaf(3)) == 2
    # node 5 (above leaves 2, 3) is blank and stays blank; the root 3 gets leaf 2 as unmerged
    assert tree.node(5) is None
    root = tree.parent_node(3)
    assert root is not None and root.unmerged_leaves == (2,)
    assert tree.resolution(3) == [3, 4]
    assert tree.resolution(5) == [4]
    assert tree.add_leaf(leaf(4)) == 3
    root = tree.parent_node(3)
    assert root is not None and root.unmerged_leaves == (2, 3)
    assert tree.resolution(5) == [4, 6]
    assert tree.resolution(3) == [3, 4, 6]
    assert tree.resolution(3, exclude_leaves=[3]) == [3, 4]


def test_update_replaces_leaf_and_blanks_direct_path() -> None:
    nodes: list[Node | None] = [Node(leaf(1)), Node(parent(1)), Node(leaf(2)), Node(parent(3)), Node(leaf(3))]
    tree = RatchetTree.from_nodes(SUITE, nodes)
    new = leaf(9)
    tree.update_leaf(0, new)
    assert tree.leaf(0) == new
    assert tree.node(1) is None and tree.node(3) is None
    assert tree.node_of_encryption_key(new.encryption_key) == 0
    assert tree.node_of_encryption_key(leaf(1).encryption_key) is None
    assert tree.node_of_encryption_key(parent(3).encryption_key) is None
    assert tree.tree_hash() == fresh_hash(tree)
    with pytest.raises(LocalMLSError):
        tree.update_leaf(3, leaf(10))  # blank leaf


def test_remove_truncates_only_blank_right_subtrees() -> None:
    tree = RatchetTree.create(SUITE, leaf(1))
    for tag in range(2, 6):
        tree.add_leaf(leaf(tag))
    assert tree.n_leaves == 8
    tree.remove_leaf(4)
    assert tree.n_leaves == 4
    assert tree.tree_hash() == fresh_hash(tree)
    tree.remove_leaf(1)
    assert tree.n_leaves == 4  # leaf 3 still holds the right subtree
    tree.remove_leaf(3)
    assert tree.n_leaves == 4  # leaf 2 is in the right half
    tree.remove_leaf(2)
    assert tree.n_leaves == 1
    assert tree.to_nodes() == [Node(leaf(1))]
    with pytest.raises(LocalMLSError):
        tree.remove_leaf(1)  # outside the truncated tree


def test_from_nodes_pads_and_rejects_misplaced_nodes() -> None:
    tree = RatchetTree.from_nodes(SUITE, [Node(leaf(1)), None, Node(leaf(2)), None, Node(leaf(3))])
    assert tree.n_leaves == 4 and tree.n_nodes == 7
    assert tree.to_nodes()[-1] == Node(leaf(3))
    with pytest.raises(ValidationError):
        RatchetTree.from_nodes(SUITE, [Node(parent(1))])
    with pytest.raises(ValidationError):
        RatchetTree.from_nodes(SUITE, [])
    with pytest.raises(DecodeError):  # the wire form must be truncated
        RatchetTree.from_bytes(SUITE, bytes.fromhex("0100"))


def test_filtered_direct_path_matches_rfc_example() -> None:
    # RFC 9420 4.1.2: leaves A B _ _ E F G _ with T, X, Y, W non-blank and U, V, Z blank
    values: dict[int, LeafNode | ParentNode] = {0: leaf(1), 2: leaf(2), 8: leaf(5), 10: leaf(6), 12: leaf(7)}
    values.update({1: parent(1), 9: parent(9), 11: parent(11), 7: parent(7)})
    nodes: list[Node | None] = [None] * 15
    for x, v in values.items():
        nodes[x] = Node(v)
    tree = RatchetTree.from_nodes(SUITE, nodes[:13])
    assert tree.direct_path(0) == [1, 3, 7]
    assert tree.copath(0) == [2, 5, 11]
    assert tree.filtered_direct_path(0) == [1, 7]  # T, W
    assert tree.filtered_direct_path(4) == [9, 11, 7]  # E: X, Y, W
    assert tree.filtered_direct_path(6) == [11, 7]  # G: Y, W
    assert tree.filtered_path(6) == [(11, 9), (7, 3)]
    assert tree.resolution(3) == [1]
    assert tree.resolution(13) == [12]


def test_hash_cache_matches_fresh_computation_through_random_changes() -> None:
    rng = random.Random(3)
    tree = RatchetTree.create(SUITE, leaf(1))
    tag = 2
    for _ in range(80):
        members = [i for i, _ in tree.members()]
        op = rng.random()
        if op < 0.5 or len(members) < 2:
            tree.add_leaf(leaf(tag))
        elif op < 0.8:
            tree.remove_leaf(rng.choice(members[1:]))
        else:
            tree.update_leaf(rng.choice(members), leaf(tag))
        tag = (tag % 190) + 2 if tag < 190 else 2
        if tree.node_of_encryption_key(bytes([tag]) * 32) is not None:
            tag = next(t for t in range(2, 191) if tree.node_of_encryption_key(bytes([t]) * 32) is None)
        assert tree.tree_hash() == fresh_hash(tree)
        expected_members = sum(1 for x in range(0, tree.n_nodes, 2) if tree.node(x) is not None)
        assert tree.member_count == expected_members
        for x in range(tree.n_nodes):
            value = tree.node(x)
            if value is not None:
                assert tree.node_of_encryption_key(value.encryption_key) == x


def test_copy_is_independent() -> None:
    tree = RatchetTree.create(SUITE, leaf(1))
    tree.add_leaf(leaf(2))
    before = tree.tree_hash()
    staged = tree.copy()
    staged.add_leaf(leaf(3))
    staged.remove_leaf(0)
    assert tree.tree_hash() == before
    assert tree.member_count == 2 and staged.member_count == 2
    assert tree.node_of_encryption_key(leaf(1).encryption_key) == 0
    assert staged.node_of_encryption_key(leaf(1).encryption_key) is None
    assert staged != tree


def test_find_leaf_and_signature_index() -> None:
    tree = RatchetTree.create(SUITE, leaf(1))
    second = leaf(2)
    tree.add_leaf(second)
    assert tree.find_leaf(second) == 1
    assert tree.leaf_index_of_signature_key(second.signature_key) == 1
    tree.remove_leaf(1)
    assert tree.find_leaf(second) is None
    assert tree.leaf_index_of_signature_key(second.signature_key) is None


def test_credential_counts_track_members() -> None:
    tree = RatchetTree.create(SUITE, leaf(1))
    tree.add_leaf(leaf(2))
    tree.add_leaf(leaf(3))
    used, supported, members = tree.credential_counts
    assert (used[1], supported[1], supported[2], members) == (3, 3, 0, 3)
    tree.remove_leaf(1)
    used, supported, members = tree.credential_counts
    assert (used[1], supported[1], members) == (2, 2, 2)


def test_original_tree_hash_blanks_unmerged_leaves() -> None:
    # a tree where leaf 2 is unmerged at the root: removing it must give the hash of the tree without it
    nodes: list[Node | None] = [Node(leaf(1)), Node(parent(1)), Node(leaf(2)), Node(parent(3)), None]
    tree = RatchetTree.from_nodes(SUITE, nodes)
    tree.add_leaf(leaf(3))
    without = RatchetTree.from_nodes(SUITE, nodes)
    assert original_tree_hash(tree, 5, [2]) == without.node_hash(5)
    assert original_tree_hash(tree, 3, [2]) == without.node_hash(3)
    assert original_tree_hash(tree, 1, [2]) == tree.node_hash(1)  # untouched subtree: the cached hash


def test_path_update_invalidates_only_the_path() -> None:
    group = SimGroup.create(SUITE, seed=5)
    group.commit(0, add=30)
    base = group.tree
    base.tree_hash()
    assert all(h is not None for h in base._hashes)  # every node hash cached
    sender_view = base.copy()
    created = create_update_path(
        sender_view,
        leaf_index=17,
        group_id=GROUP_ID,
        signer=group.members[17].signer,
        context_for=group.context_for(2),
        rng=random.Random(1).randbytes,
    )
    receiver_view = base.copy()
    keys = [n.encryption_key for n in created.update_path.nodes]
    receiver_view.install_path(17, keys)
    receiver_view.set_leaf(17, created.update_path.leaf_node)
    stale = [x for x in range(receiver_view.n_nodes) if receiver_view._hashes[x] is None]
    assert stale == sorted([34, *receiver_view.direct_path(17)])
    assert receiver_view.tree_hash() == created.tree_hash == fresh_hash(receiver_view)


def test_external_slot_extends_the_tree() -> None:
    tree = RatchetTree.create(SUITE, leaf(1))
    tree.add_leaf(leaf(2))
    assert tree.free_leaf_index() == 2
    tree.ensure_leaf_slot(2)
    assert tree.n_leaves == 4
    with pytest.raises(LocalMLSError):
        tree.ensure_leaf_slot(9)
