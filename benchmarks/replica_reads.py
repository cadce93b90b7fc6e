"""Read-replica benchmark: what ``--read-database-url`` moves off the primary, and what it costs a read.

Makes a PostgreSQL primary and a streaming replica of its own (``tests/node/pg_cluster.py``: initdb and
pg_basebackup from ``pg_config --bindir``, fsync off, in a temporary directory; run as root it needs the
``postgres`` system user), seeds ``--groups`` groups of ``--messages`` messages, and starts two in-process nodes
on that schema: ``primary`` (reads on the primary, as without the flag) and ``replica`` (``--read-database-url``).
Rounds alternate between them (the order flips every round); in each, ``--readers`` concurrent gRPC callers run
QueryGroupMessages (a page of ``--page``) for ``--seconds``; with ``--write-rate R`` a writer meanwhile sends R
messages/s through the node (the replica then has to keep up with the target of each read).

Per round: reads/s, latency p50/p99, the statements each server ran per read (``pg_stat_statements``, reset
before the round: the primary's include the flush-position queries that keep read-your-writes), and where the
replica node's reads went (its store's counters: replica, lagging, unavailable, failed). JSON on stdout.

The load generator, the node and both servers share this machine's cores: read the figures per read (statements,
the split), not the absolute throughput, as the portable part.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import asyncpg  # noqa: E402

from pyxmtp.node import Node, NodeConfig  # noqa: E402
from pyxmtp.node.store.postgres import PostgresStore  # noqa: E402
from tests.node.apihelpers import ASC, query, send_request  # noqa: E402
from tests.node.builders import private_message  # noqa: E402
from tests.node.conftest import connect  # noqa: E402
from tests.node.pg_cluster import Replication  # noqa: E402

SCHEMA = "replica_bench"
#: Statements of the benchmark's own bookkeeping, left out of the counts.
OWN = "%pg_stat_statements%"


async def _statements(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT query, calls FROM pg_stat_statements WHERE query NOT LIKE $1 AND query NOT LIKE 'BEGIN%' "
            "AND query NOT LIKE 'COMMIT%'",
            OWN,
        )
    finally:
        await conn.close()
    return {r["query"]: r["calls"] for r in rows}


async def _reset(*dsns: str) -> None:
    for dsn in dsns:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SELECT pg_stat_statements_reset()")
        finally:
            await conn.close()


async def _round(
    node: Node, groups: list[bytes], args: argparse.Namespace, cluster: Replication
) -> dict[str, Any]:
    clients = [connect(node.address) for _ in range(args.readers)]
    writer = connect(node.address)
    store = node.store
    assert isinstance(store, PostgresStore)
    before = dataclasses.asdict(store.replica_stats) if store.replica_stats else None
    await _reset(cluster.primary.dsn, cluster.replica.dsn)
    latencies: list[float] = []
    stop = time.monotonic() + args.seconds
    written = 0

    async def reader(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            start = time.perf_counter()
            resp = await clients[n].mls.QueryGroupMessages(query(groups[i % len(groups)], ASC, args.page))
            latencies.append(time.perf_counter() - start)
            assert resp.messages
            i += args.readers

    async def write() -> None:
        nonlocal written
        if not args.write_rate:
            return
        interval = 1 / args.write_rate
        next_at = time.monotonic()
        while time.monotonic() < stop:
            await writer.mls.SendGroupMessages(send_request(private_message(groups[written % len(groups)])))
            written += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # the send schedule of the writer

    started = time.perf_counter()
    await asyncio.gather(*(reader(n) for n in range(args.readers)), write())
    elapsed = time.perf_counter() - started
    primary = await _statements(cluster.primary.dsn)
    replica = await _statements(cluster.replica.dsn)
    for c in (*clients, writer):
        await c.channel.close()
    reads = len(latencies)
    latencies.sort()
    out: dict[str, Any] = {
        "reads": reads,
        "reads_per_s": round(reads / elapsed),
        "writes": written,
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 2),
        "latency_ms_p99": round(latencies[int(0.99 * (reads - 1))] * 1000, 2),
        "primary_statements_per_read": round(sum(primary.values()) / reads, 3),
        "primary_flush_position_queries_per_read": round(
            sum(n for q, n in primary.items() if "pg_current_wal_flush_lsn" in q) / reads, 3
        ),
        "replica_statements_per_read": round(sum(replica.values()) / reads, 3),
    }
    if before is not None and store.replica_stats is not None:
        after = dataclasses.asdict(store.replica_stats)
        out["replica_node_reads"] = {k: after[k] - before[k] for k in before}
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cluster = Replication()
    nodes: dict[str, Node] = {}
    work = Path(tempfile.mkdtemp(prefix="replica-bench-"))
    try:
        cluster.start()
        cluster.sql(cluster.primary, "CREATE EXTENSION pg_stat_statements")
        for name, read_dsn in (("primary", None), ("replica", cluster.replica.dsn)):
            config = NodeConfig(
                host="127.0.0.1",
                port=0,
                data_dir=work / name,
                rate_limits=None,
                database_url=cluster.primary.dsn,
                database_schema=SCHEMA,
                read_database_url=read_dsn,
            )
            nodes[name] = await Node.start(config)
        groups = [os.urandom(16) for _ in range(args.groups)]
        seeder = connect(nodes["primary"].address)
        for g in groups:
            await seeder.mls.SendGroupMessages(
                send_request(*(private_message(g) for _ in range(args.messages)))
            )
        await seeder.channel.close()
        rounds: dict[str, list[dict[str, Any]]] = {"primary": [], "replica": []}
        for r in range(args.rounds):
            order = ["primary", "replica"] if r % 2 == 0 else ["replica", "primary"]
            for name in order:
                rounds[name].append(await _round(nodes[name], groups, args, cluster))
        summary = {
            name: {
                key: statistics.median(x[key] for x in results)
                for key in results[0]
                if isinstance(results[0][key], (int, float))
            }
            for name, results in rounds.items()
        }
        return {
            "benchmark": "replica_reads",
            "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "python": platform.python_version(),
            },
            "settings": {k: v for k, v in vars(args).items()}
            | {"servers": "PostgreSQL, fsync off, same host"},
            "median_of_rounds": summary,
            "rounds": rounds,
        }
    finally:
        for node in nodes.values():
            await node.stop(grace=0)
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readers", type=int, default=16)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--groups", type=int, default=64)
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--page", type=int, default=20)
    p.add_argument("--write-rate", type=float, default=0.0, help="messages/s written during the reads")
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
