"""Tree hashes and parent hashes (RFC 9420 sections 7.8 and 7.9): the hash inputs and the one-node hashes.

::

    struct { uint32 leaf_index; optional<LeafNode> leaf_node; } LeafNodeHashInput;
    struct { optional<ParentNode> parent_node; opaque left_hash<V>; opaque right_hash<V>; } ParentNodeHashInput;
    struct {
        NodeType node_type;
        select (TreeHashInput.node_type) {
            case leaf:   LeafNodeHashInput leaf_node;
            case parent: ParentNodeHashInput parent_node;
        };
    } TreeHashInput;

    struct {
        HPKEPublicKey encryption_key;
        opaque parent_hash<V>;
        opaque original_sibling_tree_hash<V>;
    } ParentHashInput;

The one-node functions hash a single node; :class:`~pyxmtp.mls.tree.ratchet_tree.RatchetTree` caches the
per-node tree hashes and recomputes only the nodes on changed paths. :func:`original_tree_hash` and
:func:`parent_hash_of` compute parent hashes of nodes already in a tree (verification, section 7.9.2);
:meth:`RatchetTree.install_path <pyxmtp.mls.tree.ratchet_tree.RatchetTree.install_path>` computes those of a
new path.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from ..codec import Writer, encode_varint
from ..crypto.suite import CipherSuite
from ..errors import LocalMLSError
from .nodes import LeafNode, ParentNode

if TYPE_CHECKING:
    from .ratchet_tree import RatchetTree

_LEAF_TAG = b"\x01"
_PARENT_TAG = b"\x02"


def _opaque(data: bytes) -> bytes:
    return encode_varint(len(data)) + data


def leaf_hash_input(leaf_index: int, leaf: LeafNode | None) -> bytes:
    """``TreeHashInput`` bytes of leaf ``leaf_index`` (blank when ``leaf`` is None)."""
    head = _LEAF_TAG + leaf_index.to_bytes(4, "big")
    if leaf is None:
        return head + b"\x00"
    w = Writer()
    leaf.encode(w)
    return head + b"\x01" + w.getvalue()


def parent_hash_input_for_tree(parent: ParentNode | None, left_hash: bytes, right_hash: bytes) -> bytes:
    """``TreeHashInput`` bytes of a parent node (blank when ``parent`` is None)."""
    if parent is None:
        body = b"\x00"
    else:
        w = Writer()
        w.u8(1)
        parent.encode(w)
        body = w.getvalue()
    return _PARENT_TAG + body + _opaque(left_hash) + _opaque(right_hash)


def leaf_tree_hash(suite: CipherSuite, leaf_index: int, leaf: LeafNode | None) -> bytes:
    """Tree hash of a leaf node."""
    return suite.hash(leaf_hash_input(leaf_index, leaf))


def parent_tree_hash(
    suite: CipherSuite, parent: ParentNode | None, left_hash: bytes, right_hash: bytes
) -> bytes:
    """Tree hash of a parent node from its children's tree hashes."""
    return suite.hash(parent_hash_input_for_tree(parent, left_hash, right_hash))


def parent_hash(
    suite: CipherSuite, encryption_key: bytes, parent_parent_hash: bytes, original_sibling_tree_hash: bytes
) -> bytes:
    """``Hash(ParentHashInput)``: the parent hash of a node P with public key ``encryption_key`` and
    ``parent_hash`` field ``parent_parent_hash``, relative to its copath child whose (original) tree hash is
    ``original_sibling_tree_hash``."""
    return suite.hash(
        _opaque(encryption_key) + _opaque(parent_parent_hash) + _opaque(original_sibling_tree_hash)
    )


def without_leaves(parent: ParentNode, removed: Iterable[int]) -> ParentNode:
    """``parent`` with the leaf indices in ``removed`` dropped from its unmerged leaves."""
    drop = set(removed)
    kept = tuple(i for i in parent.unmerged_leaves if i not in drop)
    if len(kept) == len(parent.unmerged_leaves):
        return parent
    return ParentNode(parent.encryption_key, parent.parent_hash, kept)


def original_tree_hash(tree: RatchetTree, x: int, removed_leaves: Collection[int]) -> bytes:
    """Tree hash of node ``x`` of ``tree`` with the leaves ``removed_leaves`` blanked and dropped from every
    ``unmerged_leaves`` list (the ``original_sibling_tree_hash`` of RFC 9420 7.9). Cached hashes are reused
    for every subtree holding none of them, so the cost is O(len(removed_leaves) * log n)."""
    k = ((~x) & (x + 1)).bit_length() - 1  # level of x
    lo = (x + 1 - (1 << k)) >> 1
    hi = lo + (1 << k)
    inside = [i for i in removed_leaves if lo <= i < hi]
    if not inside:
        return tree.node_hash(x)
    if x % 2 == 0:
        return leaf_tree_hash(tree.suite, x >> 1, None)
    value = tree.parent_node(x)
    if value is not None:
        value = without_leaves(value, inside)
    half = (hi - lo) // 2
    left = original_tree_hash(tree, x - half, inside)
    right = original_tree_hash(tree, x + half, inside)
    return parent_tree_hash(tree.suite, value, left, right)


def parent_hash_of(tree: RatchetTree, p: int, copath_child: int) -> bytes:
    """The parent hash of the non-blank parent ``p`` of ``tree`` with copath child ``copath_child``: its key,
    its ``parent_hash`` field and the original tree hash of ``copath_child`` without ``p``'s unmerged leaves."""
    value = tree.parent_node(p)
    if value is None:
        raise LocalMLSError(f"node {p} is blank: it has no parent hash")
    sibling_hash = original_tree_hash(tree, copath_child, value.unmerged_leaves)
    return parent_hash(tree.suite, value.encryption_key, value.parent_hash, sibling_hash)
