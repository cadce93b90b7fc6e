"""The tarpit (issue 12 item 4): an IP's rate-limit refusals past a burst are held before they are answered, at most
so many per IP and in all; a held call is answered RESOURCE_EXHAUSTED before its deadline, at once on shutdown,
and frees its place when its client gives up; calls within their budget, and other IPs, are never held."""

from __future__ import annotations

import asyncio
import os
import tracemalloc
from collections.abc import Callable

import grpc
import pytest

from pyxmtp.node import BucketLimit, Node, RateLimits, TarpitLimits
from pyxmtp.node.tarpit import Tarpit

from .apihelpers import query
from .conftest import Client, StartNode, connect
from .test_ratelimit import QUERY_GROUP_MESSAGES, Clock, needs_ipv6, raw_call, two_ips

#: A pace so slow that a held call is answered only by a deadline, a cancellation or a shutdown.
FOREVER = 1e-6


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


# --- the pace, on a clock -----------------------------------------------------------------------------------------
def test_a_burst_is_answered_at_once_then_refusals_are_paced() -> None:
    clock = Clock()
    tarpit = Tarpit(TarpitLimits(refusals_per_second=10, burst=3), clock)
    assert [tarpit.delay("1.2.3.4") for _ in range(3)] == [0, 0, 0]
    assert tarpit.delay("1.2.3.4") == pytest.approx(0.1)
    assert tarpit.delay("1.2.3.4") == pytest.approx(0.2)  # each next slot 1 / rate later
    assert tarpit.held == tarpit.held_of("1.2.3.4") == 2
    assert tarpit.delay("5.6.7.8") == 0  # per IP
    tarpit.unhold("1.2.3.4")
    tarpit.unhold("1.2.3.4")
    assert tarpit.held == 0
    clock.now += 10  # the pace has caught up: a whole burst again
    assert [tarpit.delay("1.2.3.4") for _ in range(3)] == [0, 0, 0]


def test_occasional_refusals_are_never_held() -> None:
    """A refusal now and then (slower than the pace) is always answered at once, even with no burst allowance
    beyond the first."""
    clock = Clock()
    tarpit = Tarpit(TarpitLimits(refusals_per_second=2, burst=1), clock)
    for _ in range(100):
        assert tarpit.delay("1.2.3.4") == 0
        clock.now += 0.5


def test_holds_are_capped_per_ip_and_in_all() -> None:
    clock = Clock()
    tarpit = Tarpit(TarpitLimits(refusals_per_second=1, burst=0, max_held_per_ip=2, max_held=3), clock)
    assert tarpit.delay("a") == pytest.approx(1)
    assert tarpit.delay("a") == pytest.approx(2)
    assert tarpit.delay("a") == 0  # a's cap: answered at once, and it takes no slot
    assert tarpit.overflowed == 1
    assert tarpit.delay("b") == pytest.approx(1)
    assert tarpit.delay("c") == 0  # the cap in all
    assert tarpit.overflowed == 2
    tarpit.unhold("a")
    assert tarpit.delay("a") == pytest.approx(3)  # after a's two slots
    assert (tarpit.held_of("a"), tarpit.held_of("b"), tarpit.held_of("c"), tarpit.held) == (2, 1, 0, 3)


def test_a_hold_ends_before_the_clients_deadline() -> None:
    tarpit = Tarpit(
        TarpitLimits(refusals_per_second=1, burst=0, deadline_share=0.5, min_deadline_hold=1.0), Clock()
    )
    assert tarpit.delay("a", time_remaining=4.0) == pytest.approx(1.0)  # its slot comes first
    assert tarpit.delay("a", time_remaining=2.0) == pytest.approx(1.0)  # half of 2 s, before its slot at 2 s
    assert tarpit.delay("a", time_remaining=1.0) == 0  # half a second: too near to be worth holding, at once
    assert tarpit.delay("a", time_remaining=0.0) == 0
    assert tarpit.held == 2
    assert tarpit.delay("a") == pytest.approx(3.0)  # the calls answered at once took no slot


