"""Fixtures for interop tests: one ts-mls harness process per test session (per xdist worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import interop_unavailable
from tests.interop.tsmls_peer import HarnessUnavailable, TsMlsHarness


@pytest.fixture(scope="session")
def tsmls() -> Iterator[TsMlsHarness]:
    try:
        harness = TsMlsHarness.start()
    except HarnessUnavailable as e:
        interop_unavailable(str(e))
        raise AssertionError("unreachable") from e
    try:
        yield harness
    finally:
        harness.close()
