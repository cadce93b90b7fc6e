"""treekem.json: UpdatePath processing and creation (RFC 9420 7.4-7.6; test-vectors.md "TreeKEM").

Per case: build each listed member's private state (leaf key, node keys from the given path secrets) and
check it matches the tree. For each update path: merge it publicly (leaf parent hash, resulting tree hash,
parent-hash validity of the whole merged tree), then let every other listed member process it on its own
copy of the tree and compare the path secret at the common ancestor, the commit secret and the tree hash.
Then encapsulation: every listed member creates its own UpdatePath (seeded randomness), and every other
listed member must process it to the same commit secret, path secret and tree.

The provisional GroupContext: version mls10, the case's suite, group id, epoch and confirmed transcript hash,
the tree hash after the path, no extensions.
"""

from __future__ import annotations

import random

from ..codec import decode, encode
from ..crypto import get_suite
from ..crypto.keys import SignaturePrivateKey
from ..crypto.suite import CipherSuite
from ..messages.commit import UpdatePath
from ..messages.group_info import GroupContext
from ..tree.private import TreePrivateState
from ..tree.ratchet_tree import RatchetTree
from ..tree.treekem import ContextFor, apply_update_path, create_update_path, derive_node_key
from ..tree.validation import verify_parent_hashes
from . import Case, expect


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _context_for(case: Case) -> ContextFor:
    suite_id = case["cipher_suite"]
    group_id = _h(case["group_id"])
    epoch = case["epoch"]
    transcript = _h(case["confirmed_transcript_hash"])

    def context_for(tree_hash: bytes) -> bytes:
        return encode(GroupContext(1, suite_id, group_id, epoch, tree_hash, transcript, ()))

    return context_for


def _private_states(
    suite: CipherSuite, tree: RatchetTree, case: Case
) -> dict[int, tuple[TreePrivateState, SignaturePrivateKey]]:
    out: dict[int, tuple[TreePrivateState, SignaturePrivateKey]] = {}
    for entry in case["leaves_private"]:
        index = entry["index"]
        keys = {p["node"]: derive_node_key(suite, _h(p["path_secret"])) for p in entry["path_secrets"]}
        state = TreePrivateState(
            suite, index, suite.hpke_private_key_from_bytes(_h(entry["encryption_priv"])), keys
        )
        state.check_matches(tree)
        out[index] = (state, suite.signature_key_from_bytes(_h(entry["signature_priv"])))
    return out


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    group_id = _h(case["group_id"])
    tree = RatchetTree.from_bytes(suite, _h(case["ratchet_tree"]))
    privates = _private_states(suite, tree, case)
    context_for = _context_for(case)

    for n, entry in enumerate(case["update_paths"]):
        sender = entry["sender"]
        path = decode(UpdatePath, _h(entry["update_path"]))
        want_hash = _h(entry["tree_hash_after"])

        merged = tree.copy()
        parent_hash = merged.install_path(sender, [node.encryption_key for node in path.nodes])
        expect(f"update_paths[{n}] leaf parent_hash", path.leaf_node.parent_hash, parent_hash)
        merged.set_leaf(sender, path.leaf_node)
        expect(f"update_paths[{n}] tree_hash_after", merged.tree_hash(), want_hash)
        verify_parent_hashes(merged)

        for j, (state, _) in privates.items():
            if j == sender:
                continue
            work = tree.copy()
            applied = apply_update_path(
                work, state, sender=sender, update_path=path, group_id=group_id, context_for=context_for
            )
            expect(f"update_paths[{n}] path_secrets[{j}]", applied.path_secret, _h(entry["path_secrets"][j]))
            expect(
                f"update_paths[{n}] commit_secret (leaf {j})",
                applied.commit_secret,
                _h(entry["commit_secret"]),
            )
            expect(f"update_paths[{n}] tree_hash_after (leaf {j})", applied.tree_hash, want_hash)
            applied.private_state.check_matches(work)

    rng = random.Random(suite.id * 1000 + len(case["update_paths"])).randbytes
    for i, (_, signer) in privates.items():
        ours = tree.copy()
        created = create_update_path(
            ours, leaf_index=i, group_id=group_id, signer=signer, context_for=context_for, rng=rng
        )
        created.private_state.check_matches(ours)
        verify_parent_hashes(ours)
        for j, (state, _) in privates.items():
            if j == i:
                continue
            theirs = tree.copy()
            applied = apply_update_path(
                theirs,
                state,
                sender=i,
                update_path=created.update_path,
                group_id=group_id,
                context_for=context_for,
            )
            expect(f"encap from {i}: commit_secret at leaf {j}", applied.commit_secret, created.commit_secret)
            expect(
                f"encap from {i}: path secret at leaf {j}", applied.path_secret, created.path_secret_for(j)
            )
            expect(f"encap from {i}: tree at leaf {j}", theirs.to_bytes(), ours.to_bytes())
