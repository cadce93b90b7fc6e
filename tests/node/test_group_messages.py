"""SendGroupMessages / QueryGroupMessages / GetNewestGroupMessage through a real node (section 8.4, 8.7)."""

from __future__ import annotations

import os

import grpc
import pytest

from pyxmtp.mls.constants import ContentType
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, DESC, query, send_request
from .builders import key_package, key_package_message, private_message, public_application, public_proposal
from .conftest import Client


def gid() -> bytes:
    return os.urandom(16)


async def ids(client: Client, req: mls_pb2.QueryGroupMessagesRequest) -> tuple[list[int], mls_pb2.PagingInfo]:
    resp = await client.mls.QueryGroupMessages(req)
    return [m.v1.id for m in resp.messages], resp.paging_info


async def test_read_your_writes_with_all_fields(client: Client) -> None:
    g = gid()
    data = private_message(g)
    await client.mls.SendGroupMessages(send_request(data, should_push=True, sender_hmac=b"h" * 32))
    resp = await client.mls.QueryGroupMessages(query(g, ASC))
    [m] = resp.messages
    assert (m.v1.group_id, m.v1.data, m.v1.sender_hmac, m.v1.should_push, m.v1.is_commit) == (
        g,
        data,
        b"h" * 32,
        True,
        False,
    )
    assert m.v1.id > 0 and m.v1.created_ns > 0


async def test_commit_flag_from_content_type(client: Client) -> None:
    g = gid()
    await client.mls.SendGroupMessages(
        send_request(
            private_message(g, ContentType.commit),
            private_message(g, ContentType.proposal),
            private_message(g, ContentType.application),
            public_proposal(g),
            public_application(g),
        )
    )
    resp = await client.mls.QueryGroupMessages(query(g, ASC))
    assert [m.v1.is_commit for m in resp.messages] == [True, True, False, True, False]


async def test_default_order_is_descending_and_ids_are_global(client: Client) -> None:
    g1, g2 = gid(), gid()
    await client.mls.SendGroupMessages(
        send_request(private_message(g1), private_message(g2), private_message(g1))
    )
    got, paging = await ids(client, query(g1))
    assert got == sorted(got, reverse=True) and len(got) == 2
    assert paging.direction == DESC and paging.limit == 100 and paging.id_cursor == 0
    other, _ = await ids(client, query(g2))
    assert min(got) < other[0] < max(got)  # one sequence shared by all groups


async def test_paging_ascending_and_descending_with_cursor_rules(client: Client) -> None:
    g = gid()
    await client.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(250))))
    everything, _ = await ids(client, query(g, ASC, limit=1000))  # clamped to 100
    assert len(everything) == 100

    pages: list[list[int]] = []
    cursor = 0
    while True:
        page, paging = await ids(client, query(g, ASC, limit=0, cursor=cursor))
        pages.append(page)
        if paging.id_cursor == 0:
            break
        assert paging.id_cursor == page[-1]  # full page: cursor is the last id
        cursor = paging.id_cursor
    assert [len(p) for p in pages] == [100, 100, 50]
    asc = [i for p in pages for i in p]
    assert asc == sorted(asc) and len(set(asc)) == 250

    desc: list[int] = []
    cursor = 0
    while True:
        page, paging = await ids(client, query(g, DESC, limit=70, cursor=cursor))
        desc += page
        if paging.id_cursor == 0:
            break
        cursor = paging.id_cursor
    assert desc == asc[::-1]

    # ascending returns id > cursor, descending id < cursor
    middle = asc[124]
    after, _ = await ids(client, query(g, ASC, limit=3, cursor=middle))
    before, _ = await ids(client, query(g, DESC, limit=3, cursor=middle))
    assert after == asc[125:128] and before == asc[121:124][::-1]


async def test_exactly_full_last_page_reports_a_cursor_then_an_empty_page(client: Client) -> None:
    g = gid()
    await client.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(4))))
    _, paging = await ids(client, query(g, ASC, limit=2, cursor=0))
    page2, paging2 = await ids(client, query(g, ASC, limit=2, cursor=paging.id_cursor))
    assert paging2.id_cursor == page2[-1]
    page3, paging3 = await ids(client, query(g, ASC, limit=2, cursor=paging2.id_cursor))
    assert page3 == [] and paging3.id_cursor == 0


async def test_identical_payloads_are_stored_once(client: Client) -> None:
    g = gid()
    data = private_message(g)
    await client.mls.SendGroupMessages(send_request(data, data))
    await client.mls.SendGroupMessages(send_request(data, private_message(g)))
    got, _ = await ids(client, query(g, ASC))
    assert len(got) == 2


@pytest.mark.parametrize(
    ("request_builder", "message"),
    [
        (lambda g: mls_pb2.SendGroupMessagesRequest(), "no group messages"),
        (lambda g: mls_pb2.SendGroupMessagesRequest(messages=[mls_pb2.GroupMessageInput()]), "no v1"),
        (lambda g: send_request(b""), "data is empty"),
        (lambda g: send_request(b"\x00\x01\x00\x02garbage"), "not an MLSMessage"),
        (lambda g: send_request(private_message(g) + b"\x00"), "trailing"),
        (lambda g: send_request(b"\x00\x02" + private_message(g)[2:]), "version"),
        (lambda g: send_request(key_package_message(key_package()[0])), "not a group message"),
        (lambda g: send_request(private_message(b"")), "group id is empty"),
    ],
)
async def test_invalid_messages_are_rejected_and_nothing_is_stored(
    client: Client, request_builder, message: str
) -> None:  # type: ignore[no-untyped-def]
    g = gid()
    req = request_builder(g)
    requests = [req]
    if req.messages:  # with a valid message first, the whole batch must still fail
        batch = send_request(private_message(g))
        batch.messages.extend(req.messages)
        requests.append(batch)
    for r in requests:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.mls.SendGroupMessages(r)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in (info.value.details() or "")
    got, _ = await ids(client, query(g, ASC))
    assert got == []


async def test_empty_group_id_query_is_invalid(client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.QueryGroupMessages(query(b""))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_newest_group_message_in_request_order(client: Client) -> None:
    g1, g2, empty = gid(), gid(), gid()
    last1 = private_message(g1, ContentType.commit)
    await client.mls.SendGroupMessages(send_request(private_message(g1), private_message(g2), last1))
    resp = await client.mls.GetNewestGroupMessage(
        mls_pb2.GetNewestGroupMessageRequest(group_ids=[g2, empty, g1], include_content=True)
    )
    r2, r_empty, r1 = resp.responses
    assert r1.group_message.v1.data == last1 and r1.group_message.v1.is_commit
    assert r2.group_message.v1.group_id == g2
    assert not r_empty.HasField("group_message")

    meta = await client.mls.GetNewestGroupMessage(mls_pb2.GetNewestGroupMessageRequest(group_ids=[g1]))
    v1 = meta.responses[0].group_message.v1
    assert v1.id == r1.group_message.v1.id and v1.data == b"" and v1.is_commit and v1.created_ns > 0

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.GetNewestGroupMessage(mls_pb2.GetNewestGroupMessageRequest())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
