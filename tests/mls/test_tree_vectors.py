"""The official tree-validation, tree-operations and treekem vectors, every case of every cipher suite."""

from __future__ import annotations

import pytest

from pyxmtp.mls.vectors import run_file
from tests.conftest import require_vectors


@pytest.mark.parametrize(
    ("name", "count"), [("tree-validation", 98), ("tree-operations", 5), ("treekem", 77)]
)
def test_tree_vector_file(name: str, count: int) -> None:
    result = run_file(require_vectors() / f"{name}.json")
    failures = "\n".join(
        f"case {c.index} (suite {c.cipher_suite}): {c.reason}" for c in result.failures()[:10]
    )
    assert result.ok, f"{name}: {result.passed}/{result.total} passed\n{failures}"
    assert result.total == count
