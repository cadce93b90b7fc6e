"""Per-IP token buckets (section 8.2): unit behaviour, and RESOURCE_EXHAUSTED through a real node: a request is
charged before it is parsed, and a read pays for what it asks for and for the bytes of its answer."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest

from pyxmtp.node import BucketLimit, Node, RateLimits
from pyxmtp.node.ratelimit import READ, WRITE, RateLimiter, RateLimitExceeded
from pyxmtp.node.server import BYTES_PER_TOKEN, peer_ip
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import query, send_request
from .builders import private_message
from .conftest import Client, StartNode, connect
from .identity_helpers import inbox_ids_request, updates_request

QUERY_GROUP_MESSAGES = "/xmtp.mls.api.v1.MlsApi/QueryGroupMessages"
#: Not a protobuf message: a varint that never ends.
GARBAGE = b"\xff" * 16


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback: the tests need two client IPs")


async def raw_call(client: Client, method: str, data: bytes) -> grpc.StatusCode:
    """Send ``data`` as the request of ``method``, unparsed; the status it ends with."""
    try:
        await client.channel.unary_unary(method)(data)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def two_ips(start_node: StartNode, **config: object) -> tuple[Node, Client, Client]:
    """A node listening on both loopbacks, a client from 127.0.0.1 and one from ::1 (two IPs to the node)."""
    node = await start_node(host="::", **config)
    return node, connect(f"127.0.0.1:{node.port}"), connect(f"[::1]:{node.port}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_defaults_are_node_go_budgets() -> None:
    limits = RateLimits()
    assert (limits.read.capacity, limits.read.refill_per_minute) == (20_000, 4_000)
    assert (limits.write.capacity, limits.write.refill_per_minute) == (3_000, 600)


def test_bucket_spends_refills_and_caps() -> None:
    clock = Clock()
    rl = RateLimiter(RateLimits(read=BucketLimit(10, 60), write=BucketLimit(5, 6)), clock)
    for _ in range(10):
        rl.spend(READ, "1.2.3.4", 1)
    with pytest.raises(RateLimitExceeded, match=r"read budget of 1\.2\.3\.4"):
        rl.spend(READ, "1.2.3.4", 1)
    rl.spend(READ, "5.6.7.8", 10)  # buckets are per IP
    clock.now += 3  # 60/min = 1 per second
    rl.spend(READ, "1.2.3.4", 3)
    with pytest.raises(RateLimitExceeded):
        rl.spend(READ, "1.2.3.4", 1)
    clock.now += 3600
    assert rl.tokens(READ, "1.2.3.4") == 10  # capped at the capacity
    with pytest.raises(RateLimitExceeded, match="more than its capacity of 5"):
        rl.spend(WRITE, "1.2.3.4", 6)  # more than the write capacity, never possible
    rl.spend(WRITE, "1.2.3.4", 5)  # a failed spend takes nothing
    assert rl.tokens(WRITE, "1.2.3.4") == 0


def test_a_charge_runs_into_debt_that_the_refill_pays() -> None:
    clock = Clock()
    rl = RateLimiter(RateLimits(read=BucketLimit(10, 60)), clock)
    rl.spend(READ, "a", 8)
    rl.charge(READ, "a", 5)  # work already done: taken although only 2 were left
    assert rl.tokens(READ, "a") == -3
    with pytest.raises(RateLimitExceeded):
        rl.spend(READ, "a", 1)
    clock.now += 4  # 1 per second
    rl.spend(READ, "a", 1)
    rl.charge(READ, "a", 1000)
    assert rl.tokens(READ, "a") == -10  # the debt stops at one capacity


def test_idle_full_buckets_are_swept() -> None:
    clock = Clock()
    rl = RateLimiter(RateLimits(read=BucketLimit(10, 60)), clock)
    rl.SWEEP_THRESHOLD = 3
    for ip in ("a", "b", "c"):
        rl.spend(READ, ip, 1)
    clock.now += 10
    rl.spend(READ, "d", 1)
    assert len(rl._buckets) == 1


@pytest.mark.parametrize(
    ("peer", "ip"),
    [
        ("ipv4:127.0.0.1:5556", "127.0.0.1"),
        ("ipv6:[::1]:443", "::1"),
        ("ipv6:%5B::1%5D:54920", "::1"),  # as grpc spells it
        ("ipv6:%5B::ffff:10.1.2.3%5D:5", "10.1.2.3"),  # IPv4 on a dual-stack socket
        ("ipv6:%5B2001:db8:1:2:3:4:5:6%5D:5", "2001:db8:1:2::/64"),  # one host, one /64
        ("ipv6:%5B2001:db8:1:2:ffff::9%5D:5", "2001:db8:1:2::/64"),
        ("unix:node.sock", "unix"),
        ("", "ip_unknown"),
    ],
)
def test_peer_ip(peer: str, ip: str) -> None:
    assert peer_ip(peer) == ip


async def test_writes_are_charged_per_message_and_exhaustion_is_reported(start_node: StartNode) -> None:
    node = await start_node(rate_limits=RateLimits(read=BucketLimit(5, 1), write=BucketLimit(10, 1)))
    c = connect(node.address)
    g = os.urandom(16)
    await c.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(8))))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await c.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(3))))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rate limit exceeded" in (info.value.details() or "")
    # the refused request was parsed, which cost its up-front token (one per started 64 KiB): one is left
    await c.mls.SendGroupMessages(send_request(private_message(g)))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await c.mls.SendGroupMessages(send_request(private_message(g)))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    for _ in range(5):  # reads have their own bucket
        resp = await c.mls.QueryGroupMessages(query(g))
    assert len(resp.messages) == 9
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await c.mls.QueryGroupMessages(query(g))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await c.channel.close()


async def test_rate_limits_can_be_switched_off(start_node: StartNode) -> None:
    node = await start_node(rate_limits=None)
    c = connect(node.address)
    g = os.urandom(16)
    for _ in range(3):
        await c.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(2000))))
    resp = await c.mls.GetNewestGroupMessage(mls_pb2.GetNewestGroupMessageRequest(group_ids=[g]))
    assert resp.responses[0].group_message.v1.id > 0
    await c.channel.close()


@needs_ipv6
async def test_an_exhausted_ip_is_refused_before_its_request_is_parsed(start_node: StartNode) -> None:
    """Garbage a parse would answer with INVALID_ARGUMENT is answered RESOURCE_EXHAUSTED once the IP's bucket is
    empty, however big: the bucket is checked first, before the request is even read. Another IP is served and
    its garbage still parsed."""
    node, flooder, other = await two_ips(start_node, rate_limits=RateLimits(read=BucketLimit(20, 1)))
    g = os.urandom(16)
    assert await raw_call(flooder, QUERY_GROUP_MESSAGES, GARBAGE) == grpc.StatusCode.INVALID_ARGUMENT
    for _ in range(19):
        await flooder.mls.QueryGroupMessages(query(g))
    for garbage in (GARBAGE, GARBAGE * 1024 * 1024):  # 16 B, 16 MiB
        assert await raw_call(flooder, QUERY_GROUP_MESSAGES, garbage) == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await flooder.mls.QueryGroupMessages(query(g))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "read budget of 127.0.0.1" in (info.value.details() or "")
    # not even read: a call whose request never comes is refused all the same
    never = asyncio.Event()

    async def no_request() -> AsyncIterator[bytes]:
        await never.wait()
        yield b""

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await flooder.channel.stream_unary(QUERY_GROUP_MESSAGES)(no_request())
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    assert await raw_call(other, QUERY_GROUP_MESSAGES, GARBAGE) == grpc.StatusCode.INVALID_ARGUMENT
    await other.mls.QueryGroupMessages(query(g))
    assert node.gate.limiter is not None
    assert node.gate.limiter.tokens(READ, "::1") == pytest.approx(18, abs=0.5)
    for c in (flooder, other):
        await c.channel.close()


async def test_a_request_pays_for_its_size_before_its_parse(start_node: StartNode) -> None:
    """One token per started 64 KiB up front: 2 MiB of garbage from a bucket of 20 is refused unparsed and
    takes nothing; 1 MiB is parsed (INVALID_ARGUMENT) and takes its 17 tokens."""
    node = await start_node(rate_limits=RateLimits(read=BucketLimit(20, 1)))
    c = connect(node.address)
    assert node.gate.limiter is not None
    tokens = lambda: node.gate.limiter.tokens(READ, "127.0.0.1")  # noqa: E731
    assert await raw_call(c, QUERY_GROUP_MESSAGES, b"\xff" * (2 << 20)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert tokens() == pytest.approx(20, abs=0.5)
    assert await raw_call(c, QUERY_GROUP_MESSAGES, b"\xff" * (1 << 20)) == grpc.StatusCode.INVALID_ARGUMENT
    assert tokens() == pytest.approx(20 - 1 - (1 << 20) // BYTES_PER_TOKEN, abs=0.5)
    await c.channel.close()


Measure = Callable[[Client, int], Awaitable[None]]


async def fetch_key_packages(c: Client, n: int) -> None:
    request = mls_pb2.FetchKeyPackagesRequest(installation_keys=[os.urandom(32) for _ in range(n)])
    await c.mls.FetchKeyPackages(request)


async def get_identity_updates(c: Client, n: int) -> None:
    await c.identity.GetIdentityUpdates(updates_request(*((os.urandom(32).hex(), 0) for _ in range(n))))


async def get_inbox_ids(c: Client, n: int) -> None:
    await c.identity.GetInboxIds(inbox_ids_request(*("0x" + os.urandom(20).hex() for _ in range(n))))


async def get_newest_group_message(c: Client, n: int) -> None:
    request = mls_pb2.GetNewestGroupMessageRequest(group_ids=[os.urandom(16) for _ in range(n)])
    await c.mls.GetNewestGroupMessage(request)


async def admitted(call) -> None:  # type: ignore[no-untyped-def]
    """Wait until the node has admitted the stream (its header), or raise how it ended; then cancel it."""
    if ("subscribed", "true") not in list(await call.initial_metadata()):
        await call.read()  # raises the call's status
    call.cancel()


async def subscribe_group_messages(c: Client, n: int) -> None:
    Filter = mls_pb2.SubscribeGroupMessagesRequest.Filter
    request = mls_pb2.SubscribeGroupMessagesRequest(
        filters=[Filter(group_id=os.urandom(16)) for _ in range(n)]
    )
    await admitted(c.mls.SubscribeGroupMessages(request))


async def subscribe_welcome_messages(c: Client, n: int) -> None:
    Filter = mls_pb2.SubscribeWelcomeMessagesRequest.Filter
    request = mls_pb2.SubscribeWelcomeMessagesRequest(
        filters=[Filter(installation_key=os.urandom(32)) for _ in range(n)]
    )
    await admitted(c.mls.SubscribeWelcomeMessages(request))


@pytest.mark.parametrize(
    "read",
    [
        fetch_key_packages,
        get_identity_updates,
        get_inbox_ids,
        get_newest_group_message,
        subscribe_group_messages,
        subscribe_welcome_messages,
    ],
)
async def test_a_read_costs_a_token_per_item_it_asks_for(start_node: StartNode, read: Measure) -> None:
    """Keys, inboxes, identifiers, group ids, filters: n of them cost n tokens (whatever the handler then says
    of the request); more than the bucket holds is refused."""
    node = await start_node(rate_limits=RateLimits(read=BucketLimit(500, 1)))
    assert node.gate.limiter is not None
    tokens = lambda: node.gate.limiter.tokens(READ, "127.0.0.1")  # noqa: E731
    c = connect(node.address)
    for n, left in ((1, 499), (100, 399), (300, 99)):
        try:
            await read(c, n)
        except grpc.aio.AioRpcError as exc:  # a bound on the list is not what this test is about
            assert exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED, exc
        assert tokens() == pytest.approx(left, abs=0.5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await read(c, 100)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "cannot cover a cost of 100" in (info.value.details() or "")
    assert tokens() == pytest.approx(98, abs=0.5)  # what was paid before the parse stays paid
    await c.channel.close()


async def test_a_page_of_big_messages_costs_its_bytes(start_node: StartNode) -> None:
    """A response costs one token per full 64 KiB after it is sent, into debt: the IP's next read is refused."""
    node = await start_node(rate_limits=RateLimits(read=BucketLimit(5, 1), write=BucketLimit(1000, 1)))
    assert node.gate.limiter is not None
    c = connect(node.address)
    g = os.urandom(16)
    for _ in range(6):
        await c.mls.SendGroupMessages(send_request(private_message(g, payload=os.urandom(100 * 1024))))
    resp = await c.mls.QueryGroupMessages(query(g))
    assert len(resp.messages) == 6
    cost = 1 + resp.ByteSize() // BYTES_PER_TOKEN
    assert cost == 10
    assert node.gate.limiter.tokens(READ, "127.0.0.1") == pytest.approx(5 - cost, abs=0.5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await c.mls.QueryGroupMessages(query(g))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await c.channel.close()
