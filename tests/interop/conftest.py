"""Fixtures for interop tests: one ts-mls harness process per test session (per xdist worker)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.interop.tsmls_peer import HarnessUnavailable, TsMlsHarness


def _unavailable(reason: str) -> None:
    if os.environ.get("PYXMTP_REQUIRE_INTEROP") == "1":
        pytest.fail(f"{reason} (PYXMTP_REQUIRE_INTEROP=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tsmls() -> Iterator[TsMlsHarness]:
    try:
        harness = TsMlsHarness.start()
    except HarnessUnavailable as e:
        _unavailable(str(e))
        raise AssertionError("unreachable") from e
    try:
        yield harness
    finally:
        harness.close()
