"""Leaf-node validation (RFC 9420 7.3) and whole-tree validation on join (12.4.3.1), each check failing once."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from pyxmtp.mls.constants import LeafNodeSource
from pyxmtp.mls.crypto import get_suite
from pyxmtp.mls.errors import InvalidSignature, ValidationError
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.extensions import Extension, RequiredCapabilities
from pyxmtp.mls.messages.group_info import GroupContext
from pyxmtp.mls.tree.leaf_validation import (
    LeafRules,
    LeafSignatureError,
    LeafValidationError,
    validate_leaf_node,
)
from pyxmtp.mls.tree.nodes import Capabilities, LeafNode, Lifetime, Node, ParentNode
from pyxmtp.mls.tree.ratchet_tree import RatchetTree
from pyxmtp.mls.tree.validation import (
    TreeValidationError,
    validate_tree,
    validate_tree_for_group,
    verify_parent_hashes,
)
from tests.mls.test_tree_support import GROUP_ID, SimGroup, capabilities, make_leaf, sign_leaf

SUITE = get_suite(1)
RULES = LeafRules(GROUP_ID)


@pytest.fixture(scope="module")
def group() -> SimGroup:
    g = SimGroup.create(SUITE, seed=11)
    g.commit(0, add=5)
    g.commit(3, add=2, remove=(1,))
    g.commit(6)
    return g


def new_leaf(seed: int, **kwargs: object) -> LeafNode:
    rng = random.Random(seed)
    signer = SUITE.generate_signature_key(rng.randbytes)
    key = SUITE.hpke_generate_key_pair(rng.randbytes)
    return make_leaf(SUITE, signer, key.public_bytes(), **kwargs)  # type: ignore[arg-type]


def check_of(exc: pytest.ExceptionInfo[BaseException]) -> str:
    check = getattr(exc.value, "check", None)
    assert isinstance(check, str)
    return check


# --- leaf validation -------------------------------------------------------------------------------------
def test_valid_key_package_leaf_passes(group: SimGroup) -> None:
    validate_leaf_node(
        group.tree, new_leaf(1), rules=RULES, source=LeafNodeSource.key_package, leaf_index=None
    )


@pytest.mark.parametrize(
    ("leaf_kwargs", "check"),
    [
        ({"caps": Capabilities((1,), (2,), (), (), (1,))}, "capabilities"),
        ({"caps": Capabilities((2,), (1,), (), (), (1,))}, "capabilities"),
        ({"caps": Capabilities((1,), (1,), (), (), (2,))}, "credential"),
        (
            {"credential": Credential.x509((b"cert",)), "caps": capabilities(SUITE, (1, 2))},
            "credential_support",
        ),
        (
            {"credential": Credential.x509((b"cert",)), "caps": capabilities(SUITE, (2,))},
            "credential_support",
        ),
    ],
)
def test_leaf_check_failures(group: SimGroup, leaf_kwargs: dict[str, object], check: str) -> None:
    leaf = new_leaf(2, **leaf_kwargs)
    with pytest.raises(LeafValidationError) as exc:
        validate_leaf_node(group.tree, leaf, rules=RULES, source=LeafNodeSource.key_package, leaf_index=None)
    assert check_of(exc) == check


def test_unlisted_extension_rejected(group: SimGroup) -> None:
    rng = random.Random(3)
    signer = SUITE.generate_signature_key(rng.randbytes)
    base = make_leaf(SUITE, signer, SUITE.hpke_generate_key_pair(rng.randbytes).public_bytes())
    unlisted = sign_leaf(SUITE, signer, replace(base, extensions=(Extension(0xF000, b""),)), None, None)
    with pytest.raises(LeafValidationError) as exc:
        validate_leaf_node(
            group.tree, unlisted, rules=RULES, source=LeafNodeSource.key_package, leaf_index=None
        )
    assert check_of(exc) == "extensions"
    listed_caps = replace(base.capabilities, extensions=(0xF000,))
    listed = sign_leaf(
        SUITE,
        signer,
        replace(base, capabilities=listed_caps, extensions=(Extension(0xF000, b""),)),
        None,
        None,
    )
    validate_leaf_node(group.tree, listed, rules=RULES, source=LeafNodeSource.key_package, leaf_index=None)


def test_required_capabilities(group: SimGroup) -> None:
    rules = LeafRules(GROUP_ID, required_capabilities=RequiredCapabilities(extension_types=(0xF001,)))
    with pytest.raises(LeafValidationError) as exc:
        validate_leaf_node(
            group.tree, new_leaf(4), rules=rules, source=LeafNodeSource.key_package, leaf_index=None
        )
    assert check_of(exc) == "required_capabilities"
    # default types count as supported
    rules = LeafRules(GROUP_ID, required_capabilities=RequiredCapabilities((3,), (7,), (1,)))
    validate_leaf_node(
        group.tree, new_leaf(4), rules=rules, source=LeafNodeSource.key_package, leaf_index=None
    )


def test_lifetime_checked_only_with_now(group: SimGroup) -> None:
    leaf = new_leaf(5, lifetime=Lifetime(100, 200))
    kwargs = {"rules": RULES, "source": LeafNodeSource.key_package, "leaf_index": None}
    validate_leaf_node(group.tree, leaf, **kwargs)  # type: ignore[arg-type]
    validate_leaf_node(group.tree, leaf, now=150, **kwargs)  # type: ignore[arg-type]
    for now in (99, 200):
        with pytest.raises(LeafValidationError) as exc:
            validate_leaf_node(group.tree, leaf, now=now, **kwargs)  # type: ignore[arg-type]
        assert check_of(exc) == "lifetime"


def test_source_and_signature(group: SimGroup) -> None:
    leaf = new_leaf(6)
    with pytest.raises(LeafValidationError) as exc:
        validate_leaf_node(group.tree, leaf, rules=RULES, source=LeafNodeSource.update, leaf_index=2)
    assert check_of(exc) == "leaf_node_source"
    forged = replace(leaf, signature=bytes(64))
    with pytest.raises(LeafSignatureError) as sig_exc:
        validate_leaf_node(
            group.tree, forged, rules=RULES, source=LeafNodeSource.key_package, leaf_index=None
        )
    assert isinstance(sig_exc.value, InvalidSignature)
    validate_leaf_node(
        group.tree,
        forged,
        rules=RULES,
        source=LeafNodeSource.key_package,
        leaf_index=None,
        check_signature=False,
    )


def test_update_leaf_signature_binds_group_and_index(group: SimGroup) -> None:
    member = group.members[2]
    key = SUITE.hpke_generate_key_pair(random.Random(8).randbytes)
    update = make_leaf(
        SUITE, member.signer, key.public_bytes(), source=LeafNodeSource.update, group_id=GROUP_ID, index=2
    )
    validate_leaf_node(group.tree, update, rules=RULES, source=LeafNodeSource.update, leaf_index=2)
    with pytest.raises(LeafSignatureError):
        validate_leaf_node(group.tree, update, rules=RULES, source=LeafNodeSource.update, leaf_index=4)
    with pytest.raises(LeafSignatureError):
        validate_leaf_node(
            group.tree, update, rules=LeafRules(b"other"), source=LeafNodeSource.update, leaf_index=2
        )


def test_duplicate_keys_rejected(group: SimGroup) -> None:
    existing = group.tree.member_leaf(2)
    member = group.members[4]
    reused_enc = make_leaf(
        SUITE,
        member.signer,
        existing.encryption_key,
        source=LeafNodeSource.update,
        group_id=GROUP_ID,
        index=4,
    )
    with pytest.raises(LeafValidationError) as exc:
        validate_leaf_node(group.tree, reused_enc, rules=RULES, source=LeafNodeSource.update, leaf_index=4)
    assert check_of(exc) == "encryption_key"
    own = group.tree.member_leaf(4)
    same_enc = make_leaf(
        SUITE, member.signer, own.encryption_key, source=LeafNodeSource.update, group_id=GROUP_ID, index=4
    )
    with pytest.raises(LeafValidationError) as exc:  # an Update must change the encryption key
        validate_leaf_node(group.tree, same_enc, rules=RULES, source=LeafNodeSource.update, leaf_index=4)
    assert check_of(exc) == "encryption_key"
    fresh = SUITE.hpke_generate_key_pair(random.Random(9).randbytes).public_bytes()
    stolen_sig = make_leaf(SUITE, member.signer, fresh)  # key package reusing member 4's signature key
    with pytest.raises(LeafValidationError) as exc:
        validate_leaf_node(
            group.tree, stolen_sig, rules=RULES, source=LeafNodeSource.key_package, leaf_index=None
        )
    assert check_of(exc) == "signature_key"


# --- whole-tree validation -------------------------------------------------------------------------------
def rebuilt(group: SimGroup, x: int, value: LeafNode | ParentNode | None) -> RatchetTree:
    nodes = group.tree.to_nodes()
    nodes[x] = None if value is None else Node(value)
    return RatchetTree.from_nodes(SUITE, nodes)


def test_group_tree_is_valid(group: SimGroup) -> None:
    tree = RatchetTree.from_bytes(SUITE, group.tree.to_bytes())
    validate_tree(tree, RULES, tree_hash=group.tree.tree_hash())
    context = GroupContext(1, SUITE.id, GROUP_ID, 3, group.tree.tree_hash(), b"", ())
    validate_tree_for_group(tree, context)


def test_tree_hash_mismatch(group: SimGroup) -> None:
    with pytest.raises(TreeValidationError) as exc:
        validate_tree(group.tree, RULES, tree_hash=bytes(32))
    assert check_of(exc) == "tree_hash"


def test_tampered_parent_hash_rejected(group: SimGroup) -> None:
    for p, node in group.tree.parents():
        tampered = rebuilt(group, p, replace(node, parent_hash=bytes(len(node.parent_hash) or 32)))
        with pytest.raises(TreeValidationError) as exc:
            validate_tree(tampered, RULES, tree_hash=None)
        assert check_of(exc) == "parent_hash"
    # a parent key swapped for another key breaks the leaf's link to it
    p, node = next(iter(group.tree.parents()))
    swapped = rebuilt(group, p, replace(node, encryption_key=bytes(32)))
    with pytest.raises(TreeValidationError):
        verify_parent_hashes(swapped)


def test_tampered_leaf_signature_rejected(group: SimGroup) -> None:
    # no parent nodes, so no parent hash covers the leaf: the signature check is what rejects it
    tree = RatchetTree.create(SUITE, new_leaf(20))
    leaf = new_leaf(21)
    tree.add_leaf(leaf)
    validate_tree(tree, RULES, tree_hash=None)
    nodes = tree.to_nodes()
    nodes[2] = Node(replace(leaf, signature=bytes(len(leaf.signature))))
    with pytest.raises(LeafSignatureError) as exc:
        validate_tree(RatchetTree.from_nodes(SUITE, nodes), RULES, tree_hash=None)
    assert exc.value.leaf_index == 1
    # in a tree with parents, changing any leaf byte also breaks the parent hashes above it
    committed = group.tree.member_leaf(4)
    tampered = rebuilt(group, 8, replace(committed, signature=bytes(len(committed.signature))))
    with pytest.raises(ValidationError):
        validate_tree(tampered, RULES, tree_hash=None)
    with pytest.raises(InvalidSignature):  # update/commit leaf signatures bind the group id
        validate_tree(group.tree, LeafRules(b"another group"), tree_hash=None)


def test_duplicate_keys_in_tree_rejected(group: SimGroup) -> None:
    first = group.tree.member_leaf(0)
    other = group.tree.member_leaf(2)
    dup = rebuilt(group, 4, replace(other, encryption_key=first.encryption_key))
    with pytest.raises(TreeValidationError) as exc:
        validate_tree(dup, RULES, tree_hash=None)
    assert check_of(exc) == "encryption_key"
    dup = rebuilt(group, 4, replace(other, signature_key=first.signature_key))
    with pytest.raises(TreeValidationError) as exc:
        validate_tree(dup, RULES, tree_hash=None)
    assert check_of(exc) == "signature_key"


def test_unmerged_leaves_consistency(group: SimGroup) -> None:
    tree = group.tree.copy()
    index = tree.add_leaf(new_leaf(12))
    tree.add_leaf(new_leaf(13))
    validate_tree(tree, RULES, tree_hash=tree.tree_hash())  # unmerged entries keep parent hashes valid
    holders = [(x, n) for x in tree.direct_path(index) if isinstance(n := tree.node(x), ParentNode)]
    assert len(holders) >= 2 and all(index in n.unmerged_leaves for _, n in holders)
    p, node = holders[0]  # the lowest parent holding it
    blank_leaf = next(i for i in range(tree.n_leaves) if tree.leaf(i) is None)
    members = [i for i, _ in tree.members()]
    outside = next(i for i in members if p not in tree.direct_path(i))
    cases = {
        "blank": (*node.unmerged_leaves, blank_leaf),
        "twice": (*node.unmerged_leaves, index),
        "outside": (*node.unmerged_leaves, outside),
    }
    for name, unmerged in cases.items():
        nodes = tree.to_nodes()
        nodes[p] = Node(replace(node, unmerged_leaves=unmerged))
        bad = RatchetTree.from_nodes(SUITE, nodes)
        with pytest.raises(TreeValidationError) as exc:
            validate_tree(bad, RULES, tree_hash=None)
        assert check_of(exc) == "unmerged_leaves", name
    # an ancestor lists it but a non-blank node in between does not
    nodes = tree.to_nodes()
    nodes[p] = Node(replace(node, unmerged_leaves=tuple(i for i in node.unmerged_leaves if i != index)))
    with pytest.raises(TreeValidationError) as exc:
        validate_tree(RatchetTree.from_nodes(SUITE, nodes), RULES, tree_hash=None)
    assert check_of(exc) == "unmerged_leaves"


def test_validation_errors_are_validation_errors() -> None:
    assert issubclass(TreeValidationError, ValidationError)
    assert issubclass(LeafValidationError, ValidationError)
    assert issubclass(LeafSignatureError, InvalidSignature)
