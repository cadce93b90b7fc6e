"""Shared fixtures: where the official MLS test vectors live, and how their absence is reported."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.mls.vectors import default_dir

VECTOR_HINT = (
    "official MLS test vectors not found: set MLS_TEST_VECTORS to the directory holding tree-math.json etc. "
    "(mlswg/mls-implementations test-vectors/), or put them at ../shared/vectors/mls relative to the repo"
)


def vectors_dir() -> Path | None:
    d = default_dir()
    return d if d is not None and (d / "tree-math.json").is_file() else None


def require_vectors() -> Path:
    """The vector directory, or skip (fail when PYXMTP_REQUIRE_VECTORS=1) with a reason saying where to put them."""
    d = vectors_dir()
    if d is None:
        if os.environ.get("PYXMTP_REQUIRE_VECTORS") == "1":
            pytest.fail(VECTOR_HINT + " (PYXMTP_REQUIRE_VECTORS=1 makes this a failure)")
        pytest.skip(VECTOR_HINT)
    return d


@pytest.fixture
def mls_vectors() -> Path:
    return require_vectors()


def interop_unavailable(reason: str) -> None:
    """Skip a test whose independent peer (libxmtp, ts-mls) is missing; fail under PYXMTP_REQUIRE_INTEROP=1."""
    if os.environ.get("PYXMTP_REQUIRE_INTEROP") == "1":
        pytest.fail(f"{reason} (PYXMTP_REQUIRE_INTEROP=1 makes this a failure)")
    pytest.skip(reason)


def require_xmtp_bindings() -> Any:
    """``xmtp_bindings.xmtpv3`` (real libxmtp, a dev dependency), or skip/fail as :func:`interop_unavailable`."""
    os.environ.setdefault("RUST_LOG", "off")  # before libxmtp loads: no tracing on stderr
    try:
        from xmtp_bindings import xmtpv3
    except ImportError as exc:
        interop_unavailable(f"xmtp-bindings==0.1.8 (libxmtp) is not installed: {exc}; run `make install-dev`")
        raise  # unreachable: skip/fail raise
    return xmtpv3
