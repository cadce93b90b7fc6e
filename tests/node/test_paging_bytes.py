"""Sizes agreed end to end (issue 12): every reply of the node stays within its send cap (50 MiB) and within what
libxmtp receives (25 MiB), however large the stored messages, and paging by the reply's cursor reaches every one.

A group holds 100 texts of 45 KB and 3 messages at the largest size the node accepts; pages are read with raw
gRPC, so each reply's size on the wire is measured. Both stores."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import message as pb_message

from pyxmtp.node import Node
from pyxmtp.node.limits import MAX_PAYLOAD_BYTES, PAGE_BYTES
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, DESC, send_request, welcome_v1
from .builders import private_message
from .conftest import Client, connect
from .test_misc_api import commit_log_query, entry

LIBXMTP_RECEIVE_LIMIT = 25 * 1024 * 1024  # libxmtp's GRPC_PAYLOAD_LIMIT
BIG_CLIENT = 64 * 1024 * 1024  # a client that can receive anything the node may send


def largest_message(group_id: bytes) -> bytes:
    """An MLSMessage(PrivateMessage) of exactly the largest size the node accepts."""
    empty = private_message(group_id, payload=b"")
    out = private_message(group_id, payload=os.urandom(MAX_PAYLOAD_BYTES - len(empty) - 3))  # 4-byte length
    assert len(out) == MAX_PAYLOAD_BYTES
    return out


class RawCalls:
    """MlsApi calls whose replies arrive as bytes, so that their size on the wire is known."""

    def __init__(self, channel: grpc.aio.Channel, cap: int) -> None:
        self.channel = channel
        self.cap = cap
        self.sizes: list[int] = []

    async def call(self, method: str, request: pb_message.Message, reply_type: type[Any]) -> Any:
        raw = await self.channel.unary_unary(f"/xmtp.mls.api.v1.MlsApi/{method}")(request.SerializeToString())
        assert isinstance(raw, bytes)
        assert len(raw) <= min(self.cap, LIBXMTP_RECEIVE_LIMIT), len(raw)
        self.sizes.append(len(raw))
        return reply_type.FromString(raw)


async def walk(
    calls: RawCalls,
    method: str,
    make: Callable[[mls_pb2.PagingInfo], Any],
    reply_type: type[Any],
    direction: int,
) -> list[list[int]]:
    """Every page from the start, following the reply's cursor until it is 0: the ids of each page."""
    pages: list[list[int]] = []
    cursor = 0
    while True:
        reply = await calls.call(
            method, make(mls_pb2.PagingInfo(direction=direction, limit=100, id_cursor=cursor)), reply_type
        )
        pages.append([getattr(m, m.WhichOneof("version")).id for m in reply.messages])
        cursor = reply.paging_info.id_cursor
        if not cursor:
            return pages
        assert cursor == pages[-1][-1]


@pytest.fixture
async def big(node: Node) -> Any:
    c = connect(node.address, max_receive=BIG_CLIENT)
    yield c
    await c.channel.close()


async def test_a_group_of_large_messages_pages_within_the_caps(node: Node, big: Client) -> None:
    g = os.urandom(16)
    for _ in range(2):
        await big.mls.SendGroupMessages(
            send_request(*(private_message(g, payload=os.urandom(45_000)) for _ in range(50)))
        )
    for _ in range(3):
        await big.mls.SendGroupMessages(send_request(largest_message(g)))
    calls = RawCalls(big.channel, node.config.max_message_bytes)

    def request(paging: mls_pb2.PagingInfo) -> mls_pb2.QueryGroupMessagesRequest:
        return mls_pb2.QueryGroupMessagesRequest(group_id=g, paging_info=paging)

    up = await walk(calls, "QueryGroupMessages", request, mls_pb2.QueryGroupMessagesResponse, ASC)
    ids = [i for page in up for i in page]
    assert len(ids) == 103 and ids == sorted(ids)
    # 100 texts (4.5 MB); two of the large ones (16 MiB), the third would pass the budget; the last one
    assert [len(p) for p in up] == [100, 2, 1]
    assert max(calls.sizes) <= PAGE_BYTES + 1024
    down = await walk(calls, "QueryGroupMessages", request, mls_pb2.QueryGroupMessagesResponse, DESC)
    assert [i for page in down for i in page] == ids[::-1]
    assert [len(p) for p in down] == [2, 100, 1]  # two large; a large one and 99 texts (12.7 MB); a text

    newest = await calls.call(
        "GetNewestGroupMessage",
        mls_pb2.GetNewestGroupMessageRequest(group_ids=[g, g], include_content=True),
        mls_pb2.GetNewestGroupMessageResponse,
    )
    assert [len(r.group_message.v1.data) for r in newest.responses] == [MAX_PAYLOAD_BYTES] * 2

    # The history replay of a subscription: every message once, in order, each within the caps.
    call = big.mls.SubscribeGroupMessages(
        mls_pb2.SubscribeGroupMessagesRequest(
            filters=[mls_pb2.SubscribeGroupMessagesRequest.Filter(group_id=g)]
        )
    )
    streamed = [(await call.read()).v1.id for _ in range(103)]
    assert streamed == ids
    call.cancel()


