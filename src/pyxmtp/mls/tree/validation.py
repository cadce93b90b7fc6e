"""Whole-tree validation when joining a group (RFC 9420 section 12.4.3.1) and parent-hash verification
(section 7.9.2).

:func:`validate_tree` checks, in this order, raising :class:`TreeValidationError` (a
:class:`~pyxmtp.mls.errors.ValidationError`; ``check`` names the rule, ``node`` the node index) or a
:class:`~pyxmtp.mls.tree.leaf_validation.LeafValidationError` / ``LeafSignatureError`` for a leaf:

``encryption_key`` / ``signature_key``
    no encryption key appears in two nodes; no signature key in two leaves.
``unmerged_leaves``
    every entry of a parent's ``unmerged_leaves`` is a non-blank leaf below that parent, listed once, and
    also listed by every non-blank node between the leaf and that parent.
``tree_hash``
    the root tree hash equals the GroupInfo's (when one is given).
``parent_hash``
    every non-blank parent is parent-hash valid: exactly one descendant D links to it (top-down form of
    RFC 9420 7.9.2).
leaf checks
    every leaf passes :func:`~pyxmtp.mls.tree.leaf_validation.verify_leaf_signature` (with the group id and
    its index), :func:`~pyxmtp.mls.tree.leaf_validation.check_leaf_content` and the credential-support
    check against all members.

Cost: O(n) hashing once (cached afterwards), one signature verification per member.
"""

from __future__ import annotations

from ..errors import LocalMLSError, ValidationError
from ..messages.group_info import GroupContext
from .hashes import parent_hash_of
from .leaf_validation import LeafRules, check_credential_support, check_leaf_content, verify_leaf_signature
from .nodes import LeafNode, ParentNode
from .ratchet_tree import RatchetTree, leaf_range

__all__ = [
    "TreeValidationError",
    "validate_tree",
    "validate_tree_for_group",
    "verify_parent_hashes",
]


class TreeValidationError(ValidationError):
    """A received ratchet tree breaks a rule; ``check`` names it and ``node`` is the node index (or None)."""

    def __init__(self, check: str, node: int | None, reason: str) -> None:
        self.check = check
        self.node = node
        self.reason = reason
        where = "ratchet tree" if node is None else f"ratchet tree node {node}"
        super().__init__(f"{where}: {check}: {reason}")


def _check_unique_keys(tree: RatchetTree) -> None:
    enc: dict[bytes, int] = {}
    sig: dict[bytes, int] = {}
    for x in range(tree.n_nodes):
        value = tree.node(x)
        if value is None:
            continue
        first = enc.setdefault(value.encryption_key, x)
        if first != x:
            raise TreeValidationError("encryption_key", x, f"encryption key also used by node {first}")
        if isinstance(value, LeafNode):
            first = sig.setdefault(value.signature_key, x)
            if first != x:
                raise TreeValidationError("signature_key", x, f"signature key also used by node {first}")


def _check_unmerged_leaves(tree: RatchetTree) -> None:
    for p, parent in tree.parents():
        lo, hi = leaf_range(p)
        seen: set[int] = set()
        for i in parent.unmerged_leaves:
            if i in seen:
                raise TreeValidationError("unmerged_leaves", p, f"leaf {i} is listed twice")
            seen.add(i)
            if not lo <= i < hi:
                raise TreeValidationError("unmerged_leaves", p, f"leaf {i} is not below this node")
            if tree.leaf(i) is None:
                raise TreeValidationError("unmerged_leaves", p, f"leaf {i} is blank")
            for y in tree.direct_path(i):
                if y == p:
                    break
                between = tree.node(y)
                if isinstance(between, ParentNode) and i not in between.unmerged_leaves:
                    raise TreeValidationError(
                        "unmerged_leaves", p, f"leaf {i} is unmerged here but not at node {y} below"
                    )


def _stored_parent_hash(tree: RatchetTree, d: int) -> bytes | None:
    value = tree.node(d)
    if isinstance(value, ParentNode):
        return value.parent_hash
    if isinstance(value, LeafNode):
        return value.parent_hash  # None unless the leaf came from a commit
    return None


def verify_parent_hashes(tree: RatchetTree) -> None:
    """Raise :class:`TreeValidationError` (check ``parent_hash``) unless every non-blank parent node is
    parent-hash valid (RFC 9420 7.9.2): exactly one descendant D, in the resolution of one child C, has
    ``D.parent_hash`` equal to the parent hash of P with the other child as copath child, where the
    resolution of C minus D is exactly P's unmerged leaves under C."""
    for p, parent in tree.parents():
        half = 1 << ((((~p) & (p + 1)).bit_length() - 1) - 1)
        links = 0
        for c, s in ((p - half, p + half), (p + half, p - half)):
            lo, hi = leaf_range(c)
            unmerged = {2 * i for i in parent.unmerged_leaves if lo <= i < hi}
            res = tree.resolution(c, limit=len(unmerged) + 2)
            if len(res) != len(unmerged) + 1:
                continue
            others = [d for d in res if d not in unmerged]
            if len(others) != 1:
                continue
            stored = _stored_parent_hash(tree, others[0])
            if stored is not None and stored == parent_hash_of(tree, p, s):
                links += 1
        if links != 1:
            reason = "no descendant's parent_hash links to it" if links == 0 else "two descendants link to it"
            raise TreeValidationError("parent_hash", p, f"not parent-hash valid: {reason}")


def validate_tree(
    tree: RatchetTree,
    rules: LeafRules,
    *,
    tree_hash: bytes | None,
    now: int | None = None,
    max_lifetime_range: int | None = None,
) -> None:
    """Validate a ratchet tree received when joining (see the module docstring for the checks and order).

    ``tree_hash``: the GroupInfo's tree hash (None skips the comparison). ``now``: Unix seconds for the
    lifetime checks of key_package leaves; None skips them (RFC 9420 7.3 only recommends them for received
    trees, and long-lived groups hold leaves whose key packages expired since they were added: the group's
    ``check_received_lifetimes`` decides), and their range to ``max_lifetime_range`` if given.
    """
    _check_unique_keys(tree)
    _check_unmerged_leaves(tree)
    if tree_hash is not None:
        ours = tree.tree_hash()
        if ours != tree_hash:
            raise TreeValidationError(
                "tree_hash", tree.root, f"tree hash {ours.hex()} != expected {tree_hash.hex()}"
            )
    verify_parent_hashes(tree)
    suite = tree.suite
    for i, leaf in tree.members():
        verify_leaf_signature(suite, leaf, rules.group_id, i)
        check_leaf_content(suite, leaf, rules, i, now, max_lifetime_range)
        check_credential_support(tree, leaf, i, None)


def validate_tree_for_group(
    tree: RatchetTree, context: GroupContext, *, now: int | None = None, max_lifetime_range: int | None = None
) -> None:
    """:func:`validate_tree` against a joiner's GroupInfo group context (its suite, id, tree hash and
    ``required_capabilities``)."""
    if context.cipher_suite != tree.suite.id:
        raise LocalMLSError(
            f"tree built for suite 0x{tree.suite.id:04x}, group context is 0x{context.cipher_suite:04x}"
        )
    rules = LeafRules.from_group_context(context)
    validate_tree(tree, rules, tree_hash=context.tree_hash, now=now, max_lifetime_range=max_lifetime_range)
