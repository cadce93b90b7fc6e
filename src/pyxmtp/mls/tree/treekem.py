"""TreeKEM: creating and processing UpdatePaths (RFC 9420 sections 7.4-7.6, 7.9 and 12.4.2), and the
private keys a joiner derives from the Welcome's path secret (section 12.4.3.1).

The provisional GroupContext that path secrets are encrypted under contains the tree hash of the tree
*after* the path is merged, so both directions take a callback ``context_for(tree_hash) -> bytes`` that
returns the TLS-encoded provisional GroupContext (old group id and confirmed transcript hash, new epoch,
new extensions, the given tree hash). It is called exactly once, after the path is merged.

Both functions mutate the tree they are given (the group engine passes the staged copy with the commit's
proposals applied) and restore it if they raise. Private state is never mutated: the new
:class:`~pyxmtp.mls.tree.private.TreePrivateState` is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from ..constants import LeafNodeSource
from ..crypto.keys import HPKEPrivateKey, RandomSource, SignaturePrivateKey
from ..crypto.labels import decrypt_with_label, derive_secret, encrypt_with_label_each, sign_with_label
from ..crypto.suite import CipherSuite
from ..errors import DecryptError, LocalMLSError, MissingKeyError, ValidationError
from ..messages.commit import HPKECiphertext, UpdatePath, UpdatePathNode
from .leaf_validation import LEAF_NODE_TBS_LABEL, LeafValidationError, verify_leaf_signature
from .math import common_ancestor
from .nodes import LeafNode
from .private import TreePrivateState
from .ratchet_tree import RatchetTree

__all__ = [
    "UPDATE_PATH_NODE_LABEL",
    "AppliedUpdatePath",
    "ContextFor",
    "CreatedUpdatePath",
    "UpdatePathError",
    "apply_update_path",
    "create_update_path",
    "derive_node_key",
    "private_state_from_path_secret",
]

UPDATE_PATH_NODE_LABEL = "UpdatePathNode"

ContextFor = Callable[[bytes], bytes]
"""``context_for(new_tree_hash)`` -> TLS-encoded provisional GroupContext."""


class UpdatePathError(ValidationError):
    """An UpdatePath (or a Welcome path secret) is inconsistent with the tree; ``check`` names the rule:
    ``path_length``, ``encryption_key`` (a key already in the tree, or repeated), ``ciphertext_count``,
    ``parent_hash``, ``public_key`` (a derived key differs from the one sent)."""

    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        self.reason = reason
        super().__init__(f"UpdatePath: {check}: {reason}")


def derive_node_key(suite: CipherSuite, path_secret: bytes) -> HPKEPrivateKey:
    """``DeriveKeyPair(DeriveSecret(path_secret, "node"))``."""
    return suite.hpke_derive_key_pair(derive_secret(suite, path_secret, "node"))


def _next_path_secret(suite: CipherSuite, path_secret: bytes) -> bytes:
    return derive_secret(suite, path_secret, "path")


@dataclass(frozen=True, slots=True)
class CreatedUpdatePath:
    """What :func:`create_update_path` produced.

    ``update_path``: for the Commit. ``commit_secret``: for the key schedule. ``private_state``: ours once
    the commit is merged. ``path_secrets``: node index -> path secret for each filtered-direct-path node
    (secret; only for Welcomes, see :meth:`path_secret_for`). ``tree_hash``: of the tree after the path.
    """

    leaf_index: int
    update_path: UpdatePath
    commit_secret: bytes
    private_state: TreePrivateState
    path_secrets: Mapping[int, bytes]
    tree_hash: bytes

    def path_secret_for(self, joiner_leaf: int) -> bytes:
        """The path secret at the lowest common ancestor of our leaf and ``joiner_leaf`` (GroupSecrets
        ``path_secret`` of that joiner's Welcome)."""
        x = common_ancestor(2 * self.leaf_index, 2 * joiner_leaf)
        try:
            return self.path_secrets[x]
        except KeyError:
            raise LocalMLSError(
                f"node {x} (above leaf {joiner_leaf}) is not on the committer's path"
            ) from None


@dataclass(frozen=True, slots=True)
class AppliedUpdatePath:
    """What :func:`apply_update_path` produced: ``commit_secret``, our new ``private_state``, the decrypted
    ``path_secret`` at ``common_ancestor`` (the lowest common ancestor of sender and receiver), and the
    ``tree_hash`` after the path."""

    commit_secret: bytes
    private_state: TreePrivateState
    path_secret: bytes
    common_ancestor: int
    tree_hash: bytes


def create_update_path(
    tree: RatchetTree,
    *,
    leaf_index: int,
    group_id: bytes,
    signer: SignaturePrivateKey,
    context_for: ContextFor,
    rng: RandomSource,
    excluded_leaves: Collection[int] = (),
    leaf_template: LeafNode | None = None,
) -> CreatedUpdatePath:
    """Refresh our path (RFC 9420 7.4-7.5, 12.4.2) in ``tree`` (the commit's proposals already applied).

    A fresh ``leaf_secret = rng(Nh)`` gives the leaf key (``DeriveKeyPair(DeriveSecret(leaf_secret,
    "node"))``) and the first path secret (``DeriveSecret(leaf_secret, "path")``); each next path secret is
    ``DeriveSecret(previous, "path")``, the last one's successor is the commit secret. The new leaf copies
    signature key, credential, capabilities and extensions from ``leaf_template`` (default: our current
    leaf; required for an external commit, whose ``leaf_index`` is a blank slot or ``n_leaves``), gets
    source commit and the parent hash, and is signed by ``signer`` over ``group_id`` and ``leaf_index``.
    Each path secret is encrypted under the provisional context to the resolution of the copath child,
    leaving out ``excluded_leaves`` (leaf indices added by this commit).

    Mutates ``tree`` (path merged, new leaf set). Raises LocalMLSError for misuse (blank leaf without
    template, signer not matching the leaf's signature key).
    """
    suite = tree.suite
    if leaf_template is None:
        leaf_template = tree.member_leaf(leaf_index)
    if signer.public_bytes() != leaf_template.signature_key:
        raise LocalMLSError("signer does not match the leaf's signature_key")
    excluded = set(excluded_leaves)
    if leaf_index in excluded:
        raise LocalMLSError(f"committer leaf {leaf_index} is among the excluded (new) leaves")

    saved, saved_width = tree.snapshot_path(leaf_index)
    try:
        tree.ensure_leaf_slot(leaf_index)
        path = tree.filtered_path(leaf_index)
        leaf_secret = rng(suite.hash_len)
        leaf_key = derive_node_key(suite, leaf_secret)
        path_secret = _next_path_secret(suite, leaf_secret)
        secrets: dict[int, bytes] = {}
        keys: dict[int, HPKEPrivateKey] = {}
        for p, _ in path:
            secrets[p] = path_secret
            keys[p] = derive_node_key(suite, path_secret)
            path_secret = _next_path_secret(suite, path_secret)
        commit_secret = path_secret
        recipients = [tree.resolution(s, excluded) for _, s in path]
        public_keys = [keys[p].public_bytes() for p, _ in path]

        leaf_parent_hash = tree.install_path(leaf_index, public_keys)
        unsigned = LeafNode(
            encryption_key=leaf_key.public_bytes(),
            signature_key=leaf_template.signature_key,
            credential=leaf_template.credential,
            capabilities=leaf_template.capabilities,
            leaf_node_source=LeafNodeSource.commit,
            lifetime=None,
            parent_hash=leaf_parent_hash,
            extensions=leaf_template.extensions,
            signature=b"",
        )
        signature = sign_with_label(suite, signer, LEAF_NODE_TBS_LABEL, unsigned.tbs(group_id, leaf_index))
        leaf = replace(unsigned, signature=signature)
        tree.set_leaf(leaf_index, leaf)
        tree_hash = tree.tree_hash()
        context = context_for(tree_hash)

        sealed: list[tuple[bytes, bytes]] = []
        for (p, _), targets in zip(path, recipients, strict=True):
            for r in targets:
                target = tree.node(r)
                assert target is not None
                sealed.append((target.encryption_key, secrets[p]))
        ciphertexts = iter(encrypt_with_label_each(suite, UPDATE_PATH_NODE_LABEL, context, sealed, rng))
        nodes = [
            UpdatePathNode(public_key, tuple(HPKECiphertext(*next(ciphertexts)) for _ in targets))
            for targets, public_key in zip(recipients, public_keys, strict=True)
        ]
    except BaseException:
        tree.restore(saved, saved_width)
        raise

    return CreatedUpdatePath(
        leaf_index=leaf_index,
        update_path=UpdatePath(leaf, tuple(nodes)),
        commit_secret=commit_secret,
        private_state=TreePrivateState(suite, leaf_index, leaf_key, keys),
        path_secrets=secrets,
        tree_hash=tree_hash,
    )


def _check_new_keys(tree: RatchetTree, update_path: UpdatePath) -> None:
    seen: set[bytes] = set()
    for key in (update_path.leaf_node.encryption_key, *(n.encryption_key for n in update_path.nodes)):
        holder = tree.node_of_encryption_key(key)
        if holder is not None:
            raise UpdatePathError(
                "encryption_key", f"key {key[:8].hex()}... is already used by node {holder}"
            )
        if key in seen:
            raise UpdatePathError("encryption_key", f"key {key[:8].hex()}... appears twice in the path")
        seen.add(key)


def apply_update_path(
    tree: RatchetTree,
    private: TreePrivateState,
    *,
    sender: int,
    update_path: UpdatePath,
    group_id: bytes,
    context_for: ContextFor,
    excluded_leaves: Collection[int] = (),
) -> AppliedUpdatePath:
    """Process a received UpdatePath from leaf ``sender`` (RFC 9420 7.5, 12.4.2) in ``tree`` (the commit's
    proposals already applied; for an external commit ``sender`` is the joiner's slot, possibly
    ``n_leaves``).

    Checks, raising before anything is decrypted: leaf source is commit (LeafValidationError
    ``leaf_node_source``), leaf signature over ``group_id`` and ``sender`` (LeafSignatureError), one node
    per filtered-direct-path node (``path_length``), no key already in the tree or repeated
    (``encryption_key``), one ciphertext per member of each copath resolution minus ``excluded_leaves``
    (``ciphertext_count``). Then merges the path, checks the leaf's parent hash (``parent_hash``), calls
    ``context_for(new tree hash)``, decrypts the path secret with our key for the copath resolution
    (DecryptError; MissingKeyError if we hold none), derives the keys up to the root and compares them with
    the path's (``public_key``). The full LeafNode validation against the group (capabilities, credential
    support, ...) is the caller's: :func:`~pyxmtp.mls.tree.leaf_validation.validate_leaf_node` with
    ``source=commit`` on the tree before this call.

    Mutates ``tree`` (merged path and leaf); on any error the tree is restored. ``private`` is untouched.
    """
    suite = tree.suite
    me = private.leaf_index
    excluded = set(excluded_leaves)
    if sender == me:
        raise LocalMLSError("apply_update_path: the sender is ourselves; use the CreatedUpdatePath")
    if me in excluded or tree.leaf(me) is None:
        raise LocalMLSError(f"apply_update_path: our leaf {me} is blank or newly added")
    leaf = update_path.leaf_node
    if leaf.leaf_node_source != LeafNodeSource.commit:
        raise LeafValidationError(
            "leaf_node_source", sender, f"UpdatePath leaf source is {leaf.leaf_node_source.name}, not commit"
        )
    verify_leaf_signature(suite, leaf, group_id, sender)

    saved, saved_width = tree.snapshot_path(sender)
    try:
        tree.ensure_leaf_slot(sender)
        path = tree.filtered_path(sender)
        if len(update_path.nodes) != len(path):
            raise UpdatePathError(
                "path_length", f"{len(update_path.nodes)} nodes for a filtered direct path of {len(path)}"
            )
        _check_new_keys(tree, update_path)
        resolutions: list[list[int]] = []
        for (p, s), node in zip(path, update_path.nodes, strict=True):
            res = tree.resolution(s, excluded)
            if len(node.encrypted_path_secret) != len(res):
                raise UpdatePathError(
                    "ciphertext_count",
                    f"node {p}: {len(node.encrypted_path_secret)} ciphertexts for a resolution of {len(res)}",
                )
            resolutions.append(res)
        lca = common_ancestor(2 * me, 2 * sender)
        position = next((k for k, (p, _) in enumerate(path) if p == lca), None)
        if position is None:  # cannot happen for a non-blank, non-excluded receiver
            raise LocalMLSError(f"node {lca} is not on the sender's filtered direct path")
        key, index = _our_key(tree, private, resolutions[position])

        leaf_parent_hash = tree.install_path(sender, [n.encryption_key for n in update_path.nodes])
        if leaf.parent_hash != leaf_parent_hash:
            raise UpdatePathError("parent_hash", "the leaf's parent_hash does not match the merged path")
        tree.set_leaf(sender, leaf)
        tree_hash = tree.tree_hash()
        context = context_for(tree_hash)

        ct = update_path.nodes[position].encrypted_path_secret[index]
        try:
            path_secret = decrypt_with_label(
                suite, key, UPDATE_PATH_NODE_LABEL, context, ct.kem_output, ct.ciphertext
            )
        except DecryptError as exc:
            raise DecryptError(f"UpdatePath: cannot decrypt the path secret for node {lca}: {exc}") from exc
        derived, commit_secret = _derive_path(suite, path_secret, [p for p, _ in path[position:]])
        for (p, k), node in zip(derived.items(), update_path.nodes[position:], strict=True):
            if k.public_bytes() != node.encryption_key:
                raise UpdatePathError("public_key", f"node {p}: derived public key differs from the path's")
    except BaseException:
        tree.restore(saved, saved_width)
        raise

    sender_path = set(tree.direct_path(sender))
    kept = {x: k for x, k in private.path_keys.items() if x not in sender_path}
    kept.update(derived)
    new_private = TreePrivateState(suite, me, private.leaf_key, kept).pruned(tree)
    return AppliedUpdatePath(commit_secret, new_private, path_secret, lca, tree_hash)


def _our_key(
    tree: RatchetTree, private: TreePrivateState, resolution: Sequence[int]
) -> tuple[HPKEPrivateKey, int]:
    """Our private key for some node of ``resolution`` whose public key it matches, and that node's position."""
    for index, r in enumerate(resolution):
        key = private.key_for_node(r)
        node = tree.node(r)
        if key is not None and node is not None and node.encryption_key == key.public_bytes():
            return key, index
    raise MissingKeyError(
        f"leaf {private.leaf_index} holds no private key for the copath resolution {list(resolution)}"
    )


def _derive_path(
    suite: CipherSuite, path_secret: bytes, nodes: Sequence[int]
) -> tuple[dict[int, HPKEPrivateKey], bytes]:
    """Keys for ``nodes`` (bottom-up) from the first one's path secret, and the secret after the last."""
    keys: dict[int, HPKEPrivateKey] = {}
    for x in nodes:
        keys[x] = derive_node_key(suite, path_secret)
        path_secret = _next_path_secret(suite, path_secret)
    return keys, path_secret


def private_state_from_path_secret(
    tree: RatchetTree,
    own_leaf: int,
    leaf_key: HPKEPrivateKey,
    committer_leaf: int | None = None,
    path_secret: bytes | None = None,
) -> TreePrivateState:
    """A joiner's private state (RFC 9420 12.4.3.1): the leaf key of its key package, plus, when the Welcome's
    GroupSecrets carry a ``path_secret``, the keys derived from it for the lowest common ancestor of
    ``own_leaf`` and ``committer_leaf`` (the GroupInfo signer) and every node above it on the committer's
    filtered direct path. Raises UpdatePathError (``public_key``) if a derived key is not the tree's, and
    LocalMLSError if ``leaf_key`` is not the key of ``own_leaf``.
    """
    suite = tree.suite
    if tree.member_leaf(own_leaf).encryption_key != leaf_key.public_bytes():
        raise LocalMLSError(f"leaf_key is not the encryption key of leaf {own_leaf}")
    if path_secret is None:
        return TreePrivateState(suite, own_leaf, leaf_key, {})
    if committer_leaf is None:
        raise LocalMLSError("a path_secret needs the committer's leaf index")
    path = tree.filtered_direct_path(committer_leaf)
    lca = common_ancestor(2 * own_leaf, 2 * committer_leaf)
    if lca not in path:
        raise UpdatePathError("public_key", f"node {lca} is not on the committer's filtered direct path")
    keys, _ = _derive_path(suite, path_secret, path[path.index(lca) :])
    for x, key in keys.items():
        node = tree.node(x)
        if node is None or node.encryption_key != key.public_bytes():
            raise UpdatePathError("public_key", f"the key derived for node {x} is not the tree's")
    return TreePrivateState(suite, own_leaf, leaf_key, keys)
