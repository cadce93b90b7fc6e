"""Per-IP token buckets (section 8.2): unit behaviour, and RESOURCE_EXHAUSTED through a real node."""

from __future__ import annotations

import os

import grpc
import pytest

from pyxmtp.node import BucketLimit, RateLimits
from pyxmtp.node.ratelimit import READ, WRITE, RateLimiter, RateLimitExceeded
from pyxmtp.node.server import peer_ip
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import query, send_request
from .builders import private_message
from .conftest import StartNode, connect


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
    with pytest.raises(RateLimitExceeded):
        rl.spend(WRITE, "1.2.3.4", 6)  # more than the write capacity, never possible
    rl.spend(WRITE, "1.2.3.4", 5)  # a failed spend takes nothing
    assert rl.tokens(WRITE, "1.2.3.4") == 0


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
    await c.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(2))))

    for _ in range(5):  # reads have their own bucket
        resp = await c.mls.QueryGroupMessages(query(g))
    assert len(resp.messages) == 10
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
