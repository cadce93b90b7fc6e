"""TreeKEM: UpdatePath creation and processing between real members, joiners' path secrets, external-commit
slots, every rejection path (with tree and private state left unchanged) and private-state persistence."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from pyxmtp.mls.constants import LeafNodeSource
from pyxmtp.mls.crypto import get_suite
from pyxmtp.mls.errors import (
    DecodeError,
    DecryptError,
    InvalidSignature,
    LocalMLSError,
    MissingKeyError,
    ValidationError,
)
from pyxmtp.mls.messages.commit import UpdatePath
from pyxmtp.mls.tree.leaf_validation import LeafValidationError
from pyxmtp.mls.tree.private import TreePrivateState
from pyxmtp.mls.tree.ratchet_tree import RatchetTree
from pyxmtp.mls.tree.treekem import (
    CreatedUpdatePath,
    UpdatePathError,
    apply_update_path,
    create_update_path,
    private_state_from_path_secret,
)
from pyxmtp.mls.tree.validation import verify_parent_hashes
from tests.mls.test_tree_support import GROUP_ID, SimGroup, make_leaf, sign_leaf

SUITE = get_suite(1)


@pytest.mark.parametrize("suite_id", [1, 2, 3, 5])
def test_members_agree_through_adds_removes_and_updates(suite_id: int) -> None:
    group = SimGroup.create(get_suite(suite_id), seed=suite_id)
    group.commit(0, add=4)
    group.commit(2, add=3, remove=(1,))
    assert sorted(group.members) == list(range(7))
    group.commit(6)
    group.commit(1, remove=(6, 5, 4))  # truncates back to 4 leaves
    assert group.tree.n_leaves == 4
    group.commit(3, add=2)
    assert group.tree.n_leaves == 8
    verify_parent_hashes(group.tree)
    assert sorted(group.members) == [i for i, _ in group.tree.members()]


def staged_commit(group: SimGroup, committer: int) -> tuple[RatchetTree, CreatedUpdatePath]:
    tree = group.tree.copy()
    created = create_update_path(
        tree,
        leaf_index=committer,
        group_id=GROUP_ID,
        signer=group.members[committer].signer,
        context_for=group.context_for(group.epoch + 1),
        rng=random.Random(99).randbytes,
    )
    return tree, created


@pytest.fixture
def group() -> SimGroup:
    g = SimGroup.create(SUITE, seed=21)
    g.commit(0, add=6)
    return g


def apply_as(
    group: SimGroup, receiver: int, path: UpdatePath, sender: int = 1, **kwargs: object
) -> RatchetTree:
    tree = group.tree.copy()
    args: dict[str, object] = {
        "sender": sender,
        "update_path": path,
        "group_id": GROUP_ID,
        "context_for": group.context_for(group.epoch + 1),
    }
    args.update(kwargs)
    apply_update_path(tree, group.members[receiver].private, **args)  # type: ignore[arg-type]
    return tree


def assert_rejected_unchanged(
    group: SimGroup, receiver: int, path: UpdatePath, error: type[Exception], **kw: object
) -> Exception:
    tree = group.tree.copy()
    before = tree.to_bytes()
    private = group.members[receiver].private
    private_bytes = private.to_bytes()
    args: dict[str, object] = {
        "sender": 1,
        "update_path": path,
        "group_id": GROUP_ID,
        "context_for": group.context_for(group.epoch + 1),
    }
    args.update(kw)
    with pytest.raises(error) as exc:
        apply_update_path(tree, private, **args)  # type: ignore[arg-type]
    assert tree.to_bytes() == before
    assert tree.tree_hash() == group.tree.tree_hash()
    assert private.to_bytes() == private_bytes
    return exc.value


def test_wrong_context_fails_to_decrypt_and_changes_nothing(group: SimGroup) -> None:
    _, created = staged_commit(group, 1)
    assert_rejected_unchanged(group, 4, created.update_path, DecryptError, context_for=group.context_for(99))


def test_tampered_ciphertext_fails_to_decrypt(group: SimGroup) -> None:
    _, created = staged_commit(group, 1)
    path = created.update_path
    top = path.nodes[-1]
    ct = top.encrypted_path_secret[0]
    bad_ct = replace(ct, ciphertext=bytes([ct.ciphertext[0] ^ 1]) + ct.ciphertext[1:])
    bad_node = replace(top, encrypted_path_secret=(bad_ct, *top.encrypted_path_secret[1:]))
    tampered = replace(path, nodes=(*path.nodes[:-1], bad_node))
    receiver = 4  # its common ancestor with leaf 1 is the root, the last path node
    assert_rejected_unchanged(group, receiver, tampered, DecryptError)


def test_wrong_private_key_is_a_typed_error(group: SimGroup) -> None:
    _, created = staged_commit(group, 1)
    member = group.members[4]
    stranger = SUITE.hpke_generate_key_pair(random.Random(5).randbytes)
    wrong = TreePrivateState(SUITE, 4, stranger, {})
    tree = group.tree.copy()
    with pytest.raises(MissingKeyError):
        apply_update_path(
            tree,
            wrong,
            sender=1,
            update_path=created.update_path,
            group_id=GROUP_ID,
            context_for=group.context_for(group.epoch + 1),
        )
    assert tree == group.tree
    # and the real state still works afterwards
    applied = apply_update_path(
        tree,
        member.private,
        sender=1,
        update_path=created.update_path,
        group_id=GROUP_ID,
        context_for=group.context_for(group.epoch + 1),
    )
    assert applied.commit_secret == created.commit_secret


def test_path_shape_checks(group: SimGroup) -> None:
    _, created = staged_commit(group, 1)
    path = created.update_path
    err = assert_rejected_unchanged(group, 4, replace(path, nodes=path.nodes[:-1]), UpdatePathError)
    assert getattr(err, "check", None) == "path_length"
    first = path.nodes[0]
    extra = replace(first, encrypted_path_secret=first.encrypted_path_secret * 2)
    err = assert_rejected_unchanged(group, 4, replace(path, nodes=(extra, *path.nodes[1:])), UpdatePathError)
    assert getattr(err, "check", None) == "ciphertext_count"


def test_tampered_node_key_breaks_parent_hash(group: SimGroup) -> None:
    _, created = staged_commit(group, 1)
    path = created.update_path
    other_key = SUITE.hpke_generate_key_pair(random.Random(6).randbytes).public_bytes()
    nodes = (replace(path.nodes[0], encryption_key=other_key), *path.nodes[1:])
    err = assert_rejected_unchanged(group, 4, replace(path, nodes=nodes), UpdatePathError)
    assert getattr(err, "check", None) == "parent_hash"


def test_leaf_checks(group: SimGroup) -> None:
    _, created = staged_commit(group, 1)
    path = created.update_path
    signer = group.members[1].signer
    forged = replace(path, leaf_node=replace(path.leaf_node, signature=bytes(64)))
    assert_rejected_unchanged(group, 4, forged, InvalidSignature)
    assert_rejected_unchanged(group, 4, path, InvalidSignature, group_id=b"other group")
    assert_rejected_unchanged(group, 4, path, InvalidSignature, sender=2)
    as_update = sign_leaf(
        SUITE,
        signer,
        replace(path.leaf_node, leaf_node_source=LeafNodeSource.update, parent_hash=None),
        GROUP_ID,
        1,
    )
    assert_rejected_unchanged(group, 4, replace(path, leaf_node=as_update), LeafValidationError)
    # a path whose leaf reuses a key already in the tree (re-signed, so only the uniqueness check fails)
    reused = sign_leaf(
        SUITE,
        signer,
        replace(path.leaf_node, encryption_key=group.tree.member_leaf(3).encryption_key),
        GROUP_ID,
        1,
    )
    err = assert_rejected_unchanged(group, 4, replace(path, leaf_node=reused), UpdatePathError)
    assert getattr(err, "check", None) == "encryption_key"


def test_misuse(group: SimGroup) -> None:
    _, created = staged_commit(group, 1)
    with pytest.raises(LocalMLSError):
        apply_as(group, 1, created.update_path)  # our own commit
    with pytest.raises(LocalMLSError):
        create_update_path(
            group.tree.copy(),
            leaf_index=1,
            group_id=GROUP_ID,
            signer=group.members[2].signer,
            context_for=group.context_for(1),
            rng=random.Random(1).randbytes,
        )


def test_joiners_are_excluded_and_get_the_common_ancestor_secret() -> None:
    group = SimGroup.create(SUITE, seed=31)
    group.commit(0, add=2)
    staged = group.tree.copy()
    leaf, _, key = group.new_key_package_leaf()
    joiner = staged.add_leaf(leaf)
    created = create_update_path(
        staged,
        leaf_index=1,
        group_id=GROUP_ID,
        signer=group.members[1].signer,
        context_for=group.context_for(2),
        rng=random.Random(2).randbytes,
        excluded_leaves=[joiner],
    )
    encrypted_to = [len(n.encrypted_path_secret) for n in created.update_path.nodes]
    assert encrypted_to == [1, 1]  # leaf 0, then leaf 2 only: the joiner (leaf 3) is excluded
    private = private_state_from_path_secret(staged, joiner, key, 1, created.path_secret_for(joiner))
    private.check_matches(staged)
    assert set(private.path_keys) == {3}
    with pytest.raises(UpdatePathError):
        private_state_from_path_secret(staged, joiner, key, 1, bytes(32))
    alone = private_state_from_path_secret(staged, joiner, key)
    assert alone.path_keys == {}


def test_external_commit_slot_extends_tree(group: SimGroup) -> None:
    # 7 members in 8 leaves: fill the last blank leaf so the external joiner needs a new slot
    group.commit(0, add=1)
    assert group.tree.free_leaf_index() == group.tree.n_leaves == 8
    leaf, signer, _ = group.new_key_package_leaf()
    ours = group.tree.copy()
    slot = ours.free_leaf_index()
    created = create_update_path(
        ours,
        leaf_index=slot,
        group_id=GROUP_ID,
        signer=signer,
        context_for=group.context_for(group.epoch + 1),
        rng=random.Random(4).randbytes,
        leaf_template=leaf,
    )
    assert ours.n_leaves == 16 and ours.leaf(8) == created.update_path.leaf_node
    assert len(created.update_path.nodes) == 1  # only the new root has a non-empty copath resolution
    for receiver in (0, 5):
        theirs = apply_as(group, receiver, created.update_path, sender=slot)
        assert theirs == ours
    # a failure restores the original width
    bad = replace(created.update_path, nodes=())
    err = assert_rejected_unchanged(group, 3, bad, UpdatePathError, sender=slot)
    assert getattr(err, "check", None) == "path_length"


def test_private_state_round_trip_and_pruning(group: SimGroup) -> None:
    state = group.members[3].private
    assert state.path_keys
    again = TreePrivateState.from_bytes(SUITE, state.to_bytes())
    assert again == state
    assert repr(again).startswith("<TreePrivateState") and state.leaf_key.to_bytes().hex() not in repr(again)
    with pytest.raises(LocalMLSError):
        TreePrivateState.from_bytes(get_suite(3), state.to_bytes())
    with pytest.raises(DecodeError):
        TreePrivateState.from_bytes(SUITE, state.to_bytes()[:-1])
    with pytest.raises(DecodeError):
        TreePrivateState.from_bytes(SUITE, state.to_bytes() + b"\x00")
    # an Update by leaf 2 blanks the nodes above it, shared with leaf 3: their keys are dropped
    staged = group.tree.copy()
    signer = group.members[2].signer
    new_key = SUITE.hpke_generate_key_pair(random.Random(8).randbytes)
    staged.update_leaf(
        2,
        make_leaf(
            SUITE, signer, new_key.public_bytes(), source=LeafNodeSource.update, group_id=GROUP_ID, index=2
        ),
    )
    pruned = state.pruned(staged)
    assert set(pruned.path_keys) == set(state.path_keys) - set(staged.direct_path(2))
    pruned.check_matches(staged)
    with pytest.raises(Exception, match="private state"):
        state.check_matches(staged)
    own_update = group.members[2].private.with_leaf_key(new_key)
    own_update.check_matches(staged)


def test_failed_create_restores_the_tree(group: SimGroup) -> None:
    group.commit(0, add=1)  # full: an external joiner extends the tree
    leaf, signer, _ = group.new_key_package_leaf()
    tree = group.tree.copy()
    before = tree.to_bytes()

    def broken_context(tree_hash: bytes) -> bytes:
        raise RuntimeError("provisional context unavailable")

    with pytest.raises(RuntimeError):
        create_update_path(
            tree,
            leaf_index=tree.n_leaves,
            group_id=GROUP_ID,
            signer=signer,
            context_for=broken_context,
            rng=random.Random(3).randbytes,
            leaf_template=leaf,
        )
    assert tree.n_leaves == 8 and tree.to_bytes() == before
    assert tree.tree_hash() == group.tree.tree_hash()
    assert tree.node_of_encryption_key(leaf.encryption_key) is None
    assert tree.leaf_index_of_signature_key(signer.public_bytes()) is None
    with pytest.raises(ValidationError):  # a mismatched key count leaves the width alone too
        tree.install_path(tree.n_leaves, [])
    assert tree.n_leaves == 8 and tree.to_bytes() == before
