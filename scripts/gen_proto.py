"""Regenerate the Python code for pyxmtp's protobuf schemas.

The .proto files live in src/pyxmtp/proto/ and are compiled with proto path
``src``, so generated modules import each other as ``pyxmtp.proto...``
without any rewriting. For every schema this writes ``*_pb2.py`` and a
mypy-protobuf ``*_pb2.pyi`` stub; for schemas that declare a service it also
writes ``*_pb2_grpc.py`` and ``*_pb2_grpc.pyi``.

Usage (from the repository root, with the project venv)::

    .venv/bin/python scripts/gen_proto.py           # regenerate in place
    .venv/bin/python scripts/gen_proto.py --check   # exit 1 if anything differs
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PROTO_PKG = SRC / "pyxmtp" / "proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
_SERVICE_RE = re.compile(r"^\s*service\s+\w+\s*\{", re.MULTILINE)


def proto_files() -> list[Path]:
    """All schema files, sorted, relative to ``SRC``."""
    return sorted(p.relative_to(SRC) for p in PROTO_PKG.rglob("*.proto"))


def _plugin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found; run this script with the project venv's python")
    return found


def _protoc(args: list[str]) -> None:
    well_known = resources.files("grpc_tools") / "_proto"
    cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"-I{well_known}", *args]
    result = subprocess.run(cmd, cwd=SRC, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"protoc failed ({result.returncode}):\n{result.stderr}")


def generate_into(out_dir: Path) -> None:
    """Compile every schema into ``out_dir`` (which mirrors ``src``)."""
    protos = proto_files()
    with_services = [p for p in protos if _SERVICE_RE.search((SRC / p).read_text())]
    _protoc(
        [
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--python_out={out_dir}",
            f"--mypy_out={out_dir}",
            *(p.as_posix() for p in protos),
        ]
    )
    _protoc(
        [
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--grpc_python_out={out_dir}",
            f"--mypy_grpc_out={out_dir}",
            *(p.as_posix() for p in with_services),
        ]
    )


def _generated_files(base: Path) -> dict[Path, bytes]:
    pkg = base / "pyxmtp" / "proto"
    if not pkg.exists():
        return {}
    return {
        p.relative_to(base): p.read_bytes()
        for p in sorted(pkg.rglob("*"))
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    }


def _package_dirs() -> list[Path]:
    dirs = {PROTO_PKG} | {(SRC / p).parent for p in proto_files()}
    for d in list(dirs):
        while d != PROTO_PKG and d.is_relative_to(PROTO_PKG):
            dirs.add(d)
            d = d.parent
    return sorted(dirs)


def check() -> list[str]:
    """Regenerate into a temporary directory; return the problems found.

    An empty list means the committed generated files are exactly what the
    schemas produce.
    """
    with tempfile.TemporaryDirectory() as tmp:
        generate_into(Path(tmp))
        fresh = _generated_files(Path(tmp))
    committed = _generated_files(SRC)
    problems = [f"missing: src/{p}" for p in sorted(fresh.keys() - committed.keys())]
    problems += [f"stale: src/{p}" for p in sorted(committed.keys() - fresh.keys())]
    problems += [
        f"differs: src/{p}" for p in sorted(fresh.keys() & committed.keys()) if fresh[p] != committed[p]
    ]
    problems += [
        f"missing: {d.relative_to(ROOT)}/__init__.py"
        for d in _package_dirs()
        if not (d / "__init__.py").exists()
    ]
    return problems


def regenerate() -> list[str]:
    """Regenerate in place; return the paths written or removed."""
    with tempfile.TemporaryDirectory() as tmp:
        generate_into(Path(tmp))
        fresh = _generated_files(Path(tmp))
    changed: list[str] = []
    committed = _generated_files(SRC)
    for rel in sorted(committed.keys() - fresh.keys()):
        (SRC / rel).unlink()
        changed.append(f"removed src/{rel}")
    for rel, data in fresh.items():
        if committed.get(rel) != data:
            (SRC / rel).write_bytes(data)
            changed.append(f"wrote src/{rel}")
    for d in _package_dirs():
        init = d / "__init__.py"
        if not init.exists():
            init.write_text("")
            changed.append(f"wrote {init.relative_to(ROOT)}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that would change")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for line in problems:
            print(line)
        if problems:
            print("generated protobuf code is out of date; run scripts/gen_proto.py", file=sys.stderr)
            return 1
        print(f"ok: {len(proto_files())} schemas, generated code up to date")
        return 0
    for line in regenerate():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
