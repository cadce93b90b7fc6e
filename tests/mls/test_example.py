"""examples/mls_group.py runs to the end, using nothing of pyxmtp but the public API of ``pyxmtp.mls``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mls_group.py"


def test_the_example_imports_only_the_public_api() -> None:
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.split(".")[0] == "pyxmtp"} == {"pyxmtp.mls"}


def test_the_example_runs() -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=False, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for expected in (
        "bob: joined at epoch 1 as leaf 1",
        "bob: alice says 'hello Bob'",
        "alice: proposal Add cached",
        "carol: joined at epoch 2 as leaf 2",
        "bob: carol says 'hi both'",
        "bob: removed; the last epoch I was in is 2",
        "alice: carol says 'Bob has left'",
        "done: alice, carol remain",
    ):
        assert expected in lines, result.stdout
