"""Every case of every official MLS test-vector file passes, for every cipher suite in it.

The same runner as ``pyxmtp mls vectors`` (:mod:`pyxmtp.mls.vectors`); the expected case counts catch a file
that was truncated or replaced.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyxmtp.mls.vectors import run_file
from tests.conftest import require_vectors

FILES = {
    "tree-math": 10,
    "deserialization": 14,
    "crypto-basics": 7,
    "messages": 300,
    "secret-tree": 21,
    "key-schedule": 7,
    "psk_secret": 77,
    "transcript-hashes": 7,
    "message-protection": 7,
    "welcome": 7,
    "tree-validation": 98,
    "tree-operations": 5,
    "treekem": 77,
    "passive-client-welcome": 56,
    "passive-client-handling-commit": 91,
    "passive-client-random": 1,
}


@pytest.mark.parametrize(("name", "count"), FILES.items(), ids=list(FILES))
def test_official_vector_file(name: str, count: int) -> None:
    result = run_file(require_vectors() / f"{name}.json")
    failures = "\n".join(
        f"case {c.index} (suite {c.cipher_suite}): {c.reason}" for c in result.failures()[:10]
    )
    assert result.ok, f"{name}: {result.passed}/{result.total} passed\n{failures}"
    assert result.total == count


def test_cli_reports_per_file_and_fails_on_a_bad_case(tmp_path: Path) -> None:
    """``pyxmtp mls vectors`` prints '<file>: <passed>/<total> passed' and exits non-zero on any failed case."""

    good = require_vectors() / "tree-math.json"
    cases = json.loads(good.read_text())
    cases[0]["root"] += 1
    bad = tmp_path / "tree-math.json"
    bad.write_text(json.dumps(cases))
    cmd = [sys.executable, "-m", "pyxmtp", "mls", "vectors"]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stdout.strip() == f"{good}: 10/10 passed"
    failed = subprocess.run([*cmd, str(good), str(bad)], capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    assert lines[1] == f"{bad}: 9/10 passed" and lines[2].startswith("  case 0: VectorMismatch: root")
