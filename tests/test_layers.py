"""The layer contract: lower layers never import higher ones (DEVELOPERS.md, architecture).

Checked over the static import graph of every module under src/pyxmtp, including imports inside functions.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pyxmtp"

# layer -> the pyxmtp layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "proto": set(),
    "mls": set(),
    "identity": {"proto"},
    "conversations": {"mls", "identity", "proto"},
    "storage": {"mls", "identity", "proto"},
    "node": {"mls", "identity", "proto", "conversations", "storage"},
    "client": {"mls", "identity", "proto", "conversations", "storage"},
    "agent": {"mls", "identity", "proto", "conversations", "client"},
    "mls_interop": {"mls", "proto"},
    "cli": {"mls", "identity", "proto", "conversations", "storage", "node", "client", "agent", "mls_interop"},
}
TOP_LEVEL_OK = {"__init__", "__main__"}


def _module_name(path: Path, src: Path = SRC) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, src: Path = SRC) -> set[str]:
    """Absolute names of every pyxmtp module imported by ``path`` (a module of the tree at ``src``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    mod = _module_name(path, src)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "pyxmtp")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "pyxmtp":
                out.add(name)
    return out


def layer_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def violations(src: Path = SRC) -> list[str]:
    bad: list[str] = []
    for path in sorted(src.rglob("*.py")):
        mod = _module_name(path, src)
        layer = layer_of(mod)
        if layer is None or layer in TOP_LEVEL_OK:
            continue
        allowed = ALLOWED.get(layer)
        if allowed is None:
            bad.append(f"{mod}: layer '{layer}' is not in the layer contract (add it to ALLOWED)")
            continue
        for imp in imports_of(path, src):
            target = layer_of(imp)
            if target is None or target == layer or target in TOP_LEVEL_OK:
                continue
            if target not in allowed:
                bad.append(f"{mod} imports {imp}: layer '{layer}' may not import '{target}'")
    return bad


def test_layer_contract() -> None:
    assert violations() == []


def test_contract_detects_a_violation(tmp_path: Path) -> None:
    """The checker itself is live: a planted upward import is reported (in a copy of the tree, so that the
    contract test running beside this one never sees the plant)."""
    src = tmp_path / "pyxmtp"
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("__pycache__"))
    assert violations(src) == violations()
    (src / "mls" / "_layer_probe.py").write_text("from pyxmtp.node import server\n", encoding="utf-8")
    assert any("_layer_probe" in v and "'node'" in v for v in violations(src))


@pytest.mark.parametrize("layer", ["mls", "identity"])
def test_fixed_layer_names_exist(layer: str) -> None:
    assert (SRC / layer / "__init__.py").is_file()
