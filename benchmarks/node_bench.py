"""Node benchmark: SendGroupMessages throughput and publish -> subscriber latency, pyxmtp node vs a bare server.

    python benchmarks/node_bench.py            # JSON on stdout (about two minutes)
    python benchmarks/node_bench.py --quick    # fewer, shorter rounds
    python benchmarks/node_bench.py --abuse    # a flooding IP against a well-behaved one (see node_abuse.py)
    python benchmarks/node_bench.py --nodes 1,2  # K node processes on one PostgreSQL schema (node_scaleout.py)

Two servers run as subprocesses for the whole run, and this process drives both with the same load:

- ``sqlite_node``: ``pyxmtp node`` with its defaults (embedded SQLite, WAL, synchronous=FULL, validation of
  every MLS message, deduplication, in-process subscription feed), rate limits off;
- ``postgres_node`` (with ``--stores sqlite,postgres`` or ``--stores postgres``): the same node on the PostgreSQL
  store (``--database-url``, default the local server's ``test`` database, in a fresh schema dropped afterwards);
- ``bare_server``: a grpc.aio server answering the same two methods that stores nothing: it deserializes the
  request and hands every message straight to the open subscriptions.

Fairness: both servers get byte-identical kinds of load from the same generator (request bytes are built
before the clock starts; only the sending is timed), measured alternately round after round (the order flips
every round), so a burst of other work on the machine hits both; each figure is the median of the rounds, and
every sample is in the JSON. Payloads are libxmtp-shaped MLSMessage(PrivateMessage) bytes of 300-1000 B with
random ciphertext, fresh for every sample, so the node's deduplication never short-circuits an insert. The
throughput runs keep ``--in-flight`` calls outstanding on one channel, enough to saturate either server. The CPU
the server and the load generator use during each sample is recorded (``*_cpu_cores``), which shows whether a
server is CPU-bound and that the generator is not what limits it.

Latency: one subscriber on a group while single-message sends go out at a fixed rate (default 1000 msg/s) for a
warm-up second plus the measured seconds; each payload carries its send time (CLOCK_MONOTONIC) in its last
8 bytes.

Latency floor (``disk_floor``): what any durable store pays on this disk at that rate, measured between the
latency rounds in the data directory's file system: the same arrivals, each written and ``fdatasync``-ed with
every other arrival that was waiting (perfect group commit), latency from arrival to the end of its sync. A VM
disk that stalls its flushes now and then shows up here first: the node cannot answer before its data is down.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from pyxmtp.proto.mls.api.v1 import mls_pb2

SEND = "/xmtp.mls.api.v1.MlsApi/SendGroupMessages"
SUBSCRIBE = "/xmtp.mls.api.v1.MlsApi/SubscribeGroupMessages"
STORES = ("sqlite", "postgres")
MIN_PAYLOAD, MAX_PAYLOAD = 300, 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- payloads -----------------------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    """RFC 9420 variable-length integer (minimal)."""
    if n < 1 << 6:
        return bytes((n,))
    if n < 1 << 14:
        return (n | 0x4000).to_bytes(2, "big")
    return (n | 0x8000_0000).to_bytes(4, "big")


def private_message(group_id: bytes, epoch: int, sender_data: bytes, ciphertext: bytes) -> bytes:
    """TLS bytes of MLSMessage(mls10, PrivateMessage(group_id, epoch, application, "", sender_data, ciphertext))."""
    return b"".join(
        (
            b"\x00\x01\x00\x02",  # ProtocolVersion mls10, WireFormat mls_private_message
            _varint(len(group_id)),
            group_id,
            epoch.to_bytes(8, "big"),
            b"\x01",  # ContentType application
            b"\x00",  # authenticated_data: empty
            _varint(len(sender_data)),
            sender_data,
            _varint(len(ciphertext)),
            ciphertext,
        )
    )


class Payloads:
    """Distinct libxmtp-shaped application messages: 28-byte encrypted sender data (SenderData + AEAD tag),
    ciphertext sized so the whole MLSMessage is 300-1000 bytes, all random. The ciphertext's last 8 bytes are
    a slot for a send timestamp (:func:`stamp`)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._epoch = 0

    def group_id(self) -> bytes:
        return self._rng.randbytes(16)

    def message(self, group_id: bytes) -> bytes:
        rng = self._rng
        self._epoch += 1
        overhead = 4 + 1 + len(group_id) + 8 + 1 + 1 + 1 + 28 + 2
        size = rng.randint(MIN_PAYLOAD, MAX_PAYLOAD) - overhead
        return private_message(group_id, self._epoch, rng.randbytes(28), rng.randbytes(size - 8) + bytes(8))