def test_holds_cut_short_by_deadlines_do_not_push_the_pace_out_of_reach() -> None:
    """A flooder whose calls each give up after 2 s takes a slot per call without being held for it; a call
    without a deadline still waits at most what a full queue of held calls implies ((max_held_per_ip + 1) / rate)."""
    clock = Clock()
    limits = TarpitLimits(refusals_per_second=1, burst=0, max_held_per_ip=3, deadline_share=0.5)
    tarpit = Tarpit(limits, clock)
    for _ in range(100):
        assert tarpit.delay("a", time_remaining=2.0) == pytest.approx(1.0)
        tarpit.unhold("a")  # its client gave up
    assert tarpit.delay("a") == pytest.approx(4.0)  # not 100 s


def test_idle_ips_are_swept_and_held_ones_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Tarpit, "SWEEP_THRESHOLD", 3)
    clock = Clock()
    tarpit = Tarpit(TarpitLimits(refusals_per_second=1, burst=0), clock)
    assert tarpit.delay("held") > 0
    tarpit.delay("a", time_remaining=0.0)
    tarpit.delay("b", time_remaining=0.0)
    clock.now += 100
    tarpit.delay("c")  # the table is full: idle a and b go, held stays
    assert set(tarpit._ips) == {"held", "c"}


@pytest.mark.parametrize(
    "limits",
    [
        dict(refusals_per_second=0),
        dict(burst=-1),
        dict(max_held_per_ip=-1),
        dict(max_held=-1),
        dict(deadline_share=1.5),
        dict(min_deadline_hold=-1),
    ],
)
def test_limits_are_checked(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TarpitLimits(**limits)  # type: ignore[arg-type]


async def test_release_answers_held_calls_and_holds_no_more() -> None:
    tarpit = Tarpit(TarpitLimits(refusals_per_second=FOREVER, burst=0))
    held = [asyncio.create_task(tarpit.hold("a")) for _ in range(3)]
    await until(lambda: tarpit.held == 3, "3 held calls")
    tarpit.release()
    await asyncio.gather(*held)
    assert tarpit.held == 0
    await tarpit.hold("a")  # not held any more
    assert tarpit.held == 0


async def test_a_cancelled_hold_frees_its_place() -> None:
    tarpit = Tarpit(TarpitLimits(refusals_per_second=FOREVER, burst=0))
    held = asyncio.create_task(tarpit.hold("a"))
    await until(lambda: tarpit.held == 1, "a held call")
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    assert tarpit.held == tarpit.held_of("a") == 0


# --- through a node -----------------------------------------------------------------------------------------------
async def refused_status(client: Client, timeout: float | None = None) -> grpc.StatusCode:
    try:
        await client.mls.QueryGroupMessages(query(os.urandom(16)), timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def flooding_node(start_node: StartNode, **tarpit: object) -> tuple[Node, Client, Client, Tarpit]:
    """A node whose read budget is one call, that holds every refusal past the first for ever (or ``tarpit``); the
    flooder (127.0.0.1) has spent its budget; the other client comes from ::1."""
    limits = dict(refusals_per_second=FOREVER, burst=1, max_held_per_ip=2)
    limits.update(tarpit)  # type: ignore[arg-type]
    node, flooder, other = await two_ips(
        start_node,
        rate_limits=RateLimits(read=BucketLimit(1, 1)),
        tarpit=TarpitLimits(**limits),  # type: ignore[arg-type]
    )
    assert await refused_status(flooder) == grpc.StatusCode.OK
    assert await refused_status(flooder) == grpc.StatusCode.RESOURCE_EXHAUSTED  # its burst: at once
    assert node.gate.tarpit is not None
    return node, flooder, other, node.gate.tarpit


@needs_ipv6
async def test_a_flooders_refusals_are_held_up_to_its_cap_and_others_are_served(
    start_node: StartNode,
) -> None:
    _node, flooder, other, tarpit = await flooding_node(start_node)
    held = [asyncio.create_task(refused_status(flooder)) for _ in range(2)]
    await until(lambda: tarpit.held_of("127.0.0.1") == 2, "the flooder's 2 calls held")
    # past its cap: answered at once, while the held ones still wait
    assert await refused_status(flooder) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert tarpit.overflowed == 1
    assert await refused_status(other) == grpc.StatusCode.OK  # another IP, within its budget: served
    assert not any(task.done() for task in held)
    for task in held:  # the flooder gives up: the places are freed
        task.cancel()
    await asyncio.gather(*held, return_exceptions=True)
    await until(lambda: tarpit.held == 0, "the cancelled calls no longer held")
    for c in (flooder, other):
        await c.channel.close()


@needs_ipv6
async def test_a_held_call_is_refused_before_its_deadline(start_node: StartNode) -> None:
    """An honest client with a deadline sees RESOURCE_EXHAUSTED (the wire contract), not DEADLINE_EXCEEDED: the hold
    ends at half the time it had left (configured here to leave a wide margin)."""
    _node, flooder, other, tarpit = await flooding_node(start_node, deadline_share=0.5)
    assert await refused_status(flooder, timeout=4.0) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert tarpit.held == 0
    for c in (flooder, other):
        await c.channel.close()


async def test_a_held_refusal_keeps_nothing_of_its_request(start_node: StartNode) -> None:
    """A request refused for its size has been read; while its refusal is held, its bytes are not kept (else a
    flooder could park max_held_per_ip big requests in the node's memory)."""
    node = await start_node(
        rate_limits=RateLimits(read=BucketLimit(10, 1)),
        tarpit=TarpitLimits(refusals_per_second=FOREVER, burst=0, max_held_per_ip=8),
    )
    tarpit = node.gate.tarpit
    assert tarpit is not None
    c = connect(node.address)
    big = b"\xff" * (4 << 20)  # costs 65 tokens of 10: refused once read
    tracemalloc.start()
    try:
        held = [asyncio.create_task(raw_call(c, QUERY_GROUP_MESSAGES, big)) for _ in range(8)]
        await until(lambda: tarpit.held == 8, "8 held refusals")
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 16 << 20, f"{current} bytes allocated while 8 x 4 MiB requests are held"
    await node.stop(grace=5)
    assert await asyncio.gather(*held) == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 8
    await c.channel.close()


@needs_ipv6
async def test_stopping_the_node_answers_held_calls(start_node: StartNode) -> None:
    node, flooder, other, tarpit = await flooding_node(start_node)
    held = asyncio.create_task(refused_status(flooder))
    await until(lambda: tarpit.held == 1, "a held call")
    await node.stop(grace=5)
    assert await held == grpc.StatusCode.RESOURCE_EXHAUSTED
    for c in (flooder, other):
        await c.channel.close()


async def test_without_a_tarpit_refusals_are_answered_at_once(start_node: StartNode) -> None:
    node = await start_node(rate_limits=RateLimits(read=BucketLimit(1, 1)), tarpit=None)
    assert node.gate.tarpit is None
    c = connect(node.address)
    assert await refused_status(c) == grpc.StatusCode.OK
    for _ in range(5):
        assert await refused_status(c) == grpc.StatusCode.RESOURCE_EXHAUSTED
    await c.channel.close()


def test_the_cli_runs_the_default_tarpit_unless_told_not_to() -> None:
    from pyxmtp.cli.main import build_parser
    from pyxmtp.cli.node_cmd import _config

    parser = build_parser()
    assert _config(parser.parse_args(["node"])).tarpit == TarpitLimits()
    assert _config(parser.parse_args(["node", "--no-tarpit"])).tarpit is None