async def test_welcome_pages_within_the_caps(node: Node, big: Client) -> None:
    key = os.urandom(32)
    await big.mls.SendWelcomeMessages(
        mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(key, os.urandom(45_000)) for _ in range(10)])
    )
    for _ in range(3):
        await big.mls.SendWelcomeMessages(
            mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(key, os.urandom(MAX_PAYLOAD_BYTES))])
        )
    calls = RawCalls(big.channel, node.config.max_message_bytes)

    def request(paging: mls_pb2.PagingInfo) -> mls_pb2.QueryWelcomeMessagesRequest:
        return mls_pb2.QueryWelcomeMessagesRequest(installation_key=key, paging_info=paging)

    up = await walk(calls, "QueryWelcomeMessages", request, mls_pb2.QueryWelcomeMessagesResponse, ASC)
    assert [len(p) for p in up] == [12, 1]  # ten small and two large; then the last large one
    call = big.mls.SubscribeWelcomeMessages(
        mls_pb2.SubscribeWelcomeMessagesRequest(
            filters=[mls_pb2.SubscribeWelcomeMessagesRequest.Filter(installation_key=key)]
        )
    )
    streamed = [(await call.read()).v1.id for _ in range(13)]
    assert streamed == [i for page in up for i in page]
    call.cancel()


async def test_a_batch_of_commit_log_queries_stays_within_the_caps(node: Node, big: Client) -> None:
    """20 groups of 100 entries of 16 KiB: 32 MiB if every query answered a full page."""
    groups = [os.urandom(16) for _ in range(20)]
    for g in groups:
        for start in range(0, 100, 10):
            await big.mls.BatchPublishCommitLog(
                mls_pb2.BatchPublishCommitLogRequest(
                    requests=[
                        entry(g, b"%d " % i + os.urandom(16 * 1024 - 8)) for i in range(start, start + 10)
                    ]
                )
            )
    calls = RawCalls(big.channel, node.config.max_message_bytes)
    cursors = dict.fromkeys(groups, 0)
    seen: dict[bytes, list[int]] = {g: [] for g in groups}
    rounds = 0
    while cursors:
        rounds += 1
        reply = await calls.call(
            "BatchQueryCommitLog",
            mls_pb2.BatchQueryCommitLogRequest(
                requests=[commit_log_query(g, cursor=c) for g, c in cursors.items()]
            ),
            mls_pb2.BatchQueryCommitLogResponse,
        )
        if rounds == 1:  # over the budget, but every query of the batch is answered at least one entry
            assert all(r.commit_log_entries for r in reply.responses)
            assert sum(len(r.commit_log_entries) < 100 for r in reply.responses) >= 7
        for r in reply.responses:
            seen[r.group_id] += [e.sequence_id for e in r.commit_log_entries]
            if r.paging_info.id_cursor:
                cursors[r.group_id] = r.paging_info.id_cursor
            else:
                del cursors[r.group_id]
    assert all(len(ids) == 100 and ids == sorted(ids) for ids in seen.values())
    assert rounds == 2 and max(calls.sizes) <= PAGE_BYTES + 20 * 17 * 1024
