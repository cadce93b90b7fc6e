"""Abuse benchmark (``python benchmarks/node_bench.py --abuse [--quick]``): how much one flooding IP slows a
well-behaved one.

One ``pyxmtp node`` runs as a subprocess with its default rate limits (xmtp-node-go's budgets: 20 000 read
tokens refilled at 4 000 a minute, 3 000 write tokens at 600 a minute, per IP) and its default tarpit (an IP's
refusals past a burst of 40 held and answered 20 a second; ``--abuse-no-tarpit``: answered at once) and listens
on both loopbacks, so that two client IPs reach it from this machine:

- the well-behaved client (this process) calls it from 127.0.0.1 at a steady ``--abuse-rate`` (40 calls/s,
  within both of its budgets for the whole run): QueryGroupMessages of a 50-message group, SendGroupMessages of
  one message (to another group, so that every round reads the same page), FetchKeyPackages of 3 keys,
  QueryGroupMessages again, GetIdentityUpdates of 2 inboxes; every call's latency is a sample;
- the flooder (``--flood``, its own process, so that its CPU is measured apart) calls it from ::1. It first
  drains its read bucket (a flood that has been going on for a while), then sends ``--flood-rate`` calls/s
  (default 667: ten times the 66.7 calls/s its read budget sustains), open loop, in a cycle of 20 calls that
  are the abusive ones of the load tests that prompted this: a SubscribeGroupMessages with 20 000 filters,
  two FetchKeyPackages of 1 000 keys, two GetIdentityUpdates of 1 000 inboxes, two 64 KiB requests of garbage
  and 13 ordinary QueryGroupMessages. It keeps at most ``--flood-in-flight`` calls open (512; past that it skips
  its turn, counted), each with a deadline of ``--flood-deadline`` seconds if given (none by default).

Rounds alternate a baseline phase (the well-behaved client alone) and a flood phase (the same load with the
flooder running), the order flipped every round; each phase lasts ``--abuse-seconds``. Per phase: the
well-behaved client's p50/p95/p99 and the CPU of the node, of the flooder and of this process over the phase.
The figure is the growth of the well-behaved p95 under the flood: the median over rounds of (flood p95 /
baseline p95 of the same round) - 1, target at most 50 %. The node's resident memory at the end of each phase
(``node_rss_mb``) shows what the flooder's held calls cost it.

Each round also floods, for as long, a bare grpc.aio server that refuses every call with RESOURCE_EXHAUSTED
without reading it (``refusing`` in each round, a subprocess for the whole run): its CPU per call is the floor of any
refusal in gRPC's Python server, to set beside the node's (the node's extra CPU under the flood over the flood's
calls, which also counts the tenth of them the flooder's budget lets through; with the tarpit, most of the flood's
answered calls are those, so the figure is then what serving them costs, and ``node_cpu_cores`` tells more).

    python benchmarks/node_abuse.py --flood [::1]:PORT --group HEX --rate 667   # the flooder (run by the above)
    python benchmarks/node_abuse.py --serve-refusing PORT                     # the refusing server (likewise)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
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
from mls_bench import write_report
from node_bench import Payloads, launch, process_cpu_seconds, send_request, stop_server

from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2

MLS = "/xmtp.mls.api.v1.MlsApi/"
IDENTITY = "/xmtp.identity.api.v1.IdentityApi/"
#: The read budget's refill, per second, at the node's defaults: "10x its limit" is ten times this in calls.
READ_REFILL_PER_S = 4000 / 60


def free_dual_port() -> int:
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::", 0))
        return int(s.getsockname()[1])


# --- requests ---------------------------------------------------------------------------------------------------
def query_request(group_id: bytes) -> bytes:
    return mls_pb2.QueryGroupMessagesRequest(group_id=group_id).SerializeToString()


def fetch_key_packages_request(n: int) -> bytes:
    return mls_pb2.FetchKeyPackagesRequest(
        installation_keys=[os.urandom(32) for _ in range(n)]
    ).SerializeToString()


def identity_updates_request(n: int) -> bytes:
    Req = identity_pb2.GetIdentityUpdatesRequest.Request
    requests = [Req(inbox_id=os.urandom(32).hex(), sequence_id=0) for _ in range(n)]
    return identity_pb2.GetIdentityUpdatesRequest(requests=requests).SerializeToString()


def subscribe_request(n: int) -> bytes:
    Filter = mls_pb2.SubscribeGroupMessagesRequest.Filter
    filters = [Filter(group_id=os.urandom(16), id_cursor=0) for _ in range(n)]
    return mls_pb2.SubscribeGroupMessagesRequest(filters=filters).SerializeToString()


def flood_cycle(group_id: bytes) -> list[tuple[str, bytes]]:
    """The flooder's 20 calls, request bytes built once (see the module docstring)."""
    kp, iu, junk = fetch_key_packages_request(1000), identity_updates_request(1000), b"\xff" * (64 * 1024)
    q = query_request(group_id)
    heavy = [
        ("SubscribeGroupMessages", subscribe_request(20_000)),
        ("FetchKeyPackages", kp),
        ("GetIdentityUpdates", iu),
        ("QueryGroupMessages", junk),
        ("FetchKeyPackages", kp),
        ("GetIdentityUpdates", iu),
        ("QueryGroupMessages", junk),
    ]
    cycle: list[tuple[str, bytes]] = []
    for i in range(20):  # the heavy calls spread through the cycle
        cycle.append(heavy[i // 3] if i % 3 == 0 and i // 3 < len(heavy) else ("QueryGroupMessages", q))
    return cycle


class Caller:
    """Raw-bytes calls by method name over one channel; a subscription counts as answered once admitted."""

    def __init__(self, channel: grpc.aio.Channel, deadline: float | None = None) -> None:
        self.channel = channel
        self.deadline = deadline
        self._unary: dict[str, Any] = {}

    async def __call__(self, method: str, request: bytes) -> grpc.StatusCode:
        try:
            if method == "SubscribeGroupMessages":
                call = self.channel.unary_stream(MLS + method)(request, timeout=self.deadline)
                if ("subscribed", "true") not in list(await call.initial_metadata()):
                    await call.read()  # raises how it ended
                call.cancel()
                return grpc.StatusCode.OK
            fn = self._unary.get(method)
            if fn is None:
                path = (IDENTITY if method == "GetIdentityUpdates" else MLS) + method
                fn = self._unary[method] = self.channel.unary_unary(path)
            await fn(request, timeout=self.deadline)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


# --- the refusing server -----------------------------------------------------------------------------------------
async def serve_refusing(port: int) -> None:
    """Answer every call RESOURCE_EXHAUSTED, the request unread: the floor of a refusal in grpc.aio."""

    async def refuse(requests: Any, context: Any) -> None:
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate limit exceeded")

    class Refuse(grpc.GenericRpcHandler):
        """Client-streaming handlers, as the node's: gRPC calls them before reading the request."""

        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
            if details.method.endswith("/SubscribeGroupMessages"):  # type: ignore[attr-defined]
                return grpc.stream_stream_rpc_method_handler(refuse)
            return grpc.stream_unary_rpc_method_handler(refuse)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((Refuse(),))
    server.add_insecure_port(f"[::]:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


# --- the flooder --------------------------------------------------------------------------------------------------
async def flood(
    address: str, group_id: bytes, rate: float, max_in_flight: int, deadline: float | None = None
) -> dict[str, Any]:
    """Drain the read bucket, print ``flooding``, then flood at ``rate`` calls/s until SIGTERM; the counts."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with grpc.aio.insecure_channel(address) as channel:
        call = Caller(channel, deadline=30.0)  # a drain call that hangs fails the run instead of stalling it
        for request in [
            fetch_key_packages_request(n) for n in (1000, 100, 10, 1)
        ]:  # a few calls empty 20 000
            while (code := await call("FetchKeyPackages", request)) != grpc.StatusCode.RESOURCE_EXHAUSTED:
                if code != grpc.StatusCode.OK:
                    raise RuntimeError(f"draining the read bucket: {code.name}")
        cycle = flood_cycle(group_id)
        call.deadline = deadline
        statuses: collections.Counter[str] = collections.Counter()
        in_flight: set[asyncio.Task[None]] = set()
        skipped = 0

        async def one(method: str, request: bytes) -> None:
            statuses[(await call(method, request)).name] += 1

        print("flooding", flush=True)
        start = time.monotonic()
        sent = 0
        while not stop.is_set():
            delay = start + sent / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            if len(in_flight) >= max_in_flight:
                skipped += 1  # the node is not keeping up: the flood goes on at the rate it allows
            else:
                task = asyncio.create_task(one(*cycle[sent % len(cycle)]))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            sent += 1
        seconds = time.monotonic() - start
        for task in list(in_flight):
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
    answered = sum(statuses.values())
    return {
        "seconds": round(seconds, 2),
        "calls_per_s": round(answered / seconds, 1),
        "request_bytes_per_s": round(
            sum(len(r) for _, r in cycle) / len(cycle) * answered / seconds / 1e6, 1
        ),
        "skipped_at_max_in_flight": skipped,
        "max_in_flight": max_in_flight,
        "deadline_s": deadline,
        "statuses": dict(statuses),
    }


# --- the well-behaved client -------------------------------------------------------------------------------------
class WellBehaved:
    """The steady client: one call every ``1 / rate`` s, cycling through five ordinary calls."""

    def __init__(self, address: str, group_id: bytes, payloads: Payloads) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.call = Caller(self.channel)
        self.group_id = group_id
        self.sink = payloads.group_id()  # where it sends: the group it reads stays at 50 messages
        self.payloads = payloads

    def cycle(self) -> list[tuple[str, bytes]]:
        send = send_request([self.payloads.message(self.sink)])
        return [
            ("QueryGroupMessages", query_request(self.group_id)),
            ("SendGroupMessages", send),
            ("FetchKeyPackages", fetch_key_packages_request(3)),
            ("QueryGroupMessages", query_request(self.group_id)),
            ("GetIdentityUpdates", identity_updates_request(2)),
        ]

    async def run(self, rate: float, seconds: float) -> dict[str, Any]:
        n = int(rate * seconds)
        calls = [c for _ in range(n // 5 + 1) for c in self.cycle()][:n]  # built before the clock starts
        samples: list[float] = []
        errors: collections.Counter[str] = collections.Counter()

        async def one(method: str, request: bytes) -> None:
            t0 = time.perf_counter()
            code = await self.call(method, request)
            if code == grpc.StatusCode.OK:
                samples.append((time.perf_counter() - t0) * 1e3)
            else:
                errors[code.name] += 1

        tasks = []
        start = time.perf_counter()
        for i, c in enumerate(calls):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(*c)))
        await asyncio.gather(*tasks)
        samples.sort()

        def pct(p: float) -> float:
            return round(samples[min(len(samples) - 1, int(len(samples) * p))], 3)

        return {
            "calls": n,
            "errors": dict(errors),
            "p50_ms": round(statistics.median(samples), 3),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": round(samples[-1], 3),
        }


# --- orchestration ------------------------------------------------------------------------------------------------
def start_server(cmd: list[str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    return launch(cmd, port, log_path, str(cmd))


def start_node(port: int, work: Path, tarpit: bool = True) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "pyxmtp", "node", "--host", "::", "--port", str(port),
        "--data-dir", str(work / "data"), "--log-level", "warning", *([] if tarpit else ["--no-tarpit"]),
    ]  # fmt: skip
    return start_server(cmd, port, work / "node.log")


def start_refusing(port: int, work: Path) -> subprocess.Popen[bytes]:
    return start_server(
        [sys.executable, __file__, "--serve-refusing", str(port)], port, work / "refusing.log"
    )


class Flooder:
    """The flooder process for one flood phase: started, drained, flooding; then stopped and its counts read."""

    def __init__(
        self, address: str, group_id: bytes, rate: float, max_in_flight: int, deadline: float | None = None
    ) -> None:
        cmd = [
            sys.executable, __file__, "--flood", address, "--group", group_id.hex(), "--rate", str(rate),
            "--max-in-flight", str(max_in_flight), *([] if deadline is None else ["--deadline", str(deadline)]),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        self.pid = self.proc.pid

    async def flooding(self) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.to_thread(self.proc.stdout.readline)
        if line.strip() != b"flooding":
            raise RuntimeError(f"the flooder failed to start ({line!r})")

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return dict(json.loads(out))


async def phase(
    client: WellBehaved, node_pid: int, flooder: Flooder | None, args: argparse.Namespace
) -> dict[str, Any]:
    cpu0 = process_cpu_seconds(node_pid), time.process_time()
    fcpu0 = process_cpu_seconds(flooder.pid) if flooder else 0.0
    t0 = time.perf_counter()
    result = await client.run(args.abuse_rate, args.abuse_seconds)
    elapsed = time.perf_counter() - t0
    result["node_cpu_cores"] = round((process_cpu_seconds(node_pid) - cpu0[0]) / elapsed, 3)
    result["client_cpu_cores"] = round((time.process_time() - cpu0[1]) / elapsed, 3)
    result["node_rss_mb"] = rss_mb(node_pid)  # at the phase's end: with the flooder's held calls, if any
    if flooder is not None:
        result["flooder_cpu_cores"] = round((process_cpu_seconds(flooder.pid) - fcpu0) / elapsed, 3)
    return result


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` now, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def median_of(samples: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(s[key] for s in samples), 3)


async def flood_refusing(
    port: int, server_pid: int, group_id: bytes, args: argparse.Namespace
) -> dict[str, Any]:
    """The same flood against the refusing server for one phase: its CPU per call."""
    flooder = Flooder(f"[::1]:{port}", group_id, args.flood_rate, args.flood_in_flight, args.flood_deadline)
    try:
        await flooder.flooding()
        cpu0, fcpu0, t0 = (
            process_cpu_seconds(server_pid),
            process_cpu_seconds(flooder.pid),
            time.perf_counter(),
        )
        await asyncio.sleep(args.abuse_seconds)
        elapsed = time.perf_counter() - t0
        cpu, fcpu = process_cpu_seconds(server_pid) - cpu0, process_cpu_seconds(flooder.pid) - fcpu0
    finally:
        counts = flooder.stop()
    return {
        "server_cpu_cores": round(cpu / elapsed, 3),
        "flooder_cpu_cores": round(fcpu / elapsed, 3),
        "flooder": counts,
        "server_cpu_us_per_call": round(cpu / elapsed / counts["calls_per_s"] * 1e6, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    payloads = Payloads(args.seed)
    group_id = payloads.group_id()
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pyxmtp-abuse-") as tmp:
        port, bare_port = free_dual_port(), free_dual_port()
        node = start_node(port, Path(tmp), tarpit=not args.abuse_no_tarpit)
        bare = start_refusing(bare_port, Path(tmp))
        client = WellBehaved(f"127.0.0.1:{port}", group_id, payloads)
        try:
            await client.channel.unary_unary(MLS + "SendGroupMessages")(
                send_request([payloads.message(group_id) for _ in range(50)])
            )
            await client.run(args.abuse_rate, 2.0)  # warm-up
            load_before = os.getloadavg()
            for r in range(args.abuse_rounds):
                order = ("baseline", "flood", "refusing") if r % 2 == 0 else ("refusing", "flood", "baseline")
                this_round: dict[str, Any] = {}
                for kind in order:
                    if kind == "baseline":
                        this_round[kind] = await phase(client, node.pid, None, args)
                    elif kind == "refusing":
                        this_round[kind] = await flood_refusing(bare_port, bare.pid, group_id, args)
                    else:
                        flooder = Flooder(
                            f"[::1]:{port}",
                            group_id,
                            args.flood_rate,
                            args.flood_in_flight,
                            args.flood_deadline,
                        )
                        try:
                            await flooder.flooding()
                            sample = await phase(client, node.pid, flooder, args)
                        finally:
                            sample["flooder"] = flooder.stop()
                        this_round[kind] = sample
                base, flood = this_round["baseline"], this_round["flood"]
                this_round["p95_growth"] = round(flood["p95_ms"] / base["p95_ms"] - 1, 3)
                this_round["node_cpu_us_per_flood_call"] = round(
                    (flood["node_cpu_cores"] - base["node_cpu_cores"])
                    / flood["flooder"]["calls_per_s"]
                    * 1e6,
                    1,
                )
                rounds.append(this_round)
                print(
                    f"round {r}: p95 {base['p95_ms']} -> {flood['p95_ms']} ms ({this_round['p95_growth']:+.0%}); "
                    f"node CPU {base['node_cpu_cores']} -> {flood['node_cpu_cores']} cores, "
                    f"{this_round['node_cpu_us_per_flood_call']} us per flood call (refusing server: "
                    f"{this_round['refusing']['server_cpu_us_per_call']} us); flooder's own CPU "
                    f"{flood['flooder_cpu_cores']}; load {os.getloadavg()[0]:.1f}",
                    file=sys.stderr,
                    flush=True,
                )
            load_after = os.getloadavg()
        finally:
            await client.channel.close()
            stop_server(node)
            stop_server(bare)

    baseline = [r["baseline"] for r in rounds]
    flooded = [r["flood"] for r in rounds]
    keys = ("p50_ms", "p95_ms", "p99_ms", "node_cpu_cores", "client_cpu_cores")
    growth = statistics.median(r["p95_growth"] for r in rounds)
    return {
        "benchmark": "pyxmtp node: a well-behaved IP's latency while another IP floods at 10x its read budget",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
            "platform": platform.platform(),
            "load_average_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
        "load": {
            "node": "pyxmtp node, default rate limits, "
            + ("no tarpit" if args.abuse_no_tarpit else "default tarpit")
            + ", SQLite (synchronous=FULL), listening on ::",
            "well_behaved": f"127.0.0.1, {args.abuse_rate} calls/s: query, send, fetch 3 key packages, query, "
            "identity updates of 2 inboxes",
            "flooder": f"::1, its own process, {args.flood_rate:.0f} calls/s after draining its bucket, at most "
            f"{args.flood_in_flight} in flight, deadline {args.flood_deadline} s; per 20 calls: a 20 000-filter subscription, 2 FetchKeyPackages of 1 000 keys, 2 GetIdentityUpdates of "
            "1 000 inboxes, 2 x 64 KiB of garbage, 13 queries",
            "seconds_per_phase": args.abuse_seconds,
            "rounds": args.abuse_rounds,
        },
        "baseline": {f"median_{k}": median_of(baseline, k) for k in keys},
        "flood": {
            **{f"median_{k}": median_of(flooded, k) for k in (*keys, "flooder_cpu_cores")},
            "median_flood_calls_per_s": round(
                statistics.median(s["flooder"]["calls_per_s"] for s in flooded), 1
            ),
        },
        "refusal_cpu_us_per_call": {
            "node_median": median_of(rounds, "node_cpu_us_per_flood_call"),
            "refusing_server_median": round(
                statistics.median(r["refusing"]["server_cpu_us_per_call"] for r in rounds), 1
            ),
        },
        "p95_growth_median_of_rounds": round(growth, 3),
        "target_p95_growth_at_most_50_percent": growth <= 0.5,
        "rounds": rounds,
    }


def main(args: argparse.Namespace) -> int:
    report = asyncio.run(run(args))
    out = write_report(report, "node-abuse", args.quick, None)
    b, f = report["baseline"], report["flood"]
    print(
        f"well-behaved p95 {b['median_p95_ms']} ms alone, {f['median_p95_ms']} ms under the flood "
        f"(median growth {report['p95_growth_median_of_rounds']:+.0%}, target <= +50%); node CPU "
        f"{b['median_node_cpu_cores']} -> {f['median_node_cpu_cores']} cores, flooder's own "
        f"{f['median_flooder_cpu_cores']}; a refusal costs the node {report['refusal_cpu_us_per_call']}; "
        f"written to {out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="the flooder and the refusing server of the abuse benchmark")
    p.add_argument("--flood", metavar="ADDRESS")
    p.add_argument("--group", default="00", help="hex id of the group the queries read")
    p.add_argument("--rate", type=float, default=10 * READ_REFILL_PER_S)
    p.add_argument("--max-in-flight", type=int, default=512)
    p.add_argument("--deadline", type=float, default=None, help="each flood call's deadline, seconds")
    p.add_argument("--serve-refusing", type=int, metavar="PORT")
    a = p.parse_args()
    if a.serve_refusing:
        asyncio.run(serve_refusing(a.serve_refusing))
    elif a.flood:
        result = asyncio.run(flood(a.flood, bytes.fromhex(a.group), a.rate, a.max_in_flight, a.deadline))
        print(json.dumps(result), flush=True)
    else:
        p.error("--flood or --serve-refusing (the benchmark itself: node_bench.py --abuse)")
