"""Every case of every official MLS test-vector file passes (the same runner as ``pyxmtp mls vectors``)."""

from __future__ import annotations

import pytest

from pyxmtp.mls.vectors import run_file
from tests.conftest import require_vectors

FILES = [
    "tree-math",
    "deserialization",
    "crypto-basics",
    "messages",
    "secret-tree",
    "key-schedule",
    "psk_secret",
    "transcript-hashes",
    "message-protection",
    "welcome",
    "tree-validation",
    "tree-operations",
    "treekem",
    "passive-client-welcome",
    "passive-client-handling-commit",
    "passive-client-random",
]


@pytest.mark.parametrize("name", FILES)
def test_official_vector_file(name: str) -> None:
    path = require_vectors() / f"{name}.json"
    result = run_file(path)
    failures = "\n".join(
        f"case {c.index} (suite {c.cipher_suite}): {c.reason}" for c in result.failures()[:10]
    )
    assert result.ok, f"{name}: {result.passed}/{result.total} passed\n{failures}"
