"""Scale-out benchmark: K ``pyxmtp node`` processes on one PostgreSQL schema (``node_bench.py --nodes 1,2``).

For each K in ``--nodes`` a set of K node processes runs on a fresh schema of ``--database-url`` (dropped
afterwards), rate limits off, all sets at once; rounds alternate between the sets (the order flips every round),
as in node_bench.py. Per set:

- ``batched``: aggregate SendGroupMessages throughput, batches of ``--batch``, ``--in-flight`` calls outstanding
  *per node* on a channel of its own, the load spread evenly over the K nodes. Each node's load goes to groups of
  its own (``--groups`` per node) unless ``--shared-groups``: two nodes writing to one group at the same instant
  wait for each other's commit (the per-group ordering lock), which real traffic -- many groups, each at a
  human pace -- seldom does, and a benchmark hammering 16 groups from every node would do all the time.
- CPU per message: of the K node processes, and of the PostgreSQL backends serving their connections (found by the
  ``application_name`` this benchmark gives them), from /proc; plus the PostgreSQL server's background processes
  (WAL writer, checkpointer, ...), which other users of the server share.
- ``latency``: publish through node 0, subscribe on node 1 (on node 0 when K = 1), ``--rate`` messages/s, as
  node_bench.py's latency run; between the rounds, the disk floor of the same rate in the same file system.

This process is the load generator; on a machine with fewer cores than the nodes, PostgreSQL and the generator
need, the aggregate is bounded by the cores, not by the nodes: the JSON records the CPU every part used.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from node_bench import (
    CLOCK_TICKS,
    SEND,
    Payloads,
    alternating,
    build_requests,
    disk_floor,
    drop_schema,
    free_port,
    latency,
    machine,
    process_cpu_seconds,
    summary,
)


def _cpu(pid: int) -> float:
    try:
        return process_cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


class NodeSet:
    """K node processes on one schema; their PostgreSQL connections carry ``application_name``."""

    def __init__(self, k: int, work: Path, args: argparse.Namespace) -> None:
        self.k = k
        self.schema = f"pyxmtp_bench_{os.getpid()}_k{k}"
        self.app_name = f"pyxmtp-bench-{os.getpid()}-k{k}"
        sep = "&" if "?" in args.database_url else "?"
        self.dsn = f"{args.database_url}{sep}application_name={self.app_name}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.addresses: list[str] = []
        for i in range(k):
            port = free_port()
            cmd = [
                sys.executable, "-m", "pyxmtp", "node", "--port", str(port), "--data-dir", str(work / f"d{i}"),
                "--no-rate-limit", "--no-history", "--log-level", "warning", "--database-schema", self.schema,
            ]  # fmt: skip
            with (work / f"k{k}-node{i}.log").open("wb") as log:
                self.procs.append(
                    subprocess.Popen(
                        cmd,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "PYXMTP_DATABASE_URL": self.dsn},
                    )
                )
            self.addresses.append(f"127.0.0.1:{port}")
        for proc, address in zip(self.procs, self.addresses, strict=True):
            _wait_listening(proc, address)
        self.channels: list[grpc.aio.Channel] = []  # made on the event loop: open_channels()

    def open_channels(self) -> None:
        self.channels = [grpc.aio.insecure_channel(a) for a in self.addresses]

    async def backend_pids(self, admin: Any) -> list[int]:
        rows = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", self.app_name
        )
        return [r[0] for r in rows]

    async def stop(self, database_url: str) -> None:
        for channel in self.channels:
            await channel.close()
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        await drop_schema(database_url, self.schema)


def _wait_listening(proc: subprocess.Popen[bytes], address: str) -> None:
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"a node exited with {proc.returncode}") from None
            time.sleep(0.05)
    raise TimeoutError("a node did not start")


async def _background_pids(admin: Any) -> list[int]:
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend'")
    return [r[0] for r in rows]


async def throughput(
    nodes: NodeSet, admin: Any, requests: list[list[bytes]], batch: int, in_flight: int
) -> dict[str, Any]:
    """``requests[i]`` go to node i, ``in_flight`` at a time per node."""
    backends = await nodes.backend_pids(admin)
    background = await _background_pids(admin)
    node_cpu = [_cpu(p.pid) for p in nodes.procs]
    backend_cpu = {pid: _cpu(pid) for pid in backends}
    background_cpu = [_cpu(pid) for pid in background]
    client_cpu = time.process_time()
    start = time.perf_counter()

    async def worker(channel: grpc.aio.Channel, pending: Any) -> None:
        call = channel.unary_unary(SEND)
        for request in pending:
            await call(request)

    iters = [iter(r) for r in requests]
    await asyncio.gather(
        *(worker(nodes.channels[i], iters[i]) for i in range(nodes.k) for _ in range(in_flight))
    )
    elapsed = time.perf_counter() - start
    client = time.process_time() - client_cpu
    nodes_used = sum(_cpu(p.pid) for p in nodes.procs) - sum(node_cpu)
    backends_after = await nodes.backend_pids(admin)
    pg_used = sum(_cpu(pid) - backend_cpu.get(pid, 0.0) for pid in backends_after)  # new ones: all of theirs
    bg_used = sum(_cpu(pid) for pid in background) - sum(background_cpu)
    sent = sum(len(r) for r in requests) * batch
    return {
        "messages": sent,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(sent / elapsed),
        "nodes_cpu_cores": round(nodes_used / elapsed, 2),
        "postgres_backends_cpu_cores": round(pg_used / elapsed, 2),
        "postgres_background_cpu_cores": round(bg_used / elapsed, 2),
        "client_cpu_cores": round(client / elapsed, 2),
        "nodes_cpu_us_per_message": round(nodes_used / sent * 1e6, 1),
        "postgres_backends_cpu_us_per_message": round(pg_used / sent * 1e6, 1),
        "postgres_background_cpu_us_per_message": round(bg_used / sent * 1e6, 1),
    }


def _requests(payloads: Payloads, k: int, args: argparse.Namespace, total: int) -> list[list[bytes]]:
    per_node = max(args.batch, total // k)
    if args.shared_groups:
        shared = build_requests(payloads, args.batch, per_node * k, args.groups)
        return [shared[i::k] for i in range(k)]
    return [build_requests(payloads, args.batch, per_node, args.groups) for _ in range(k)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg

    payloads = Payloads(args.seed)
    ks = tuple(args.nodes)
    admin = await asyncpg.connect(args.database_url)
    sets: dict[int, NodeSet] = {}
    with tempfile.TemporaryDirectory(prefix="pyxmtp-scaleout-") as tmp:
        try:
            for k in ks:
                work = Path(tmp) / f"k{k}"
                work.mkdir()
                sets[k] = await asyncio.to_thread(NodeSet, k, work, args)
                sets[k].open_channels()
            load_before = os.getloadavg()
            for k in ks:  # warm-up
                await throughput(sets[k], admin, _requests(payloads, k, args, args.batched_messages // 5),
                                 args.batch, args.in_flight)  # fmt: skip
            batched: dict[int, list[dict[str, Any]]] = {k: [] for k in ks}
            for _, order in alternating(ks, args.rounds):
                for k in order:
                    requests = _requests(payloads, k, args, args.batched_messages)
                    batched[k].append(await throughput(sets[k], admin, requests, args.batch, args.in_flight))
            await asyncio.sleep(0.5)
            lat: dict[int, list[dict[str, Any]]] = {k: [] for k in ks}
            floor: list[dict[str, Any]] = []
            for _, order in alternating(ks, args.latency_rounds):
                for k in order:
                    s = sets[k]
                    sub = s.addresses[1 % k]
                    lat[k].append(
                        await latency(sub, payloads, args.rate, args.seconds, args.warmup, s.addresses[0])
                    )
                floor.append(
                    await asyncio.to_thread(disk_floor, Path(tmp), args.rate, args.seconds, args.warmup)
                )
            load_after = os.getloadavg()
        finally:
            for s in sets.values():
                await s.stop(args.database_url)
            await admin.close()

    tp_keys = (
        "messages_per_s", "nodes_cpu_cores", "postgres_backends_cpu_cores", "postgres_background_cpu_cores",
        "client_cpu_cores", "nodes_cpu_us_per_message", "postgres_backends_cpu_us_per_message",
        "postgres_background_cpu_us_per_message",
    )  # fmt: skip
    lat_keys = ("p50_ms", "p99_ms", "max_ms")
    out: dict[str, Any] = {}
    for k in ks:
        out[f"k{k}"] = {
            "nodes": k,
            "batched": {"batch": args.batch, **summary(batched[k], tp_keys)},
            "cross_node_latency": {
                "rate_per_s": args.rate,
                "publish_on": "node 0",
                "subscribe_on": f"node {1 % k}",
                **summary(lat[k], lat_keys),
            },
        }
    disk = {"rate_per_s": args.rate, **summary(floor, lat_keys)}
    base = out[f"k{ks[0]}"]["batched"]["median_messages_per_s"]
    targets: dict[str, Any] = {}
    for k in ks:
        entry = out[f"k{k}"]
        entry["ratio_to_k1"] = (
            round(entry["batched"]["median_messages_per_s"] / base, 3) if ks[0] == 1 else None
        )
        # rounds whose disk floor itself exceeds 20 ms are left out of the latency target
        kept = [s["p99_ms"] for s, f in zip(lat[k], floor, strict=True) if f["p99_ms"] <= 20.0]
        missing = sum(s["missing_after_60_s"] for s in lat[k])
        targets[f"k{k}"] = {
            "cross_node_p99_ms_in_rounds_with_disk_floor_within_20": kept,
            "cross_node_p99_at_most_20_ms": bool(kept) and max(kept) <= 20.0 and not missing,
            "messages_missing_at_the_subscriber": missing,
        }
        if k == 2 and ks[0] == 1:
            targets["k2"]["aggregate_at_least_1_6x_k1"] = entry["ratio_to_k1"] >= 1.6
    return {
        "benchmark": "pyxmtp node scale-out: K node processes on one PostgreSQL schema",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(load_before, load_after), "clock_ticks_per_s": CLOCK_TICKS},
        "load": {
            "batch": args.batch,
            "in_flight_per_node": args.in_flight,
            "groups": f"{args.groups} shared by all nodes"
            if args.shared_groups
            else f"{args.groups} per node",
            "rounds": args.rounds,
            "latency_rounds": args.latency_rounds,
            "batched_messages_per_sample": args.batched_messages,
        },
        **out,
        "disk_floor": {"latency": disk},
        "targets": targets,
    }
