"""tree-math.json: left/right/parent/sibling/root of every node for ``n_leaves``."""

from __future__ import annotations

from collections.abc import Callable

from ..tree import math as tm
from . import Case, expect


def _or_none(fn: Callable[[int], int], x: int) -> int | None:
    try:
        return fn(x)
    except ValueError:
        return None


def check(case: Case) -> None:
    n = case["n_leaves"]
    expect("n_nodes", tm.node_width(n), case["n_nodes"])
    expect("root", tm.root(n), case["root"])
    for name, fn in (
        ("left", tm.left),
        ("right", tm.right),
        ("parent", lambda x: tm.parent(x, n)),
        ("sibling", lambda x: tm.sibling(x, n)),
    ):
        want = case[name]
        got = [_or_none(fn, x) for x in range(len(want))]
        expect(name, got, want)
