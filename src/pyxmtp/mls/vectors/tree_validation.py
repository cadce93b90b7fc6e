"""tree-validation.json: per-node tree hashes and resolutions, then full join-time validation of the tree
(parent hashes, unmerged leaves, key uniqueness, every leaf's signature with the given group id).

The vector gives no GroupContext, so leaves are checked against protocol version mls10, the case's cipher
suite and no required capabilities; the tree hash is compared node by node instead of against a GroupInfo.
"""

from __future__ import annotations

from ..crypto import get_suite
from ..tree.leaf_validation import LeafRules
from ..tree.ratchet_tree import RatchetTree
from ..tree.validation import validate_tree
from . import Case, expect


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    tree = RatchetTree.from_bytes(suite, bytes.fromhex(case["tree"]))
    expect("n_nodes", tree.n_nodes, len(case["tree_hashes"]))
    for x, want in enumerate(case["tree_hashes"]):
        expect(f"tree_hashes[{x}]", tree.node_hash(x), bytes.fromhex(want))
    for x, want in enumerate(case["resolutions"]):
        expect(f"resolutions[{x}]", tree.resolution(x), want)
    validate_tree(tree, LeafRules(bytes.fromhex(case["group_id"])), tree_hash=tree.tree_hash())
