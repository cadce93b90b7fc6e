"""SubscribeGroupMessages / SubscribeWelcomeMessages: headers at once, replay then live, no gaps or duplicates,
slow readers cut off with ABORTED (section 8.5), past their backlog in messages or in bytes."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import tracemalloc

import grpc
import pytest

from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, query, send_request, welcome_v1
from .builders import private_message
from .conftest import Client, StartNode, connect

Filter = mls_pb2.SubscribeGroupMessagesRequest.Filter


def subscribe(client: Client, *filters: tuple[bytes, int]):  # type: ignore[no-untyped-def]
    return client.mls.SubscribeGroupMessages(
        mls_pb2.SubscribeGroupMessagesRequest(filters=[Filter(group_id=g, id_cursor=c) for g, c in filters])
    )


async def read_n(call, n: int, timeout: float = 10.0) -> list:  # type: ignore[no-untyped-def,type-arg]
    """The next ``n`` messages of a stream (read API, so :func:`assert_silent` can follow)."""
    out = []

    async def go() -> None:
        while len(out) < n:
            m = await call.read()
            assert m is not grpc.aio.EOF, "stream ended"
            out.append(m)

    await asyncio.wait_for(go(), timeout)
    return out


async def assert_silent(call, seconds: float = 0.3) -> None:  # type: ignore[no-untyped-def]
    """Nothing arrives for ``seconds`` and the stream is still open."""
    read = asyncio.ensure_future(call.read())
    done, _ = await asyncio.wait({read}, timeout=seconds)
    assert not done, f"unexpected message: {read.result()}"
    assert not call.done()
    read.cancel()


async def all_ids(client: Client, group_id: bytes) -> list[int]:
    out: list[int] = []
    cursor = 0
    while True:
        resp = await client.mls.QueryGroupMessages(query(group_id, ASC, cursor=cursor))
        out += [m.v1.id for m in resp.messages]
        if resp.paging_info.id_cursor == 0:
            return out
        cursor = resp.paging_info.id_cursor


async def test_headers_arrive_before_any_message(client: Client) -> None:
    call = subscribe(client, (os.urandom(16), 0))
    metadata = await asyncio.wait_for(call.initial_metadata(), 2)
    assert ("subscribed", "true") in list(metadata)
    call.cancel()


async def test_no_filters_keeps_the_stream_open_and_silent(client: Client) -> None:
    call = client.mls.SubscribeGroupMessages(mls_pb2.SubscribeGroupMessagesRequest())
    await asyncio.wait_for(call.initial_metadata(), 2)
    await client.mls.SendGroupMessages(send_request(private_message(os.urandom(16))))
    await assert_silent(call)
    call.cancel()


async def test_replay_from_cursor_then_live(client: Client) -> None:
    g = os.urandom(16)
    await client.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(150))))
    history = await all_ids(client, g)
    call = subscribe(client, (g, history[19]))
    replayed = await read_n(call, 130)
    assert [m.v1.id for m in replayed] == history[20:]
    payloads = [private_message(g) for _ in range(5)]
    for p in payloads:
        await client.mls.SendGroupMessages(send_request(p))
    live = await read_n(call, 5)
    assert [m.v1.data for m in live] == payloads
    assert [m.v1.id for m in live] == (await all_ids(client, g))[150:]
    call.cancel()


async def test_several_groups_each_in_order(client: Client) -> None:
    g1, g2 = os.urandom(16), os.urandom(16)
    await client.mls.SendGroupMessages(send_request(private_message(g1), private_message(g2)))
    call = subscribe(client, (g1, 0), (g2, 0), (g1, 0))  # a repeated filter is harmless
    first = await read_n(call, 2)
    await client.mls.SendGroupMessages(send_request(private_message(g2), private_message(g1)))
    second = await read_n(call, 2)
    by_group: dict[bytes, list[int]] = {}
    for m in first + second:
        by_group.setdefault(m.v1.group_id, []).append(m.v1.id)
    assert by_group[g1] == await all_ids(client, g1) and by_group[g2] == await all_ids(client, g2)
    await assert_silent(call, 0.2)
    call.cancel()


async def test_writes_racing_the_replay_arrive_exactly_once(node: Node, client: Client) -> None:
    """History spans many pages while a writer keeps publishing and subscribers join at staggered moments:
    every subscriber must see every id exactly once, in order (a gap between replay and live would lose some)."""
    g = os.urandom(16)
    await client.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(1000))))
    writer_client = connect(node.address)  # a second channel
    batches, per_batch = 150, 4
    total = 1000 + batches * per_batch

    async def writer() -> None:
        for _ in range(batches):
            await writer_client.mls.SendGroupMessages(
                send_request(*(private_message(g) for _ in range(per_batch)))
            )

    async def subscriber(delay: float) -> list[int]:
        await asyncio.sleep(delay)  # a deliberate stagger: any length will do, nothing waits on it
        call = subscribe(client, (g, 0))
        got = await read_n(call, total, timeout=30)
        await assert_silent(call, 0.1)
        call.cancel()
        return [m.v1.id for m in got]

    task = asyncio.create_task(writer())
    seen = await asyncio.gather(*(subscriber(0.02 * i) for i in range(10)))
    await task
    expected = await all_ids(client, g)
    assert len(expected) == total
    for ids in seen:
        assert ids == expected
    await writer_client.channel.close()


async def test_slow_reader_is_aborted(start_node: StartNode) -> None:
    node = await start_node(subscriber_backlog=4)
    reader, writer = connect(node.address), connect(node.address)
    g = os.urandom(16)
    call = subscribe(reader, (g, 0))
    await call.initial_metadata()
    for _ in range(40):  # 40 x 256 KiB: far more than the transport buffers plus a backlog of 4
        await writer.mls.SendGroupMessages(send_request(private_message(g, payload=os.urandom(256 * 1024))))
    received = 0
    with pytest.raises(grpc.aio.AioRpcError) as info:
        while await call.read() is not grpc.aio.EOF:
            received += 1
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert info.value.details() == "caller did not read all messages fast enough"
    assert 0 < received < 40
    assert node.dispatcher.subscription_count == 0
    await reader.channel.close()
    await writer.channel.close()


async def test_a_reader_past_its_byte_budget_is_cut_off_and_its_backlog_let_go(start_node: StartNode) -> None:
    """A reader that reads nothing while 10 MiB go to its group: what the node holds for it never passes its
    1 MiB budget, the node's memory grows by far less than what was published, and the reader, once it reads,
    gets what was already on its way and then ABORTED."""
    budget = 1 << 20
    node = await start_node(subscriber_backlog_bytes=budget)
    reader, writer = connect(node.address), connect(node.address)
    g = os.urandom(16)
    call = subscribe(reader, (g, 0))
    await call.initial_metadata()
    requests = [send_request(private_message(g, payload=os.urandom(256 * 1024))) for _ in range(40)]
    await writer.mls.SendGroupMessages(send_request(private_message(g)))  # warm up the path
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = []
        while requests:
            await writer.mls.SendGroupMessages(requests.pop())
            held.append(node.dispatcher.held_bytes)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert max(held) <= budget
    assert node.dispatcher.subscription_count == 0 and held[-1] == 0  # cut off, its backlog let go
    assert grown < 3 * budget, f"the node holds {grown} bytes more after 10 MiB were published"
    received = 0
    with pytest.raises(grpc.aio.AioRpcError) as info:
        while await call.read() is not grpc.aio.EOF:
            received += 1
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert info.value.details() == "caller did not read all messages fast enough"
    assert received < 41
    await reader.channel.close()
    await writer.channel.close()


async def test_a_backlog_takes_one_message_bigger_than_its_budget(start_node: StartNode) -> None:
    """A message alone over the byte budget still reaches a reader that keeps up."""
    node = await start_node(subscriber_backlog_bytes=1024)
    reader, writer = connect(node.address), connect(node.address)
    g = os.urandom(16)
    call = subscribe(reader, (g, 0))
    await call.initial_metadata()
    payloads = [private_message(g, payload=os.urandom(64 * 1024)) for _ in range(3)]
    for p in payloads:
        await writer.mls.SendGroupMessages(send_request(p))
        [m] = await read_n(call, 1)
        assert m.v1.data == p
    call.cancel()
    await reader.channel.close()
    await writer.channel.close()


async def test_welcome_subscription_replay_and_live(client: Client) -> None:
    key, other = os.urandom(32), os.urandom(32)
    await client.mls.SendWelcomeMessages(
        mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(key, b"w1"), welcome_v1(other, b"x")])
    )
    WFilter = mls_pb2.SubscribeWelcomeMessagesRequest.Filter
    call = client.mls.SubscribeWelcomeMessages(
        mls_pb2.SubscribeWelcomeMessagesRequest(filters=[WFilter(installation_key=key, id_cursor=0)])
    )
    [first] = await read_n(call, 1)
    await client.mls.SendWelcomeMessages(
        mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(other, b"y"), welcome_v1(key, b"w2")])
    )
    [second] = await read_n(call, 1)
    assert (first.v1.data, second.v1.data) == (b"w1", b"w2") and first.v1.id < second.v1.id
    call.cancel()


@pytest.mark.parametrize(
    "request_",
    [
        mls_pb2.SubscribeWelcomeMessagesRequest(),
        mls_pb2.SubscribeWelcomeMessagesRequest(filters=[mls_pb2.SubscribeWelcomeMessagesRequest.Filter()]),
    ],
)
async def test_welcome_subscription_needs_installation_filters(
    client: Client, request_: mls_pb2.SubscribeWelcomeMessagesRequest
) -> None:
    call = client.mls.SubscribeWelcomeMessages(request_)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_group_filter_without_group_id_is_invalid(client: Client) -> None:
    call = subscribe(client, (b"", 0))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_shutdown_ends_every_open_stream_before_the_server_stops(
    start_node: StartNode, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    node: Node = await start_node()
    clients = [connect(node.address) for _ in range(2)]
    WFilter = mls_pb2.SubscribeWelcomeMessagesRequest.Filter
    calls = []
    for i in range(40):
        c = clients[i % 2]
        if i % 2:
            calls.append(subscribe(c, (os.urandom(16), 0)))
        else:
            request = mls_pb2.SubscribeWelcomeMessagesRequest(
                filters=[WFilter(installation_key=os.urandom(32))]
            )
            calls.append(c.mls.SubscribeWelcomeMessages(request))
    for call in calls:
        await call.initial_metadata()
    open_at_server_stop = []
    server_stop = node.server.stop

    async def watched_stop(grace: float | None) -> None:
        open_at_server_stop.append(node.gate.open_streams)
        await server_stop(grace)

    monkeypatch.setattr(node.server, "stop", watched_stop)
    await node.stop(grace=5)
    assert open_at_server_stop == [0]  # every stream had sent its status before the server's GOAWAY
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await asyncio.wait_for(call.read(), 5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert info.value.details() == "service is shutting down"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    for c in clients:
        await c.channel.close()
