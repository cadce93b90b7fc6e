"""Array-based left-balanced binary tree math (RFC 9420 appendix C).

Nodes are indexed in-order: leaves are even (leaf ``i`` is node ``2*i``), parents are odd. A tree of ``n``
leaves (``n`` a power of two for a full tree) has ``2*n - 1`` nodes. All functions take and return node
indices unless their name says ``leaf``.
"""

from __future__ import annotations


def level(x: int) -> int:
    """Height of node ``x`` above the leaves (leaves are level 0)."""
    if x & 1 == 0:
        return 0
    k = 0
    while (x >> k) & 1 == 1:
        k += 1
    return k


def node_width(n_leaves: int) -> int:
    return 0 if n_leaves == 0 else 2 * (n_leaves - 1) + 1


def root(n_leaves: int) -> int:
    w = node_width(n_leaves)
    return (1 << (w.bit_length() - 1)) - 1


def left(x: int) -> int:
    k = level(x)
    if k == 0:
        raise ValueError(f"leaf node {x} has no children")
    return x ^ (0x01 << (k - 1))


def right(x: int) -> int:
    k = level(x)
    if k == 0:
        raise ValueError(f"leaf node {x} has no children")
    return x ^ (0x03 << (k - 1))


def parent(x: int, n_leaves: int) -> int:
    if x == root(n_leaves):
        raise ValueError(f"root node {x} has no parent")
    k = level(x)
    b = (x >> (k + 1)) & 0x01
    return (x | (1 << k)) ^ (b << (k + 1))


def sibling(x: int, n_leaves: int) -> int:
    p = parent(x, n_leaves)
    return right(p) if x < p else left(p)


def direct_path(x: int, n_leaves: int) -> list[int]:
    """Parents of ``x`` up to and including the root (empty for the root)."""
    r = root(n_leaves)
    out: list[int] = []
    while x != r:
        x = parent(x, n_leaves)
        out.append(x)
    return out


def copath(x: int, n_leaves: int) -> list[int]:
    """Siblings of ``x`` and of each node on its direct path except the root."""
    if x == root(n_leaves):
        return []
    d = [x, *direct_path(x, n_leaves)]
    d.pop()
    return [sibling(y, n_leaves) for y in d]


def is_ancestor(a: int, b: int) -> bool:
    """True when ``a`` is an ancestor of ``b`` (or ``a == b``)."""
    k = level(a)
    return (a >> (k + 1)) == (b >> (k + 1)) and (a == b or level(b) < k)


def common_ancestor(x: int, y: int) -> int:
    """Lowest common ancestor of two nodes."""
    lx, ly = level(x) + 1, level(y) + 1
    if lx <= ly and (x >> ly) == (y >> ly):
        return y
    if ly <= lx and (x >> lx) == (y >> lx):
        return x
    xn, yn, k = x, y, 0
    while xn != yn:
        xn >>= 1
        yn >>= 1
        k += 1
    return (xn << k) + (1 << (k - 1)) - 1


def leaf_to_node(leaf: int) -> int:
    return 2 * leaf


def node_to_leaf(node: int) -> int:
    if node & 1:
        raise ValueError(f"node {node} is not a leaf")
    return node >> 1
