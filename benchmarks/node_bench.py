"""Node benchmark: SendGroupMessages throughput and publish -> subscriber latency, pyxmtp node vs a bare server.

    python benchmarks/node_bench.py            # JSON on stdout

Two servers run as subprocesses, one after the other, each measured with the same load from this process:

- ``sqlite_node``: ``pyxmtp node`` with its defaults (embedded SQLite, WAL, synchronous=FULL, validation of
  every MLS message, in-process subscription feed), rate limits off;
- ``bare_server``: a grpc.aio server answering the same two methods that stores nothing: it deserializes the
  request and hands every message straight to the open subscriptions.

Loads: throughput with batches of 50 messages and with single-message calls (several calls in flight), then
latency: one subscriber on a group while single-message sends go out at a fixed rate (default 1000 msg/s) for
a 1 s warm-up plus the measured seconds; each payload carries its send time (CLOCK_MONOTONIC). The machine's
other load shows in every number: run it on an idle machine, more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from pyxmtp.mls.codec import encode
from pyxmtp.mls.constants import ContentType
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage
from pyxmtp.proto.mls.api.v1 import mls_pb2

SEND = "/xmtp.mls.api.v1.MlsApi/SendGroupMessages"
SUBSCRIBE = "/xmtp.mls.api.v1.MlsApi/SubscribeGroupMessages"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payload(group_id: bytes, seq: int, size: int = 256) -> bytes:
    """A libxmtp-shaped MLSMessage(PrivateMessage); the ciphertext ends with an 8-byte send timestamp slot."""
    body = seq.to_bytes(8, "big") + os.urandom(max(0, size - 16)) + bytes(8)
    return encode(MLSMessage(PrivateMessage(group_id, 1, ContentType.application, b"", os.urandom(16), body)))


def stamp(data: bytes) -> bytes:
    """``data`` with the current monotonic time in its last 8 bytes (unique payloads stay unique)."""
    return data[:-8] + time.monotonic_ns().to_bytes(8, "big")


def send_request(datas: list[bytes]) -> bytes:
    V1 = mls_pb2.GroupMessageInput.V1
    return mls_pb2.SendGroupMessagesRequest(
        messages=[mls_pb2.GroupMessageInput(v1=V1(data=d, should_push=True)) for d in datas]
    ).SerializeToString()


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
async def throughput(address: str, batch: int, total: int, concurrency: int) -> dict[str, Any]:
    group = os.urandom(16)
    requests = [
        send_request([payload(group, i * batch + j) for j in range(batch)]) for i in range(total // batch)
    ]
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(SEND)
        await call(send_request([payload(group, 10**9)]))  # warm the connection
        queue = list(reversed(requests))
        start = time.perf_counter()

        async def worker() -> None:
            while queue:
                await call(queue.pop())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    sent = len(requests) * batch
    return {
        "messages": sent,
        "batch": batch,
        "in_flight": concurrency,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(sent / elapsed),
    }


async def latency(address: str, rate: int, seconds: float, warmup: float = 1.0) -> dict[str, Any]:
    group = os.urandom(16)
    n = int(rate * (seconds + warmup))
    datas = [payload(group, i) for i in range(n)]
    samples: list[float] = []
    received = 0
    async with (
        grpc.aio.insecure_channel(address) as sub_channel,
        grpc.aio.insecure_channel(address) as pub_channel,
    ):
        Filter = mls_pb2.SubscribeGroupMessagesRequest.Filter
        stream = sub_channel.unary_stream(SUBSCRIBE, response_deserializer=mls_pb2.GroupMessage.FromString)(
            mls_pb2.SubscribeGroupMessagesRequest(filters=[Filter(group_id=group)]).SerializeToString()
        )
        await stream.initial_metadata()
        send = pub_channel.unary_unary(SEND)
        warm_until = time.monotonic_ns() + int(warmup * 1e9)

        async def reader() -> None:
            nonlocal received
            async for message in stream:
                now = time.monotonic_ns()
                sent = int.from_bytes(message.v1.data[-8:], "big")
                received += 1
                if sent >= warm_until:
                    samples.append((now - sent) / 1e6)
                if received == n:
                    return

        read_task = asyncio.create_task(reader())
        in_flight: set[asyncio.Future[Any]] = set()
        start = time.monotonic()
        for i, data in enumerate(datas):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(send(send_request([stamp(data)])))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        send_seconds = time.monotonic() - start
        await asyncio.gather(*in_flight)
        await asyncio.wait_for(read_task, 30)
        stream.cancel()
    samples.sort()
    return {
        "rate_per_s": rate,
        "achieved_send_rate_per_s": round(n / send_seconds),
        "samples": len(samples),
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
        "max_ms": round(samples[-1], 3),
    }


# --- orchestration ------------------------------------------------------------------------------------------------
def start_server(kind: str, port: int, data_dir: Path, synchronous: str) -> subprocess.Popen[bytes]:
    if kind == "sqlite_node":
        cmd = [
            sys.executable, "-m", "pyxmtp", "node", "--port", str(port), "--data-dir", str(data_dir),
            "--no-rate-limit", "--log-level", "warning", "--sqlite-synchronous", synchronous,
        ]  # fmt: skip
    else:
        cmd = [sys.executable, __file__, "--serve-bare", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited with {proc.returncode}") from None
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError(f"{kind} did not start")


async def measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="pyxmtp-bench-") as tmp:
        proc = start_server(kind, port, Path(tmp) / "data", args.synchronous)
        try:
            address = f"127.0.0.1:{port}"
            batched = await throughput(address, 50, args.batched_messages, args.in_flight)
            single = await throughput(address, 1, args.single_messages, args.in_flight)
            await asyncio.sleep(1.0)  # let background work of the bursts (WAL checkpoint) settle
            return {
                "batched": batched,
                "single": single,
                "latency": await latency(address, args.rate, args.seconds),
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    node = await measure("sqlite_node", args)
    bare = await measure("bare_server", args)
    batched_ratio = node["batched"]["messages_per_s"] / bare["batched"]["messages_per_s"]
    single_ratio = node["single"]["messages_per_s"] / bare["single"]["messages_per_s"]
    return {
        "benchmark": "pyxmtp node: SendGroupMessages throughput and publish->subscriber latency",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
            "platform": platform.platform(),
        },
        "sqlite_node_config": {
            "store": "SQLite, WAL, one writer thread with group commit",
            "synchronous": args.synchronous.upper(),
            "rate_limits": "off",
            "validation": "every message parsed as MLSMessage (group id, commit flag), deduplicated by hash",
        },
        "sqlite_node": node,
        "bare_server": bare,
        "ratio_to_bare": {"batched": round(batched_ratio, 3), "single": round(single_ratio, 3)},
        "targets": {
            "batched_at_least_5000_per_s": node["batched"]["messages_per_s"] >= 5000,
            "batched_at_least_half_of_bare": batched_ratio >= 0.5,
            "p99_at_most_20_ms_at_rate": node["latency"]["p99_ms"] <= 20.0,
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batched-messages", type=int, default=50_000, help="messages sent in batches of 50")
    p.add_argument("--single-messages", type=int, default=5_000, help="messages sent one per call")
    p.add_argument("--in-flight", type=int, default=8, help="concurrent calls for the throughput runs")
    p.add_argument("--rate", type=int, default=1000, help="messages per second for the latency run")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds of the latency run")
    p.add_argument(
        "--synchronous",
        choices=("full", "extra", "normal"),
        default="full",
        help="the node's SQLite durability",
    )
    p.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_bare:
        asyncio.run(serve_bare(arguments.serve_bare))
    else:
        print(json.dumps(asyncio.run(main(arguments)), indent=2))
