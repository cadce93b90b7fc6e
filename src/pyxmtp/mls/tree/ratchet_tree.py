"""The public ratchet tree (RFC 9420 sections 4.1, 7.1, 7.7-7.9).

A :class:`RatchetTree` is the group's public tree: an array of nodes in in-order (leaf ``i`` at node ``2*i``,
parents at odd indices), always a full tree of ``n_leaves`` = 2^d leaves. Blank nodes are ``None``; leaves are
:class:`~pyxmtp.mls.tree.nodes.LeafNode`, parents :class:`~pyxmtp.mls.tree.nodes.ParentNode` (both frozen).

Everything a commit touches costs O(log n), :meth:`RatchetTree.copy` included:

* per-node tree hashes are cached; changing a node invalidates it and its ancestors only;
* per-node counts of non-blank nodes (and leaves) in each subtree make "is this resolution empty" and "the
  leftmost blank leaf" O(log n), and :meth:`RatchetTree.resolution` O(size of the answer * log n);
* indexes of encryption keys (every node), signature keys (leaves) and credential types in use/supported
  make the uniqueness and capability checks of leaf validation O(1);
* all per-node arrays and indexes are copy-on-write: :meth:`RatchetTree.copy` shares 256-entry chunks (and
  index shards of ~32 keys) with the original, and a change copies only the chunks it writes.

Mutators (:meth:`~RatchetTree.add_leaf`, :meth:`~RatchetTree.update_leaf`, :meth:`~RatchetTree.remove_leaf`,
:meth:`~RatchetTree.install_path`, :meth:`~RatchetTree.set_leaf`) change the tree in place; stage changes on a
:meth:`~RatchetTree.copy`. They raise :class:`~pyxmtp.mls.errors.LocalMLSError` for misuse (index out of
range, blank leaf) before changing anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from typing import Self

from ..crypto.suite import CipherSuite
from ..errors import LocalMLSError, ValidationError
from ._cow import _CowArray, _CowIndex
from .hashes import leaf_tree_hash, parent_hash, parent_tree_hash
from .nodes import LeafNode, Node, ParentNode, decode_ratchet_tree, encode_ratchet_tree

NodeValue = LeafNode | ParentNode | None


def _level(x: int) -> int:
    """Height of node ``x`` (number of trailing one bits)."""
    return ((~x) & (x + 1)).bit_length() - 1


def _parent(x: int) -> int:
    """Parent of ``x`` in an unbounded left-balanced tree (the caller stops at the root)."""
    k = _level(x)
    return (x | (1 << k)) ^ (((x >> (k + 1)) & 1) << (k + 1))


def leaf_range(x: int) -> tuple[int, int]:
    """Leaf indices ``[lo, hi)`` under node ``x``."""
    k = _level(x)
    lo = (x + 1 - (1 << k)) >> 1
    return lo, lo + (1 << k)


class RatchetTree:
    """The group's public ratchet tree. Build with :meth:`from_nodes`, :meth:`from_bytes` or :meth:`create`."""

    __slots__ = (
        "_count",
        "_cred_supported",
        "_cred_used",
        "_enc",
        "_hashes",
        "_leaves",
        "_members",
        "_nodes",
        "_sig",
        "suite",
    )

    suite: CipherSuite
    _nodes: _CowArray[NodeValue]
    _hashes: _CowArray[bytes | None]  # cached tree hash per node; None = stale
    _count: _CowArray[int]  # non-blank nodes in each node's subtree
    _leaves: _CowArray[int]  # non-blank leaves in each node's subtree
    _enc: _CowIndex  # encryption key -> node index
    _sig: _CowIndex  # signature key -> leaf index
    _cred_used: Counter[int]  # credential type -> members using it
    _cred_supported: Counter[int]  # credential type -> members listing it in capabilities
    _members: int

    def __init__(self, suite: CipherSuite, nodes: Sequence[NodeValue]) -> None:
        """A tree over ``nodes`` (full width 2^(d+1)-1, values at the right positions); prefer the builders."""
        width = len(nodes)
        if width & (width + 1):
            raise LocalMLSError(f"{width} nodes is not a full tree")
        self.suite = suite
        self._enc = _CowIndex(width)
        self._sig = _CowIndex(width // 2)
        self._cred_used = Counter()
        self._cred_supported = Counter()
        self._members = 0
        count = [0] * width
        leaves = [0] * width
        for x, value in enumerate(nodes):
            if value is None:
                continue
            self._enc.set(value.encryption_key, x)
            if isinstance(value, LeafNode):
                self._remember_leaf(x >> 1, value)
                count[x] = leaves[x] = 1
        level = 1
        while (1 << level) <= width:  # subtree counts, bottom-up by level
            half = 1 << (level - 1)
            for x in range((1 << level) - 1, width, 1 << (level + 1)):
                leaves[x] = leaves[x - half] + leaves[x + half]
                count[x] = count[x - half] + count[x + half] + (nodes[x] is not None)
            level += 1
        self._nodes = _CowArray(list(nodes))
        self._hashes = _CowArray([None] * width)
        self._count = _CowArray(count)
        self._leaves = _CowArray(leaves)

    # --- construction and export ---------------------------------------------------------------------------
    @classmethod
    def from_nodes(cls, suite: CipherSuite, nodes: Sequence[Node | None]) -> Self:
        """The tree of a ``ratchet_tree`` node list, padded with blanks to a full tree.

        Raises :class:`ValidationError` for an empty list or a leaf/parent in the wrong position. Nothing else
        is checked here: a received tree must go through :func:`pyxmtp.mls.tree.validation.validate_tree`.
        """
        if not nodes:
            raise ValidationError("ratchet tree has no nodes")
        n_leaves = 1
        while 2 * n_leaves - 1 < len(nodes):
            n_leaves *= 2
        values: list[NodeValue] = [None] * (2 * n_leaves - 1)
        for x, node in enumerate(nodes):
            if node is None:
                continue
            value = node.value
            if isinstance(value, LeafNode) != (x % 2 == 0):
                raise ValidationError(
                    f"ratchet tree: node {x} is a {node.node_type.name} node in the wrong position"
                )
            values[x] = value
        return cls(suite, values)

    @classmethod
    def from_bytes(cls, suite: CipherSuite, data: bytes) -> Self:
        """Parse ``optional<Node> ratchet_tree<V>`` bytes (DecodeError if malformed or untruncated)."""
        return cls.from_nodes(suite, decode_ratchet_tree(data))

    @classmethod
    def create(cls, suite: CipherSuite, leaf: LeafNode) -> Self:
        """A one-member tree (group creation)."""
        return cls(suite, [leaf])

    def to_nodes(self) -> list[Node | None]:
        """The node list for a ``ratchet_tree`` extension: trailing blank nodes removed."""
        nodes = list(self._nodes)
        end = len(nodes)
        while end > 0 and nodes[end - 1] is None:
            end -= 1
        return [None if v is None else Node(v) for v in nodes[:end]]

    def to_bytes(self) -> bytes:
        """``optional<Node> ratchet_tree<V>`` bytes (truncated)."""
        return encode_ratchet_tree(self.to_nodes())

    def copy(self) -> RatchetTree:
        """An independent tree with the same contents, sharing storage copy-on-write (O(n/256))."""
        t = RatchetTree.__new__(RatchetTree)
        t.suite = self.suite
        t._nodes = self._nodes.copy()
        t._hashes = self._hashes.copy()
        t._count = self._count.copy()
        t._leaves = self._leaves.copy()
        t._enc = self._enc.copy()
        t._sig = self._sig.copy()
        t._cred_used = self._cred_used.copy()
        t._cred_supported = self._cred_supported.copy()
        t._members = self._members
        return t

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RatchetTree):
            return NotImplemented
        return self.suite.id == other.suite.id and list(self._nodes) == list(other._nodes)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<RatchetTree suite=0x{self.suite.id:04x} leaves={self.n_leaves} members={self._members}>"

    # --- shape and access ----------------------------------------------------------------------------------
    @property
    def n_leaves(self) -> int:
        """Width of the tree in leaves (a power of two, including blank leaves)."""
        return (len(self._nodes) + 1) // 2

    @property
    def n_nodes(self) -> int:
        return len(self._nodes)

    @property
    def root(self) -> int:
        return (len(self._nodes) - 1) // 2

    @property
    def member_count(self) -> int:
        """Number of non-blank leaves."""
        return self._members

    def node(self, x: int) -> NodeValue:
        """The value at node index ``x`` (None when blank); LocalMLSError if out of range."""
        if not 0 <= x < len(self._nodes):
            raise LocalMLSError(f"node index {x} is outside a tree of {len(self._nodes)} nodes")
        return self._nodes[x]

    def leaf(self, leaf_index: int) -> LeafNode | None:
        """The leaf node of member ``leaf_index``, None if blank; LocalMLSError if out of range."""
        if not 0 <= leaf_index < self.n_leaves:
            raise LocalMLSError(f"leaf index {leaf_index} is outside a tree of {self.n_leaves} leaves")
        value = self._nodes[2 * leaf_index]
        assert value is None or isinstance(value, LeafNode)
        return value

    def parent_node(self, x: int) -> ParentNode | None:
        value = self.node(x)
        if x % 2 == 0:
            raise LocalMLSError(f"node {x} is a leaf position, not a parent")
        assert value is None or isinstance(value, ParentNode)
        return value

    def member_leaf(self, leaf_index: int) -> LeafNode:
        """The non-blank leaf of ``leaf_index``; LocalMLSError if blank or out of range."""
        leaf = self.leaf(leaf_index)
        if leaf is None:
            raise LocalMLSError(f"leaf {leaf_index} is blank")
        return leaf

    def members(self) -> Iterator[tuple[int, LeafNode]]:
        """``(leaf_index, leaf)`` for every non-blank leaf, in index order."""
        for x, value in enumerate(self._nodes):
            if isinstance(value, LeafNode):
                yield x >> 1, value

    def parents(self) -> Iterator[tuple[int, ParentNode]]:
        """``(node_index, parent)`` for every non-blank parent node."""
        for x, value in enumerate(self._nodes):
            if isinstance(value, ParentNode):
                yield x, value

    def free_leaf_index(self) -> int:
        """The leftmost blank leaf, or ``n_leaves`` if none (the first leaf of the extended tree)."""
        x = self.root
        leaves = self._leaves
        if leaves[x] == self.n_leaves:
            return self.n_leaves
        while x & 1:
            half = 1 << (_level(x) - 1)
            x = x - half if leaves[x - half] < half else x + half  # a subtree of ``half`` leaves
        return x >> 1

    def leaf_index_of_signature_key(self, signature_key: bytes) -> int | None:
        return self._sig.get(signature_key)

    def node_of_encryption_key(self, encryption_key: bytes) -> int | None:
        """The node holding ``encryption_key`` (leaf or parent), or None."""
        return self._enc.get(encryption_key)

    def find_leaf(self, leaf: LeafNode) -> int | None:
        """The index of a leaf identical to ``leaf`` (joining: find our own leaf), or None."""
        i = self._sig.get(leaf.signature_key)
        if i is not None and self._nodes[2 * i] == leaf:
            return i
        return None

    @property
    def credential_counts(self) -> tuple[Counter[int], Counter[int], int]:
        """``(used, supported, members)``: per credential type, how many members use it and how many list it
        in their capabilities, and the number of members (read-only views for leaf validation)."""
        return self._cred_used, self._cred_supported, self._members

    # --- paths and resolutions --------------------------------------------------------------------------
    def _check_leaf_index(self, leaf_index: int) -> None:
        if not 0 <= leaf_index < self.n_leaves:
            raise LocalMLSError(f"leaf index {leaf_index} is outside a tree of {self.n_leaves} leaves")

    def direct_path(self, leaf_index: int) -> list[int]:
        """Node indices of the parents of leaf ``leaf_index`` up to the root."""
        self._check_leaf_index(leaf_index)
        root = self.root
        x = 2 * leaf_index
        out: list[int] = []
        while x != root:
            x = _parent(x)
            out.append(x)
        return out

    def copath(self, leaf_index: int) -> list[int]:
        """Siblings of the leaf and of each direct-path node below the root."""
        self._check_leaf_index(leaf_index)
        root = self.root
        x = 2 * leaf_index
        out: list[int] = []
        while x != root:
            p = _parent(x)
            out.append(2 * p - x)
            x = p
        return out

    def filtered_path(self, leaf_index: int) -> list[tuple[int, int]]:
        """``(node, copath_child)`` for each node of the filtered direct path of ``leaf_index``, bottom-up.

        A direct-path node is kept when its child on the copath has a non-empty resolution (RFC 9420 4.1.2).
        """
        self._check_leaf_index(leaf_index)
        root = self.root
        count = self._count
        x = 2 * leaf_index
        out: list[tuple[int, int]] = []
        while x != root:
            p = _parent(x)
            s = 2 * p - x
            if count[s]:
                out.append((p, s))
            x = p
        return out

    def filtered_direct_path(self, leaf_index: int) -> list[int]:
        return [p for p, _ in self.filtered_path(leaf_index)]

    def resolution(self, x: int, exclude_leaves: Collection[int] = (), limit: int | None = None) -> list[int]:
        """Resolution of node ``x`` (RFC 9420 4.1.1) as node indices, leaving out the leaves (leaf indices) in
        ``exclude_leaves`` (members added by the commit being built, RFC 9420 12.4.2).

        With ``limit``, the walk stops once at least ``limit`` nodes were found (the answer is then a prefix of
        at least ``limit`` nodes): enough to tell "more than k" without walking a large blank subtree.
        """
        if not 0 <= x < len(self._nodes):
            raise LocalMLSError(f"node index {x} is outside a tree of {len(self._nodes)} nodes")
        out: list[int] = []
        self._resolve(x, out, len(self._nodes) if limit is None else limit)
        if exclude_leaves:
            drop = {2 * i for i in exclude_leaves}
            out = [y for y in out if y not in drop]
        return out

    def _resolve(self, x: int, out: list[int], limit: int) -> None:
        if not self._count[x] or len(out) >= limit:
            return
        value = self._nodes[x]
        if value is not None:
            out.append(x)
            if isinstance(value, ParentNode):
                out.extend(2 * i for i in value.unmerged_leaves)
            return
        half = 1 << (_level(x) - 1)
        self._resolve(x - half, out, limit)
        self._resolve(x + half, out, limit)

    def resolution_is_empty(self, x: int) -> bool:
        return not self._count[x]

    # --- hashes ------------------------------------------------------------------------------------------
    def tree_hash(self) -> bytes:
        """The tree hash of the root (RFC 9420 7.8), for the GroupContext."""
        return self._hash(self.root)

    def node_hash(self, x: int) -> bytes:
        """The tree hash of the subtree under node ``x``; cached, recomputed only along changed paths."""
        if not 0 <= x < len(self._nodes):
            raise LocalMLSError(f"node index {x} is outside a tree of {len(self._nodes)} nodes")
        return self._hash(x)

    def _hash(self, x: int) -> bytes:
        h = self._hashes[x]
        if h is not None:
            return h
        value = self._nodes[x]
        if x % 2 == 0:
            assert value is None or isinstance(value, LeafNode)
            h = leaf_tree_hash(self.suite, x >> 1, value)
        else:
            assert value is None or isinstance(value, ParentNode)
            half = 1 << (_level(x) - 1)
            h = parent_tree_hash(self.suite, value, self._hash(x - half), self._hash(x + half))
        self._hashes[x] = h
        return h

    # --- mutation ----------------------------------------------------------------------------------------
    def add_leaf(self, leaf: LeafNode) -> int:
        """Add a member (RFC 9420 12.1.1): the leftmost blank leaf, extending the tree if none; the new index
        is appended to ``unmerged_leaves`` of every non-blank parent above it. Returns the leaf index."""
        i = self.free_leaf_index()
        if i == self.n_leaves:
            self._extend()
        x = 2 * i
        changes: dict[int, NodeValue] = {x: leaf}
        root = self.root
        y = x
        while y != root:
            y = _parent(y)
            value = self._nodes[y]
            if value is not None:
                assert isinstance(value, ParentNode)
                changes[y] = ParentNode(value.encryption_key, value.parent_hash, (*value.unmerged_leaves, i))
        self._assign_on_path(x, changes)
        return i

    def update_leaf(self, leaf_index: int, leaf: LeafNode) -> None:
        """Apply an Update (RFC 9420 12.1.2): replace the member's leaf and blank its direct path."""
        self.member_leaf(leaf_index)
        changes: dict[int, NodeValue] = dict.fromkeys(self.direct_path(leaf_index))
        changes[2 * leaf_index] = leaf
        self._assign_on_path(2 * leaf_index, changes)

    def remove_leaf(self, leaf_index: int) -> None:
        """Apply a Remove (RFC 9420 12.1.3): blank the leaf and its direct path, then truncate the tree while
        the root's right subtree is entirely blank."""
        self.member_leaf(leaf_index)
        changes: dict[int, NodeValue] = dict.fromkeys(self.direct_path(leaf_index))
        changes[2 * leaf_index] = None
        self._assign_on_path(2 * leaf_index, changes)
        self._truncate()

    def ensure_leaf_slot(self, leaf_index: int) -> None:
        """Make ``leaf_index`` a position of the tree: ``leaf_index == n_leaves`` doubles the tree (the slot of
        an external committer when no leaf is blank, RFC 9420 12.4.2); beyond that is LocalMLSError."""
        if leaf_index == self.n_leaves:
            self._extend()
        self._check_leaf_index(leaf_index)

    def set_leaf(self, leaf_index: int, leaf: LeafNode | None) -> None:
        """Replace one leaf without touching its direct path (low level: TreeKEM uses it after
        :meth:`install_path`). ``leaf_index == n_leaves`` extends the tree first (external commit)."""
        self.ensure_leaf_slot(leaf_index)
        self._assign_on_path(2 * leaf_index, {2 * leaf_index: leaf})

    def install_path(self, leaf_index: int, public_keys: Sequence[bytes]) -> bytes:
        """Merge the public part of an UpdatePath from ``leaf_index`` (RFC 9420 7.5, 7.9).

        Blanks the leaf's direct path, then sets each filtered-direct-path node to a ParentNode with the
        matching key of ``public_keys`` (bottom-up order), empty ``unmerged_leaves`` and its parent hash
        (computed root-down). Returns the parent hash the leaf must carry (empty if the filtered direct path
        is). The leaf itself is untouched. ``leaf_index == n_leaves`` extends the tree first (external
        commit). Raises ValidationError, without changing the tree, if ``public_keys`` does not have one key
        per filtered-direct-path node.
        """
        extended = leaf_index == self.n_leaves
        self.ensure_leaf_slot(leaf_index)
        path = self.filtered_path(leaf_index)
        if len(public_keys) != len(path):
            if extended:
                self._shrink()
            raise ValidationError(
                f"UpdatePath from leaf {leaf_index} has {len(public_keys)} nodes; "
                f"its filtered direct path has {len(path)}"
            )
        changes: dict[int, NodeValue] = dict.fromkeys(self.direct_path(leaf_index))
        ph = b""
        for (p, s), key in zip(reversed(path), reversed(public_keys), strict=True):
            changes[p] = ParentNode(key, ph, ())
            ph = parent_hash(self.suite, key, ph, self._hash(s))
        self._assign_on_path(2 * leaf_index, changes)
        return ph

    def restore(self, saved: list[tuple[int, NodeValue]], n_leaves: int) -> None:
        """Undo changes recorded by :meth:`snapshot_path` (used to roll back a failed UpdatePath)."""
        while self.n_leaves < n_leaves:
            self._extend()
        for x, value in saved:
            if x < len(self._nodes) and self._nodes[x] is not value:
                self._assign_on_path(x, {x: value})
        while self.n_leaves > n_leaves:
            self._shrink()

    def snapshot_path(self, leaf_index: int) -> tuple[list[tuple[int, NodeValue]], int]:
        """The current values of the leaf and its direct path, and ``n_leaves``, for :meth:`restore`."""
        if leaf_index >= self.n_leaves:
            return [], self.n_leaves
        xs = [2 * leaf_index, *self.direct_path(leaf_index)]
        return [(x, self._nodes[x]) for x in xs], self.n_leaves

    # --- internals --------------------------------------------------------------------------------------
    def _remember_leaf(self, leaf_index: int, leaf: LeafNode) -> None:
        self._sig.set(leaf.signature_key, leaf_index)
        self._cred_used[leaf.credential.credential_type] += 1
        for t in set(leaf.capabilities.credentials):
            self._cred_supported[t] += 1
        self._members += 1

    def _forget_leaf(self, leaf_index: int, leaf: LeafNode) -> None:
        self._sig.discard(leaf.signature_key, leaf_index)
        self._cred_used[leaf.credential.credential_type] -= 1
        for t in set(leaf.capabilities.credentials):
            self._cred_supported[t] -= 1
        self._members -= 1

    def _replace(self, x: int, value: NodeValue) -> int:
        """Store ``value`` at ``x`` keeping the indexes right; returns the change in non-blank count."""
        old = self._nodes[x]
        if old is not None:
            self._enc.discard(old.encryption_key, x)
            if isinstance(old, LeafNode):
                self._forget_leaf(x >> 1, old)
        if value is not None:
            self._enc.set(value.encryption_key, x)
            if isinstance(value, LeafNode):
                self._remember_leaf(x >> 1, value)
        self._nodes[x] = value
        return (value is not None) - (old is not None)

    def _assign_on_path(self, start: int, changes: dict[int, NodeValue]) -> None:
        """Apply ``changes`` (every key is ``start`` or one of its ancestors), then fix the counts and
        invalidate cached hashes from ``start`` up to the root."""
        for x, value in changes.items():
            if value is not None and (x % 2 == 0) != isinstance(value, LeafNode):
                raise LocalMLSError(f"node {x}: a {type(value).__name__} cannot go there")
        root = self.root
        delta = 0
        leaf_delta = 0
        y = start
        while True:
            if y in changes:
                d = self._replace(y, changes[y])
                delta += d
                if y % 2 == 0:
                    leaf_delta += d
            self._hashes[y] = None
            if delta:
                self._count[y] += delta
            if leaf_delta:
                self._leaves[y] += leaf_delta
            if y == root:
                break
            y = _parent(y)

    def _extend(self) -> None:
        """Double the tree: a new blank root whose right subtree is entirely blank."""
        n = self.n_leaves
        width = 4 * n - 1
        self._nodes = self._nodes.resized(width, None)
        self._hashes = self._hashes.resized(width, None)
        self._count = self._count.resized(width, 0)
        self._leaves = self._leaves.resized(width, 0)
        self._count[2 * n - 1] = self._count[n - 1]
        self._leaves[2 * n - 1] = self._leaves[n - 1]
        self._enc.reshard(width)
        self._sig.reshard(width // 2)

    def _shrink(self) -> None:
        """Drop the root and its right subtree (blank after a Remove; scanned only when it is not)."""
        n = self.n_leaves
        root = n - 1
        if self._nodes[root] is not None:
            self._replace(root, None)
        if self._count[root + n // 2]:
            for x in range(root + 1, len(self._nodes)):
                if self._nodes[x] is not None:
                    self._replace(x, None)
        self._nodes = self._nodes.resized(root, None)
        self._hashes = self._hashes.resized(root, None)
        self._count = self._count.resized(root, 0)
        self._leaves = self._leaves.resized(root, 0)

    def _truncate(self) -> None:
        while self.n_leaves > 1:
            n = self.n_leaves
            if self._count[(n - 1) + n // 2]:  # the root's right child
                return
            self._shrink()