def stamp(data: bytes) -> bytes:
    """``data`` with the current monotonic time in its last 8 bytes (unique payloads stay unique)."""
    return data[:-8] + time.monotonic_ns().to_bytes(8, "big")


def send_request(datas: list[bytes]) -> bytes:
    V1 = mls_pb2.GroupMessageInput.V1
    return mls_pb2.SendGroupMessagesRequest(
        messages=[mls_pb2.GroupMessageInput(v1=V1(data=d, should_push=True)) for d in datas]
    ).SerializeToString()


def build_requests(payloads: Payloads, batch: int, total: int, groups: int) -> list[bytes]:
    """``total // batch`` serialized requests; request i goes to group ``i % groups``."""
    group_ids = [payloads.group_id() for _ in range(groups)]
    return [
        send_request([payloads.message(group_ids[i % groups]) for _ in range(batch)])
        for i in range(total // batch)
    ]


# --- the bare server --------------------------------------------------------------------------------------------
async def serve_bare(port: int) -> None:
    """Deserialize, relay to subscribers, store nothing."""
    subscribers: dict[bytes, set[asyncio.Queue[bytes]]] = {}
    next_id = 0

    async def send(request: mls_pb2.SendGroupMessagesRequest, context: Any) -> bytes:
        nonlocal next_id
        now = time.time_ns()
        queues = subscribers.get(b"*")
        for m in request.messages:
            next_id += 1
            # The group id is not parsed (that would be validation): every subscriber gets every message.
            if queues:
                out = mls_pb2.GroupMessage(
                    v1=mls_pb2.GroupMessage.V1(
                        id=next_id, created_ns=now, data=m.v1.data, should_push=m.v1.should_push
                    )
                ).SerializeToString()
                for q in queues:
                    q.put_nowait(out)
        return b""

    async def subscribe(request: mls_pb2.SubscribeGroupMessagesRequest, context: Any) -> None:
        await context.send_initial_metadata((("subscribed", "true"),))
        q: asyncio.Queue[bytes] = asyncio.Queue()
        subscribers.setdefault(b"*", set()).add(q)
        try:
            while True:
                await context.write(await q.get())
        finally:
            subscribers[b"*"].discard(q)

    handlers = {
        "SendGroupMessages": grpc.unary_unary_rpc_method_handler(
            send, request_deserializer=mls_pb2.SendGroupMessagesRequest.FromString
        ),
        "SubscribeGroupMessages": grpc.unary_stream_rpc_method_handler(
            subscribe, request_deserializer=mls_pb2.SubscribeGroupMessagesRequest.FromString
        ),
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("xmtp.mls.api.v1.MlsApi", handlers),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


# --- load ---------------------------------------------------------------------------------------------------------
def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def throughput(
    channel: grpc.aio.Channel, server_pid: int, requests: list[bytes], batch: int, concurrency: int
) -> dict[str, Any]:
    call = channel.unary_unary(SEND)
    pending = iter(requests)
    server_cpu = process_cpu_seconds(server_pid)
    client_cpu = time.process_time()
    start = time.perf_counter()

    async def worker() -> None:
        for request in pending:
            await call(request)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    server_cpu = process_cpu_seconds(server_pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    sent = len(requests) * batch
    return {
        "messages": sent,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(sent / elapsed),
        "server_cpu_cores": round(server_cpu / elapsed, 2),
        "client_cpu_cores": round(client_cpu / elapsed, 2),
    }


async def latency(
    address: str,
    payloads: Payloads,
    rate: int,
    seconds: float,
    warmup: float,
    publish_address: str | None = None,
) -> dict[str, Any]:
    """Subscribe at ``address``, publish at ``publish_address`` (default: the same server)."""
    group = payloads.group_id()
    n = int(rate * (seconds + warmup))
    datas = [payloads.message(group) for _ in range(n)]
    samples: list[float] = []
    received = 0
    async with (
        grpc.aio.insecure_channel(address) as sub_channel,
        grpc.aio.insecure_channel(publish_address or address) as pub_channel,
    ):
        Filter = mls_pb2.SubscribeGroupMessagesRequest.Filter
        stream = sub_channel.unary_stream(SUBSCRIBE, response_deserializer=mls_pb2.GroupMessage.FromString)(
            mls_pb2.SubscribeGroupMessagesRequest(filters=[Filter(group_id=group)]).SerializeToString()
        )
        await stream.initial_metadata()
        send = pub_channel.unary_unary(SEND)
        await send(send_request([payloads.message(payloads.group_id())]))  # connect before the clock starts
        warm_until = time.monotonic_ns() + int(warmup * 1e9)

        async def reader() -> None:
            nonlocal received
            async for message in stream:
                now = time.monotonic_ns()
                sent = int.from_bytes(message.v1.data[-8:], "big")
                received += 1
                if sent >= warm_until:
                    samples.append((now - sent) / 1e6)

        read_task = asyncio.create_task(reader())
        in_flight: set[asyncio.Future[Any]] = set()
        failures: dict[str, int] = {}

        def sent(task: asyncio.Future[Any]) -> None:
            in_flight.discard(task)
            exc = None if task.cancelled() else task.exception()
            if exc is not None:  # counted, so that the subscriber is not waited for in vain
                code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else type(exc).__name__
                failures[code] = failures.get(code, 0) + 1

        start = time.monotonic()
        for i, data in enumerate(datas):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(send(send_request([stamp(data)])))
            in_flight.add(task)
            task.add_done_callback(sent)
        send_seconds = time.monotonic() - start
        await asyncio.gather(*in_flight, return_exceptions=True)
        # every acknowledged message must arrive; a server that lost one, or one so starved of CPU that it is
        # a minute behind, shows as missing
        deadline = time.monotonic() + 60
        while received < n - sum(failures.values()) and time.monotonic() < deadline and not read_task.done():
            await asyncio.sleep(0.01)
        stream.cancel()
        read_task.cancel()
        await asyncio.gather(read_task, return_exceptions=True)
    samples.sort()
    return {
        "achieved_send_rate_per_s": round(n / send_seconds),
        "failed_sends": failures,
        "missing_after_60_s": n - sum(failures.values()) - received,
        "samples": len(samples),
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
        "max_ms": round(samples[-1], 3),
    }


def disk_floor(directory: Path, rate: int, seconds: float, warmup: float) -> dict[str, Any]:
    """The latency floor of a durable store on ``directory``'s disk (see the module docstring); blocking."""
    n = int(rate * (seconds + warmup))
    measured_from = int(rate * warmup)
    record = os.urandom((MIN_PAYLOAD + MAX_PAYLOAD) // 2)
    samples: list[float] = []
    path = directory / "disk-floor.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.monotonic()
        written = 0
        while written < n:
            now = time.monotonic()
            due = min(n, int((now - start) * rate) + 1)
            if due <= written:
                time.sleep(start + written / rate - now)
                continue
            os.write(fd, record * (due - written))
            os.fdatasync(fd)
            done = time.monotonic()
            samples += [(done - start - i / rate) * 1e3 for i in range(max(written, measured_from), due)]
            written = due
    finally:
        os.close(fd)
        path.unlink()
    samples.sort()
    return {
        "samples": len(samples),
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
        "max_ms": round(samples[-1], 3),
    }


# --- orchestration ------------------------------------------------------------------------------------------------
def start_server(kind: str, port: int, work_dir: Path, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    if kind.endswith("_node"):
        cmd = [
            sys.executable, "-m", "pyxmtp", "node", "--port", str(port), "--data-dir", str(work_dir / "data"),
            "--no-rate-limit", "--log-level", "warning", "--sqlite-synchronous", args.synchronous,
        ]  # fmt: skip
        if kind == "postgres_node":
            cmd += ["--database-url", args.database_url, "--database-schema", args.schema]
    else:
        cmd = [sys.executable, __file__, "--serve-bare", str(port)]
    return launch(cmd, port, work_dir / f"{kind}.log", kind)


def launch(cmd: list[str], port: int, log_path: Path, name: str) -> subprocess.Popen[bytes]:
    """Start ``cmd`` (output to ``log_path``) and wait, up to 30 s, until it listens on ``port``."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}") from None
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError(f"{name} did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def alternating(kinds: tuple[str, ...], rounds: int) -> Iterator[tuple[int, tuple[str, ...]]]:
    for r in range(rounds):
        yield r, kinds if r % 2 == 0 else kinds[::-1]


async def drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def machine(load_before: tuple[float, ...], load_after: tuple[float, ...]) -> dict[str, Any]:
    """The machine a node benchmark ran on, with its 1-minute load average before and after the runs."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "platform": platform.platform(),
        "load_average_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
    }


def summary(samples: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {f"median_{k}": round(statistics.median(s[k] for s in samples), 3) for k in keys}
    out["samples"] = samples
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    payloads = Payloads(args.seed)
    kinds = (*(f"{store}_node" for store in args.stores), "bare_server")
    args.schema = f"pyxmtp_bench_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="pyxmtp-bench-") as tmp:
        procs: dict[str, subprocess.Popen[bytes]] = {}
        channels: dict[str, grpc.aio.Channel] = {}
        addresses: dict[str, str] = {}
        try:
            for kind in kinds:
                work = Path(tmp) / kind
                work.mkdir()
                port = free_port()
                procs[kind] = start_server(kind, port, work, args)
                addresses[kind] = f"127.0.0.1:{port}"
                channels[kind] = grpc.aio.insecure_channel(addresses[kind])
            load_before = os.getloadavg()
            loads = (("batched", args.batch, args.batched_messages), ("single", 1, args.single_messages))
            for kind in kinds:  # warm-up: connections, the node's caches and a first part of its database
                for _, batch, total in loads:
                    requests = build_requests(payloads, batch, max(batch, total // 5), args.groups)
                    await throughput(channels[kind], procs[kind].pid, requests, batch, args.in_flight)
            results: dict[str, dict[str, list[dict[str, Any]]]] = {
                kind: {"batched": [], "single": [], "latency": []} for kind in kinds
            }
            for _, order in alternating(kinds, args.rounds):
                for name, batch, total in loads:
                    for kind in order:
                        requests = build_requests(payloads, batch, total, args.groups)
                        sample = await throughput(
                            channels[kind], procs[kind].pid, requests, batch, args.in_flight
                        )
                        results[kind][name].append(sample)
            await asyncio.sleep(0.5)  # let the bursts' background work (WAL checkpoints) settle
            floor: list[dict[str, Any]] = []
            for _, order in alternating(kinds, args.latency_rounds):
                for kind in order:
                    sample = await latency(addresses[kind], payloads, args.rate, args.seconds, args.warmup)
                    results[kind]["latency"].append(sample)
                floor.append(
                    await asyncio.to_thread(disk_floor, Path(tmp), args.rate, args.seconds, args.warmup)
                )
            load_after = os.getloadavg()
        finally:
            for channel in channels.values():
                await channel.close()
            for proc in procs.values():
                stop_server(proc)
            if "postgres_node" in kinds:
                await drop_schema(args.database_url, args.schema)

    tp_keys = ("messages_per_s", "server_cpu_cores", "client_cpu_cores")
    lat_keys = ("p50_ms", "p99_ms", "max_ms")
    out: dict[str, Any] = {}
    for kind in kinds:
        r = results[kind]
        out[kind] = {
            "batched": {"batch": args.batch, **summary(r["batched"], tp_keys)},
            "single": {"batch": 1, **summary(r["single"], tp_keys)},
            "latency": {"rate_per_s": args.rate, **summary(r["latency"], lat_keys)},
        }
    bare = out["bare_server"]
    disk = {"rate_per_s": args.rate, **summary(floor, lat_keys)}
    ratios: dict[str, dict[str, float]] = {}
    targets: dict[str, dict[str, Any]] = {}
    for kind in kinds[:-1]:
        node = out[kind]
        ratios[kind] = {
            name: round(node[name]["median_messages_per_s"] / bare[name]["median_messages_per_s"], 3)
            for name in ("batched", "single")
        }
        targets[kind] = {
            "batched_at_least_5000_per_s": node["batched"]["median_messages_per_s"] >= 5000,
            "batched_at_least_half_of_bare": ratios[kind]["batched"] >= 0.5,
            "median_p99_at_most_20_ms_at_rate": node["latency"]["median_p99_ms"] <= 20.0,
            "worst_p99_ms": max(s["p99_ms"] for s in results[kind]["latency"]),
            "disk_floor_median_p99_ms": disk["median_p99_ms"],
        }
    configs = {
        "sqlite_node": {
            "store": "SQLite, WAL, one writer thread with group commit",
            "synchronous": args.synchronous.upper(),
        },
        "postgres_node": {
            "store": "PostgreSQL, one writing connection with group commit, a row per message",
            "server": args.database_url,
        },
    }
    return {
        "benchmark": "pyxmtp node: SendGroupMessages throughput and publish->subscriber latency",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(load_before, load_after),
        "load": {
            "payload_bytes": [MIN_PAYLOAD, MAX_PAYLOAD],
            "in_flight": args.in_flight,
            "groups": args.groups,
            "rounds": args.rounds,
            "latency_rounds": args.latency_rounds,
            "batched_messages_per_sample": args.batched_messages,
            "single_messages_per_sample": args.single_messages,
        },
        "node_config": {
            "rate_limits": "off",
            "validation": "every message parsed as MLSMessage (group id, commit flag), deduplicated by hash",
            **{kind: configs[kind] for kind in kinds[:-1]},
        },
        **out,
        "disk_floor": {"latency": disk},
        "ratio_to_bare": ratios,
        "targets": targets,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--batch", type=int, default=50, help="messages per call in the batched runs")
    p.add_argument("--batched-messages", type=int, default=50_000, help="messages per batched sample")
    p.add_argument("--single-messages", type=int, default=5_000, help="messages per single-message sample")
    p.add_argument("--in-flight", type=int, default=16, help="concurrent calls in the throughput runs")
    p.add_argument("--groups", type=int, default=16, help="groups the throughput load spreads over")
    p.add_argument("--rounds", type=int, default=5, help="throughput samples per server and load")
    p.add_argument("--rate", type=int, default=1000, help="messages per second for the latency runs")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds of each latency run")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each latency run")
    p.add_argument("--latency-rounds", type=int, default=3, help="latency runs per server")
    p.add_argument("--seed", type=int, default=1, help="seed of the payload generator")
    p.add_argument("--quick", action="store_true", help="2 rounds, smaller samples (a smoke run)")
    p.add_argument(
        "--synchronous",
        choices=("full", "extra", "normal"),
        default="full",
        help="the node's SQLite durability",
    )
    p.add_argument(
        "--stores",
        type=lambda v: tuple(v.split(",")),
        default=("sqlite",),
        help="the node's stores to measure, comma-separated: sqlite (default), postgres",
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("PYXMTP_DATABASE_URL", "postgresql://127.0.0.1:5432/test"),
        help="PostgreSQL for the postgres store (a schema of this run is created and dropped)",
    )
    p.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    nodes = p.add_argument_group("--nodes: K node processes on one PostgreSQL schema (node_scaleout.py)")
    nodes.add_argument(
        "--nodes",
        type=lambda v: tuple(int(k) for k in v.split(",")),
        default=None,
        help="run the scale-out benchmark for these numbers of node processes, e.g. 1,2",
    )
    nodes.add_argument(
        "--shared-groups",
        action="store_true",
        help="with --nodes: every node's load goes to the same groups (default: each node's its own)",
    )
    abuse = p.add_argument_group("--abuse: a flooding IP against a well-behaved one (node_abuse.py)")
    abuse.add_argument("--abuse", action="store_true", help="run the abuse benchmark instead")
    abuse.add_argument("--abuse-rate", type=float, default=40.0, help="the well-behaved client's calls/s")
    abuse.add_argument("--abuse-seconds", type=float, default=10.0, help="seconds of each phase")
    abuse.add_argument("--abuse-rounds", type=int, default=5, help="baseline + flood phases")
    abuse.add_argument(
        "--flood-rate", type=float, default=10 * 4000 / 60, help="the flooder's calls/s (10x its read refill)"
    )
    abuse.add_argument(
        "--abuse-no-tarpit",
        action="store_true",
        help="run the node with --no-tarpit (refusals answered at once)",
    )
    abuse.add_argument(
        "--flood-deadline", type=float, default=None, help="the flooder's deadline per call, seconds (none)"
    )
    abuse.add_argument("--flood-in-flight", type=int, default=512, help="the flooder's most calls at once")
    args = p.parse_args(argv)
    if not args.stores or any(store not in STORES for store in args.stores):
        p.error(f"--stores takes a comma-separated list of {', '.join(STORES)}")
    if args.quick:
        args.rounds, args.latency_rounds, args.seconds = 2, 1, 2.0
        args.batched_messages, args.single_messages = 20_000, 2_000
        args.abuse_rounds, args.abuse_seconds = 2, 5.0
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_bare:
        asyncio.run(serve_bare(arguments.serve_bare))
    elif arguments.nodes:
        import node_scaleout

        print(json.dumps(asyncio.run(node_scaleout.run(arguments)), indent=2))
    elif arguments.abuse:
        import node_abuse

        sys.exit(node_abuse.main(arguments))
    else:
        print(json.dumps(asyncio.run(run(arguments)), indent=2))
