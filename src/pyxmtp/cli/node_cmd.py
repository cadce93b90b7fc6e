"""``pyxmtp node``: run an XMTP v3 node (gRPC MlsApi + IdentityApi, and the device-sync history server) until
SIGINT or SIGTERM; with ``--workers N`` (PostgreSQL only), N such node processes on one port under a supervisor
(:mod:`pyxmtp.node.supervisor`)."""

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
        "--read-database-url",
        default=os.environ.get("PYXMTP_READ_DATABASE_URL") or None,
        help="serve reads from this PostgreSQL streaming replica of --database-url, keeping read-your-writes "
        "(a read the replica has not caught up with goes to the primary); default: $PYXMTP_READ_DATABASE_URL",
    )
    p.add_argument(
        "--read-replica-wait",
        type=float,
        default=0.05,
        help="seconds a read waits for a lagging replica before it reads the primary (default 0.05)",
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
        "--no-tarpit",
        action="store_true",
        help="answer every refusal at once, instead of pacing an IP's refusals past a burst (see the README)",
    )
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
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run this many node processes on the port (SO_REUSEPORT), restarted if they die; needs "
        "--database-url: the SQLite store serves one process (default 1)",
    )
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # set by the supervisor
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="debug logs one line per request")
    p.set_defaults(func=run, node_parser=p)


def _config(args: argparse.Namespace) -> Any:
    from pyxmtp.node import BucketLimit, NodeConfig, RateLimits, TarpitLimits

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
        tarpit=None if args.no_tarpit else TarpitLimits(),
        sqlite_synchronous=args.sqlite_synchronous.upper(),
        database_url=args.database_url,
        database_schema=args.database_schema,
        read_database_url=args.read_database_url,
        read_replica_wait=args.read_replica_wait,
        subscriber_backlog=args.subscriber_backlog,
        subscriber_backlog_bytes=args.subscriber_backlog_bytes,
        grace_period=args.grace_period,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        history_port=None if args.no_history or (args.worker or 0) > 0 else args.history_port,
        history_dir=Path(args.history_dir) if args.history_dir else None,
        history_max_bytes=args.history_max_bytes,
        reuse_port=args.worker is not None,
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


#: Options the supervisor does not pass on to its workers (it passes the database URLs in the environment, which
#: keeps a password out of the process list).
_NOT_FOR_WORKERS = frozenset({"help", "workers", "worker", "database_url", "read_database_url", "port"})


def _worker_argv(args: argparse.Namespace, port: int) -> list[str]:
    """The ``pyxmtp node`` options of a worker: this command's own, on the supervisor's port."""
    out = ["--port", str(port)]
    for action in args.node_parser._actions:
        if not action.option_strings or action.dest in _NOT_FOR_WORKERS:
            continue
        value = getattr(args, action.dest, None)
        if isinstance(action, argparse._StoreTrueAction):
            if value:
                out.append(action.option_strings[-1])
        elif value is not None:
            out += [action.option_strings[-1], str(value)]
    return out


def _supervise(args: argparse.Namespace) -> int:
    from pyxmtp.node.supervisor import Supervisor, reserve_port, worker_command

    log = logging.getLogger("pyxmtp.node")
    if not args.database_url:
        log.error(
            "--workers needs PostgreSQL (--database-url or PYXMTP_DATABASE_URL): the SQLite store is embedded "
            "in one process; run a single process, or move to PostgreSQL to run several"
        )
        return 2
    if args.workers < 1:
        log.error("--workers must be at least 1")
        return 2
    try:
        held, port = reserve_port(args.host, args.port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, exc)
        return 1
    env = {**os.environ, "PYXMTP_DATABASE_URL": args.database_url}
    if args.read_database_url:
        env["PYXMTP_READ_DATABASE_URL"] = args.read_database_url
    supervisor = Supervisor(args.workers, worker_command(_worker_argv(args, port)), env, args.grace_period)
    log.info("pyxmtp node supervising %d workers on %s:%d", args.workers, args.host, port)
    try:
        return asyncio.run(supervisor.run())
    finally:
        held.close()


def run(args: argparse.Namespace) -> int:
    worker = "" if args.worker is None else f"[worker {args.worker}] "
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format=f"%(asctime)s %(levelname)s {worker}%(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.worker is None and args.workers != 1:
        return _supervise(args)
    return asyncio.run(_serve(args))
