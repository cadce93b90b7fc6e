"""tree-operations.json: apply one Add, Update or Remove proposal to ``tree_before`` and compare the
serialized tree and the tree hashes before and after (RFC 9420 12.1.1-12.1.3, 7.7, 7.8)."""

from __future__ import annotations

from ..codec import decode
from ..crypto import get_suite
from ..messages.proposals import Add, Proposal, Remove, Update
from ..tree.ratchet_tree import RatchetTree
from . import Case, VectorMismatch, expect


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    tree = RatchetTree.from_bytes(suite, bytes.fromhex(case["tree_before"]))
    expect("tree_hash_before", tree.tree_hash(), bytes.fromhex(case["tree_hash_before"]))
    body = decode(Proposal, bytes.fromhex(case["proposal"])).body
    if isinstance(body, Add):
        tree.add_leaf(body.key_package.leaf_node)
    elif isinstance(body, Update):
        tree.update_leaf(case["proposal_sender"], body.leaf_node)
    elif isinstance(body, Remove):
        tree.remove_leaf(body.removed)
    else:
        raise VectorMismatch(f"proposal type {body.proposal_type} is not add, update or remove")
    expect("tree_after", tree.to_bytes(), bytes.fromhex(case["tree_after"]))
    expect("tree_hash_after", tree.tree_hash(), bytes.fromhex(case["tree_hash_after"]))
    # the hashes cached through the change must equal a fresh computation
    fresh = RatchetTree.from_bytes(suite, tree.to_bytes())
    expect("tree_hash_after (recomputed)", fresh.tree_hash(), tree.tree_hash())
