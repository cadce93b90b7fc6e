"""``pyxmtp mls ...``: tools around the MLS core."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("mls", help="MLS (RFC 9420) tools", description="MLS (RFC 9420) tools")
    msub = p.add_subparsers(dest="mls_command", metavar="MLS_COMMAND")
    v = msub.add_parser(
        "vectors",
        help="run official MLS test-vector files",
        description="Run official-format MLS test-vector files (mlswg/mls-implementations) and report "
        "'<file>: <passed>/<total> passed' per file, then one line per failed case.",
    )
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--max-failures", type=int, default=20, help="failed cases listed per file (default 20)")
    v.set_defaults(func=run_vectors)
    p.set_defaults(func=lambda _a: (p.print_help(sys.stderr), 2)[1])


def run_vectors(args: argparse.Namespace) -> int:
    from pyxmtp.mls.vectors import UnknownVectorFile, run_file

    failed = False
    for path in args.files:
        try:
            result = run_file(path)
        except (OSError, ValueError, UnknownVectorFile) as exc:
            print(f"{path}: error: {exc}")
            failed = True
            continue
        print(f"{path}: {result.passed}/{result.total} passed")
        bad = result.failures()
        for c in bad[: args.max_failures]:
            suite = f" (cipher_suite {c.cipher_suite})" if c.cipher_suite is not None else ""
            print(f"  case {c.index}{suite}: {c.reason}")
        if len(bad) > args.max_failures:
            print(f"  ... and {len(bad) - args.max_failures} more failed cases")
        failed |= not result.ok
    return 1 if failed else 0
