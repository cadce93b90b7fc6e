"""``pyxmtp`` entry point: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyxmtp import __version__

from . import client, completion, inspect_cmd, mls_cmd, node_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyxmtp",
        description="Pure-Python XMTP: MLS (RFC 9420), XIP-46 identity, an XMTP v3 node and client.",
    )
    parser.add_argument("--version", action="version", version=f"pyxmtp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    node_cmd.register(sub)
    mls_cmd.register(sub)
    client.register(sub)
    inspect_cmd.register(sub)
    completion.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    result: int = args.func(args)
    return result
