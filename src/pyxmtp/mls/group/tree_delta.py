"""Staging tree changes without copying the tree.

A commit changes O(k log n) nodes of the ratchet tree (k = proposals + path). Copying the whole tree to stage
them would cost O(n) per commit, so instead a :class:`TreeJournal` applies the changes to the live tree while
the commit is computed (TreeKEM needs the changed tree: filtered paths, resolutions, tree and parent hashes),
records what each change overwrote, and at the end captures the final values of every touched node as a
:class:`TreeDelta` and puts the live tree back exactly as it was. Merging the commit replays the delta.

Every mutation of :class:`~pyxmtp.mls.tree.ratchet_tree.RatchetTree` touches only one leaf and its direct path
(plus growing or truncating the tree), so snapshotting that path before each mutation is a complete undo log,
and the final values of the touched leaves' direct paths in the final tree are a complete redo log.

A :class:`TreeDelta` also keeps the leaves as they were before the commit (``old_leaves``): a past epoch
keeps only those, and looks every other leaf up in newer epochs (see :mod:`.state`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..codec import Reader, Writer
from ..messages._codec import encode_item
from ..tree.nodes import LeafNode, Node
from ..tree.ratchet_tree import NodeValue, RatchetTree

_Snapshot = tuple[list[tuple[int, NodeValue]], int]


@dataclass(frozen=True, slots=True)
class TreeDelta:
    """The node values a commit writes (``nodes``: node index -> value, in a tree of ``n_leaves`` leaves) and
    the previous values of the leaves it changes (``old_leaves``: leaf index -> leaf or None if blank)."""

    nodes: tuple[tuple[int, NodeValue], ...]
    n_leaves: int
    old_leaves: tuple[tuple[int, LeafNode | None], ...]

    def apply(self, tree: RatchetTree) -> None:
        """Replay the commit's changes onto the tree they were computed from."""
        tree.restore(list(self.nodes), self.n_leaves)

    def encode(self, w: Writer) -> None:
        def node(ww: Writer, item: tuple[int, NodeValue]) -> None:
            ww.u32(item[0])
            ww.optional(None if item[1] is None else Node(item[1]), encode_item)

        def leaf(ww: Writer, item: tuple[int, LeafNode | None]) -> None:
            ww.u32(item[0])
            ww.optional(item[1], encode_item)

        w.vector_v(self.nodes, node)
        w.u32(self.n_leaves)
        w.vector_v(self.old_leaves, leaf)

    @classmethod
    def decode(cls, r: Reader) -> TreeDelta:
        def node(rr: Reader) -> tuple[int, NodeValue]:
            x = rr.u32()
            n = rr.optional(Node.decode)
            value = None if n is None else n.value
            if value is not None and isinstance(value, LeafNode) != (x % 2 == 0):
                raise rr.error(f"node {x}: wrong node type for its position")
            return x, value

        def leaf(rr: Reader) -> tuple[int, LeafNode | None]:
            return rr.u32(), rr.optional(LeafNode.decode)

        with r.structure("TreeDelta"):
            nodes = tuple(r.vector_v(node))
            n_leaves = r.u32()
            if n_leaves < 1 or n_leaves & (n_leaves - 1):
                raise r.error(f"tree width {n_leaves} is not a power of two")
            return cls(nodes, n_leaves, tuple(r.vector_v(leaf)))


class TreeJournal:
    """Records changes made to ``tree`` so they can be captured and undone (see the module docstring).

    Call :meth:`touch` with a leaf index *before* each mutation that concerns that leaf (an Add: the index
    :meth:`RatchetTree.free_leaf_index` returns; a path: the committer's leaf). Finish with :meth:`capture`
    (returns the delta and restores the tree) or, on failure, :meth:`rollback`.
    """

    __slots__ = ("_leaves", "_old_leaves", "_undo", "tree")

    def __init__(self, tree: RatchetTree) -> None:
        self.tree = tree
        self._undo: list[_Snapshot] = []
        self._leaves: list[int] = []
        self._old_leaves: dict[int, LeafNode | None] = {}

    def touch(self, leaf_index: int) -> None:
        tree = self.tree
        self._undo.append(tree.snapshot_path(leaf_index))
        if leaf_index not in self._old_leaves:
            self._old_leaves[leaf_index] = tree.leaf(leaf_index) if leaf_index < tree.n_leaves else None
            self._leaves.append(leaf_index)

    def rollback(self) -> None:
        """Put the tree back as it was before the first :meth:`touch`."""
        undo, self._undo = self._undo, []
        for saved, n_leaves in reversed(undo):
            self.tree.restore(saved, n_leaves)

    def capture(self) -> TreeDelta:
        """The delta from the original tree to the current one; the tree is then restored."""
        tree = self.tree
        n = tree.n_leaves
        final: dict[int, NodeValue] = {}
        for i in self._leaves:
            if i < n:
                final[2 * i] = tree.node(2 * i)
                for x in tree.direct_path(i):
                    final[x] = tree.node(x)
        delta = TreeDelta(tuple(sorted(final.items())), n, tuple(sorted(self._old_leaves.items())))
        self.rollback()
        return delta


@contextmanager
def journaled(tree: RatchetTree) -> Iterator[TreeJournal]:
    """``with journaled(tree) as j: ...``: the tree is rolled back if the block raises. The block must end with
    ``j.capture()`` (which also restores the tree) to keep the changes as a delta."""
    journal = TreeJournal(tree)
    try:
        yield journal
    except BaseException:
        journal.rollback()
        raise


__all__ = ["TreeDelta", "TreeJournal", "journaled"]
