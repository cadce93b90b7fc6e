"""``pyxmtp mls ...``: tools around the MLS core."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
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
    s = msub.add_parser(
        "interop-server",
        help="serve the IETF MLS interop harness's MLSClient gRPC service",
        description="Serve the MLSClient gRPC service of the IETF MLS interop harness (mlswg/mls-implementations "
        "interop/) so that its test-runner can drive pyxmtp against other MLS implementations. Prints "
        "'listening on HOST:PORT' once it serves; runs until SIGINT or SIGTERM.",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument(
        "--port", type=int, default=50001, help="port to listen on; 0 picks a free one (default 50001)"
    )
    s.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="warning")
    s.set_defaults(func=run_interop_server)
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


async def _serve_interop(host: str, port: int) -> int:
    from pyxmtp.mls_interop import start_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        server, bound = await start_server(host, port)
    except (OSError, RuntimeError) as exc:
        print(f"pyxmtp mls interop-server: {exc}", file=sys.stderr)
        return 1
    print(f"listening on {host}:{bound}", flush=True)
    await stop.wait()
    await server.stop(1.0)
    return 0


def run_interop_server(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return asyncio.run(_serve_interop(args.host, args.port))
