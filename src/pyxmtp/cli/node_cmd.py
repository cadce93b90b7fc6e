"""``pyxmtp node``: run an XMTP v3 node (gRPC MlsApi + IdentityApi, and the device-sync history server) until
SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "node",
        help="run an XMTP v3 node (gRPC MlsApi + IdentityApi) and its device-sync history server",
        description="Run an XMTP v3 node that real libxmtp clients can use (http://HOST:PORT, v3 API), with the "
        "history server libxmtp's device sync uploads archives to (http://HOST:HISTORY_PORT).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=5556, help="port to listen on; 0 picks a free one (default 5556)"
    )
    p.add_argument(
        "--data-dir",
        default="./pyxmtp-data",
        help="directory of the SQLite database (unused with --database-url)",
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("PYXMTP_DATABASE_URL") or None,
        help="store in PostgreSQL at this URI (postgresql://user@host:port/db) instead of SQLite in --data-dir; "
        "default: $PYXMTP_DATABASE_URL (keeps a password out of the process list); needs the postgres extra",
    )
    p.add_argument(
        "--database-schema", default=None, help="PostgreSQL schema for the tables (default: search_path)"
    )
    p.add_argument(
        "--tls-cert", default=None, help="serve TLS with this PEM certificate chain (and --tls-key)"
    )
    p.add_argument("--tls-key", default=None, help="the PEM private key of --tls-cert")
    p.add_argument(
        "--history-port",
        type=int,
        default=5558,
        help="port of the device-sync history server (libxmtp's HTTP upload/download API; default 5558)",
    )
    p.add_argument("--no-history", action="store_true", help="do not serve the history server")
    p.add_argument(
        "--history-dir",
        default=None,
        help="directory of the history server's uploads (default: DATA_DIR/history, also with --database-url)",
    )
    p.add_argument(
        "--history-max-bytes",
        type=int,
        default=10 * 1024**3,
        help="total bytes of uploads kept before new ones are refused (default 10 GiB); each expires after 7 days",
    )
    p.add_argument("--no-rate-limit", action="store_true", help="switch the per-IP rate limits off")
    p.add_argument(
        "--read-capacity", type=int, default=20_000, help="per-IP read bucket size (default 20000)"
    )
    p.add_argument(
        "--read-refill", type=int, default=4_000, help="read tokens added per minute (default 4000)"
    )
    p.add_argument(
        "--write-capacity", type=int, default=3_000, help="per-IP write bucket size (default 3000)"
    )
    p.add_argument(
        "--write-refill", type=int, default=600, help="write tokens added per minute (default 600)"
    )
    p.add_argument(
        "--sqlite-synchronous",
        choices=("full", "extra", "normal"),
        default="full",
        help="SQLite durability: full (default) fsyncs every commit; normal survives a process kill only",
    )
    p.add_argument(
        "--subscriber-backlog",
        type=int,
        default=1024,
        help="messages a live subscription may fall behind before it is aborted (default 1024)",
    )
    p.add_argument(
        "--subscriber-backlog-bytes",
        type=int,
        default=8 * 1024 * 1024,
        help="bytes of messages a live subscription may fall behind before it is aborted (default 8 MiB)",
    )
    p.add_argument("--grace-period", type=float, default=5.0, help="seconds to finish calls on shutdown")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="debug logs one line per request")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> Any:
    from pyxmtp.node import BucketLimit, NodeConfig, RateLimits

    limits = None
    if not args.no_rate_limit:
        limits = RateLimits(
            read=BucketLimit(args.read_capacity, args.read_refill),
            write=BucketLimit(args.write_capacity, args.write_refill),
        )
    return NodeConfig(
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir),
        rate_limits=limits,
        sqlite_synchronous=args.sqlite_synchronous.upper(),
        database_url=args.database_url,
        database_schema=args.database_schema,
        subscriber_backlog=args.subscriber_backlog,
        subscriber_backlog_bytes=args.subscriber_backlog_bytes,
        grace_period=args.grace_period,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        history_port=None if args.no_history else args.history_port,
        history_dir=Path(args.history_dir) if args.history_dir else None,
        history_max_bytes=args.history_max_bytes,
    )


async def _serve(args: argparse.Namespace) -> int:
    from pyxmtp.node import Node

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        node = await Node.start(_config(args))
    except OSError as exc:
        logging.getLogger("pyxmtp.node").error("%s", exc)
        return 1
    except Exception as exc:  # e.g. the data directory is in use
        logging.getLogger("pyxmtp.node").error("cannot start: %s", exc)
        return 1
    # Everything allocated so far lives as long as the process: keep it out of future GC passes.
    gc.collect()
    gc.freeze()
    await stop.wait()
    logging.getLogger("pyxmtp.node").info("shutting down")
    await node.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return asyncio.run(_serve(args))
