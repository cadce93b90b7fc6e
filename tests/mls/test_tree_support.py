"""Helpers for the ratchet-tree / TreeKEM tests: signed leaves and a small simulated group that commits with
real UpdatePaths (every member processes every commit), built only on the public tree API."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from pyxmtp.mls.codec import encode
from pyxmtp.mls.constants import LeafNodeSource
from pyxmtp.mls.crypto import CipherSuite, HPKEPrivateKey, SignaturePrivateKey, sign_with_label
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.group_info import GroupContext
from pyxmtp.mls.tree.leaf_validation import LEAF_NODE_TBS_LABEL
from pyxmtp.mls.tree.nodes import Capabilities, LeafNode, Lifetime
from pyxmtp.mls.tree.private import TreePrivateState
from pyxmtp.mls.tree.ratchet_tree import RatchetTree
from pyxmtp.mls.tree.treekem import (
    ContextFor,
    CreatedUpdatePath,
    apply_update_path,
    create_update_path,
    private_state_from_path_secret,
)

GROUP_ID = b"group-under-test"


def capabilities(suite: CipherSuite, credentials: tuple[int, ...] = (1,)) -> Capabilities:
    return Capabilities(versions=(1,), cipher_suites=(suite.id,), credentials=credentials)


def sign_leaf(
    suite: CipherSuite, signer: SignaturePrivateKey, leaf: LeafNode, group_id: bytes | None, index: int | None
) -> LeafNode:
    tbs = leaf.tbs(group_id, index)
    return replace(leaf, signature=sign_with_label(suite, signer, LEAF_NODE_TBS_LABEL, tbs))


def make_leaf(
    suite: CipherSuite,
    signer: SignaturePrivateKey,
    encryption_key: bytes,
    *,
    source: LeafNodeSource = LeafNodeSource.key_package,
    group_id: bytes | None = None,
    index: int | None = None,
    caps: Capabilities | None = None,
    credential: Credential | None = None,
    lifetime: Lifetime | None = None,
) -> LeafNode:
    unsigned = LeafNode(
        encryption_key=encryption_key,
        signature_key=signer.public_bytes(),
        credential=credential or Credential.basic(signer.public_bytes()[:8]),
        capabilities=caps or capabilities(suite),
        leaf_node_source=source,
        lifetime=(lifetime or Lifetime(0, 2**40)) if source == LeafNodeSource.key_package else None,
        parent_hash=b"" if source == LeafNodeSource.commit else None,
        extensions=(),
        signature=b"",
    )
    return sign_leaf(suite, signer, unsigned, group_id, index)


@dataclass
class Member:
    signer: SignaturePrivateKey
    private: TreePrivateState


@dataclass
class SimGroup:
    """A group whose every member runs TreeKEM; ``commit`` checks all members agree on tree and secret."""

    suite: CipherSuite
    tree: RatchetTree
    members: dict[int, Member]
    rng: random.Random
    epoch: int = 0
    last_commit_secret: bytes = b""
    history: list[bytes] = field(default_factory=list)

    @classmethod
    def create(cls, suite: CipherSuite, seed: int = 1) -> SimGroup:
        rng = random.Random(seed)
        signer = suite.generate_signature_key(rng.randbytes)
        key = suite.hpke_generate_key_pair(rng.randbytes)
        tree = RatchetTree.create(suite, make_leaf(suite, signer, key.public_bytes()))
        return cls(suite, tree, {0: Member(signer, TreePrivateState(suite, 0, key))}, rng)

    def context_for(self, epoch: int) -> ContextFor:
        def build(tree_hash: bytes) -> bytes:
            return encode(GroupContext(1, self.suite.id, GROUP_ID, epoch, tree_hash, b"\x00" * 32, ()))

        return build

    def new_key_package_leaf(self) -> tuple[LeafNode, SignaturePrivateKey, HPKEPrivateKey]:
        signer = self.suite.generate_signature_key(self.rng.randbytes)
        key = self.suite.hpke_generate_key_pair(self.rng.randbytes)
        return make_leaf(self.suite, signer, key.public_bytes()), signer, key

    def commit(self, committer: int, *, add: int = 0, remove: tuple[int, ...] = ()) -> CreatedUpdatePath:
        """Commit removing ``remove`` and adding ``add`` fresh members, with a path from ``committer``."""
        staged = self.tree.copy()
        for victim in remove:
            staged.remove_leaf(victim)
        joiners: dict[int, tuple[SignaturePrivateKey, HPKEPrivateKey]] = {}
        for _ in range(add):
            leaf, signer, key = self.new_key_package_leaf()
            joiners[staged.add_leaf(leaf)] = (signer, key)
        proposals_applied = staged.copy()
        context_for = self.context_for(self.epoch + 1)
        me = self.members[committer]
        created = create_update_path(
            staged,
            leaf_index=committer,
            group_id=GROUP_ID,
            signer=me.signer,
            context_for=context_for,
            rng=self.rng.randbytes,
            excluded_leaves=joiners,
        )
        new_members: dict[int, Member] = {committer: Member(me.signer, created.private_state)}
        for index, member in self.members.items():
            if index == committer or index in remove:
                continue
            theirs = proposals_applied.copy()
            applied = apply_update_path(
                theirs,
                member.private.pruned(theirs),
                sender=committer,
                update_path=created.update_path,
                group_id=GROUP_ID,
                context_for=context_for,
                excluded_leaves=joiners,
            )
            assert applied.commit_secret == created.commit_secret
            assert theirs == staged
            new_members[index] = Member(member.signer, applied.private_state)
        for index, (signer, key) in joiners.items():
            private = private_state_from_path_secret(
                staged, index, key, committer, created.path_secret_for(index)
            )
            new_members[index] = Member(signer, private)
        for member in new_members.values():
            member.private.check_matches(staged)
        self.tree = staged
        self.members = new_members
        self.epoch += 1
        self.last_commit_secret = created.commit_secret
        return created
