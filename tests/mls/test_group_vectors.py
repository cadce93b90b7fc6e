"""The passive-client test vectors (join from a Welcome, then process proposals and commits) for every suite."""

from __future__ import annotations

import pytest

from pyxmtp.mls.vectors import run_file
from tests.conftest import require_vectors


@pytest.mark.parametrize(
    ("name", "count"),
    [("passive-client-welcome", 56), ("passive-client-handling-commit", 91), ("passive-client-random", 1)],
)
def test_passive_client_vectors(name: str, count: int) -> None:
    result = run_file(require_vectors() / f"{name}.json")
    failures = "\n".join(
        f"case {c.index} (suite {c.cipher_suite}): {c.reason}" for c in result.failures()[:10]
    )
    assert (result.passed, result.total) == (count, count), failures
