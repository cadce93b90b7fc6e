"""Every bound of the MlsApi (pyxmtp.node.limits) answers with its code, naming the bound, and identically on both
stores (every test runs on SQLite and on PostgreSQL): list lengths, sizes of ids and payloads, cursors beyond
the largest id, and replies that would be too large. What is at a bound is accepted."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest

from pyxmtp.node import Node, limits
from pyxmtp.node.limits import (
    MAX_COMMIT_LOG_ENTRY_BYTES,
    MAX_GROUP_ID_BYTES,
    MAX_GROUP_MESSAGES_PER_REQUEST,
    MAX_ID,
    MAX_INSTALLATION_KEY_BYTES,
    MAX_KEY_PACKAGE_BYTES,
    MAX_KEY_PACKAGES_PER_REQUEST,
    MAX_NEWEST_GROUP_IDS,
    MAX_PAYLOAD_BYTES,
    MAX_SUBSCRIPTION_FILTERS,
    MAX_WELCOMES_PER_REQUEST,
)
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, DESC, query, send_request, welcome_v1
from .builders import key_package, private_message
from .conftest import Client, StartNode, connect
from .test_misc_api import commit_log_query, entry

GroupFilter = mls_pb2.SubscribeGroupMessagesRequest.Filter
WelcomeFilter = mls_pb2.SubscribeWelcomeMessagesRequest.Filter
LONG_ID = b"i" * 3000  # over the bound, and over what a PostgreSQL index entry may hold


async def refused(call: Awaitable[Any], code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> str:
    """The details of the error ``call`` ends with, which must be ``code``."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value.details() or ""


async def stream_refused(call: Any) -> str:
    """A server-streaming call that must end with INVALID_ARGUMENT before sending anything."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    return info.value.details() or ""


def subscribe_groups(client: Client, filters: list[tuple[bytes, int]]) -> Any:
    request = mls_pb2.SubscribeGroupMessagesRequest(
        filters=[GroupFilter(group_id=g, id_cursor=c) for g, c in filters]
    )
    return client.mls.SubscribeGroupMessages(request)


def subscribe_welcomes(client: Client, filters: list[tuple[bytes, int]]) -> Any:
    request = mls_pb2.SubscribeWelcomeMessagesRequest(
        filters=[WelcomeFilter(installation_key=k, id_cursor=c) for k, c in filters]
    )
    return client.mls.SubscribeWelcomeMessages(request)


# --- lists ----------------------------------------------------------------------------------------------------------
async def test_every_list_of_a_request_is_bounded(client: Client) -> None:
    g = os.urandom(16)
    details = await refused(
        client.mls.SendGroupMessages(
            send_request(*(private_message(g) for _ in range(MAX_GROUP_MESSAGES_PER_REQUEST + 1)))
        )
    )
    assert f"cannot exceed {MAX_GROUP_MESSAGES_PER_REQUEST} group messages" in details
    welcomes = [welcome_v1(b"k" * 32, b"w%d" % i) for i in range(MAX_WELCOMES_PER_REQUEST + 1)]
    details = await refused(
        client.mls.SendWelcomeMessages(mls_pb2.SendWelcomeMessagesRequest(messages=welcomes))
    )
    assert f"cannot exceed {MAX_WELCOMES_PER_REQUEST} welcome messages" in details
    keys = [os.urandom(32) for _ in range(MAX_KEY_PACKAGES_PER_REQUEST + 1)]
    details = await refused(
        client.mls.FetchKeyPackages(mls_pb2.FetchKeyPackagesRequest(installation_keys=keys))
    )
    assert f"cannot exceed {MAX_KEY_PACKAGES_PER_REQUEST} installation keys" in details
    groups = [os.urandom(16) for _ in range(MAX_NEWEST_GROUP_IDS + 1)]
    details = await refused(
        client.mls.GetNewestGroupMessage(mls_pb2.GetNewestGroupMessageRequest(group_ids=groups))
    )
    assert f"cannot exceed {MAX_NEWEST_GROUP_IDS} group ids" in details
    many = [(os.urandom(16), 0) for _ in range(MAX_SUBSCRIPTION_FILTERS + 1)]
    assert f"cannot exceed {MAX_SUBSCRIPTION_FILTERS} filters" in await stream_refused(
        subscribe_groups(client, many)
    )
    assert f"cannot exceed {MAX_SUBSCRIPTION_FILTERS} filters" in await stream_refused(
        subscribe_welcomes(client, many)
    )
    # nothing of the refused requests was stored
    assert not (await client.mls.QueryGroupMessages(query(g))).messages


async def test_what_libxmtp_sends_at_most_is_accepted(client: Client) -> None:
    """libxmtp asks for 1,000 newest messages at once, every installation of a group's members at once, and
    subscribes to all its groups in one call."""
    groups = [os.urandom(16) for _ in range(MAX_NEWEST_GROUP_IDS)]
    await client.mls.SendGroupMessages(send_request(private_message(groups[-1])))
    newest = await client.mls.GetNewestGroupMessage(mls_pb2.GetNewestGroupMessageRequest(group_ids=groups))
    assert len(newest.responses) == MAX_NEWEST_GROUP_IDS and newest.responses[-1].HasField("group_message")
    keys = [os.urandom(32) for _ in range(2500)]
    fetched = await client.mls.FetchKeyPackages(mls_pb2.FetchKeyPackagesRequest(installation_keys=keys))
    assert len(fetched.key_packages) == 2500
    call = subscribe_groups(client, [(g, 0) for g in groups])
    assert (await call.read()).v1.group_id == groups[-1]  # replayed from the last of 1,000 filters
    call.cancel()


# --- sizes of what is published ----------------------------------------------------------------------------------
async def test_a_message_over_the_maximum_is_refused_and_one_at_it_is_stored(
    node: Node, client: Client
) -> None:
    g = os.urandom(16)
    ten_mb = private_message(g, payload=os.urandom(10_000_000))
    details = await refused(client.mls.SendGroupMessages(send_request(ten_mb)))
    assert f"group message 0 is {len(ten_mb)} bytes, over the limit of {MAX_PAYLOAD_BYTES}" in details
    at_max = private_message(g, payload=b"")
    at_max = private_message(
        g, payload=os.urandom(MAX_PAYLOAD_BYTES - len(at_max) - 3)
    )  # 4-byte length prefix
    assert len(at_max) == MAX_PAYLOAD_BYTES
    await refused(client.mls.SendGroupMessages(send_request(at_max + b"\x00")))  # one byte over
    await client.mls.SendGroupMessages(send_request(at_max))
    big = connect(node.address, max_receive=64 * 1024 * 1024)
    got = await big.mls.QueryGroupMessages(query(g, ASC))
    assert [m.v1.data for m in got.messages] == [at_max]
    await big.channel.close()


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            send_request(private_message(LONG_ID)),
            f"group id of group message 0 is 3000 bytes, over the limit of {MAX_GROUP_ID_BYTES}",
        ),
        (
            send_request(private_message(b"g" * 16), sender_hmac=b"h" * 257),
            "sender_hmac of group message 0 is 257 bytes",
        ),
    ],
)
async def test_group_message_fields_over_their_bound_are_refused(
    client: Client, request_: mls_pb2.SendGroupMessagesRequest, message: str
) -> None:
    assert message in await refused(client.mls.SendGroupMessages(request_))


@pytest.mark.parametrize(
    ("welcome", "message"),
    [
        (
            welcome_v1(LONG_ID, b"w"),
            f"installation_key of welcome message 0 is 3000 bytes, over the limit of {MAX_INSTALLATION_KEY_BYTES}",
        ),
        (welcome_v1(b"k" * 32, b"w" * (MAX_PAYLOAD_BYTES + 1)), "welcome message 0 is 8388609 bytes"),
        (
            welcome_v1(b"k" * 32, b"w", hpke_public_key=b"p" * 4097),
            "hpke_public_key of welcome message 0 is 4097",
        ),
        (welcome_v1(b"k" * 32, b"w", metadata=b"m" * 4097), "welcome_metadata of welcome message 0 is 4097"),
        (
            mls_pb2.WelcomeMessageInput(
                welcome_pointer=mls_pb2.WelcomeMessageInput.WelcomePointer(
                    installation_key=LONG_ID,
                    welcome_pointer=b"p",
                    hpke_public_key=b"x" * 1216,
                    wrapper_algorithm=2,
                )
            ),
            "installation_key of welcome pointer message 0 is 3000 bytes",
        ),
    ],
)
async def test_welcome_fields_over_their_bound_are_refused(
    client: Client, welcome: mls_pb2.WelcomeMessageInput, message: str
) -> None:
    request = mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(b"k" * 32, b"fine"), welcome])
    assert message.replace("message 0", "message 1") in await refused(client.mls.SendWelcomeMessages(request))
    got = await client.mls.QueryWelcomeMessages(
        mls_pb2.QueryWelcomeMessagesRequest(installation_key=b"k" * 32)
    )
    assert not got.messages  # all or nothing


async def test_a_key_package_over_its_bound_is_refused_unparsed(client: Client) -> None:
    upload = mls_pb2.UploadKeyPackageRequest(
        key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=b"\x00" * (MAX_KEY_PACKAGE_BYTES + 1))
    )
    details = await refused(client.mls.UploadKeyPackage(upload))
    assert (
        details
        == f"key package is {MAX_KEY_PACKAGE_BYTES + 1} bytes, over the limit of {MAX_KEY_PACKAGE_BYTES}"
    )


@pytest.mark.parametrize(
    ("published", "message"),
    [
        (entry(LONG_ID, b"e"), "group_id of commit log entry 0 is 3000 bytes"),
        (entry(b"g", b"e" * (MAX_COMMIT_LOG_ENTRY_BYTES + 1)), "commit log entry 0 is 16385 bytes"),
    ],
)
async def test_commit_log_entries_over_their_bound_are_refused(
    client: Client, published: mls_pb2.PublishCommitLogRequest, message: str
) -> None:
    details = await refused(
        client.mls.BatchPublishCommitLog(mls_pb2.BatchPublishCommitLogRequest(requests=[published]))
    )
    assert message in details


# --- ids and cursors in reads ----------------------------------------------------------------------------------
async def test_reads_with_an_id_over_its_bound_are_refused(client: Client) -> None:
    at_bound = b"i" * MAX_GROUP_ID_BYTES
    assert not (await client.mls.QueryGroupMessages(query(at_bound))).messages
    assert "group_id is 3000 bytes" in await refused(client.mls.QueryGroupMessages(query(LONG_ID)))
    details = await refused(
        client.mls.QueryWelcomeMessages(mls_pb2.QueryWelcomeMessagesRequest(installation_key=LONG_ID))
    )
    assert "installation_key is 3000 bytes" in details
    details = await refused(
        client.mls.GetNewestGroupMessage(mls_pb2.GetNewestGroupMessageRequest(group_ids=[b"g", LONG_ID]))
    )
    assert "group id 1 is 3000 bytes" in details
    details = await refused(
        client.mls.FetchKeyPackages(mls_pb2.FetchKeyPackagesRequest(installation_keys=[LONG_ID]))
    )
    assert "installation key 0 is 3000 bytes" in details
    details = await refused(
        client.mls.BatchQueryCommitLog(
            mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(LONG_ID)])
        )
    )
    assert "group_id of request 0 is 3000 bytes" in details
    assert "group id of filter 1 is 3000 bytes" in await stream_refused(
        subscribe_groups(client, [(b"g", 0), (LONG_ID, 0)])
    )
    assert "installation key of filter 0 is 3000 bytes" in await stream_refused(
        subscribe_welcomes(client, [(LONG_ID, 0)])
    )


@pytest.mark.parametrize("cursor", [MAX_ID + 1, 2**64 - 1])
async def test_a_cursor_beyond_the_largest_id_is_refused(client: Client, cursor: int) -> None:
    g = os.urandom(16)
    for direction in (ASC, DESC):
        details = await refused(client.mls.QueryGroupMessages(query(g, direction, cursor=cursor)))
        assert details == f"id_cursor {cursor} is beyond the largest id ({MAX_ID})"
        welcomes = mls_pb2.QueryWelcomeMessagesRequest(
            installation_key=b"k", paging_info=mls_pb2.PagingInfo(direction=direction, id_cursor=cursor)
        )
        assert "beyond the largest id" in await refused(client.mls.QueryWelcomeMessages(welcomes))
    details = await refused(
        client.mls.BatchQueryCommitLog(
            mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(g, cursor)])
        )
    )
    assert f"id_cursor of request 0 {cursor} is beyond the largest id" in details
    assert f"id_cursor of filter 0 {cursor} is beyond" in await stream_refused(
        subscribe_groups(client, [(g, cursor)])
    )
    assert "beyond the largest id" in await stream_refused(subscribe_welcomes(client, [(b"k", cursor)]))


async def test_large_cursors_within_range_page_correctly(client: Client) -> None:
    """Descending pages take any cursor up to the largest id (PostgreSQL once typed the cursor int4)."""
    g = os.urandom(16)
    await client.mls.SendGroupMessages(send_request(*(private_message(g) for _ in range(3))))
    ids = [m.v1.id for m in (await client.mls.QueryGroupMessages(query(g, ASC))).messages]
    for cursor in (2**31, 2**32, MAX_ID):
        down = await client.mls.QueryGroupMessages(query(g, DESC, cursor=cursor))
        assert [m.v1.id for m in down.messages] == ids[::-1]
        assert not (await client.mls.QueryGroupMessages(query(g, ASC, cursor=cursor))).messages
    await client.mls.SendWelcomeMessages(
        mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(b"k", b"w")])
    )
    down = await client.mls.QueryWelcomeMessages(
        mls_pb2.QueryWelcomeMessagesRequest(
            installation_key=b"k", paging_info=mls_pb2.PagingInfo(direction=DESC, id_cursor=2**40)
        )
    )
    assert [w.v1.data for w in down.messages] == [b"w"]
    log = await client.mls.BatchQueryCommitLog(
        mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(g, MAX_ID)])
    )
    assert not log.responses[0].commit_log_entries


# --- replies that would be too large -------------------------------------------------------------------------------
async def test_replies_listing_one_record_per_key_are_bounded_in_bytes(
    start_node: StartNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FetchKeyPackages and GetNewestGroupMessage (with content) answer every key or none: over the byte budget
    they answer RESOURCE_EXHAUSTED, and fewer keys at a time succeed."""
    monkeypatch.setattr(limits, "PAGE_BYTES", 4000)
    node = await start_node()
    client = connect(node.address)
    packages = [key_package() for _ in range(8)]
    assert 2 * sum(len(kp) for kp, _ in packages) > 4000 > sum(len(kp) for kp, _ in packages[:4])
    for kp, _ in packages:
        await client.mls.UploadKeyPackage(
            mls_pb2.UploadKeyPackageRequest(
                key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=kp)
            )
        )
    keys = [k for _, k in packages]
    fetch = mls_pb2.FetchKeyPackagesRequest(installation_keys=keys + keys)
    details = await refused(client.mls.FetchKeyPackages(fetch), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "the key packages come to more than 4000 bytes" in details and "fewer installations" in details
    half = await client.mls.FetchKeyPackages(mls_pb2.FetchKeyPackagesRequest(installation_keys=keys[:4]))
    assert [p.key_package_tls_serialized for p in half.key_packages] == [kp for kp, _ in packages[:4]]

    groups = [os.urandom(16) for _ in range(4)]
    for g in groups:
        await client.mls.SendGroupMessages(send_request(private_message(g, payload=os.urandom(1500))))
    with_content = mls_pb2.GetNewestGroupMessageRequest(group_ids=groups, include_content=True)
    details = await refused(
        client.mls.GetNewestGroupMessage(with_content), grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    assert "the newest messages come to more than 4000 bytes" in details and "fewer groups" in details
    metadata = await client.mls.GetNewestGroupMessage(mls_pb2.GetNewestGroupMessageRequest(group_ids=groups))
    assert [r.group_message.v1.group_id for r in metadata.responses] == groups
    assert all(not r.group_message.v1.data for r in metadata.responses)
    two = await client.mls.GetNewestGroupMessage(
        mls_pb2.GetNewestGroupMessageRequest(group_ids=groups[:2], include_content=True)
    )
    assert all(len(r.group_message.v1.data) > 1500 for r in two.responses)
    await client.channel.close()


async def test_oversized_ids_do_not_harm_concurrent_honest_writes(client: Client) -> None:
    """Issue 12: 300 honest writes at once with a few whose ids PostgreSQL could not index (random, so not
    compressible): the bad ones are refused before the store, every honest one is stored."""
    groups = [os.urandom(16) for _ in range(300)]
    honest_calls = [client.mls.SendGroupMessages(send_request(private_message(g))) for g in groups]
    bad_calls = [
        client.mls.SendGroupMessages(send_request(private_message(os.urandom(3000)))) for _ in range(5)
    ] + [
        client.mls.SendWelcomeMessages(
            mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(os.urandom(3000), b"w")])
        )
        for _ in range(5)
    ]
    done = await asyncio.gather(*honest_calls, *bad_calls, return_exceptions=True)
    assert not [d for d in done[:300] if isinstance(d, BaseException)]
    assert all(
        isinstance(d, grpc.aio.AioRpcError) and d.code() == grpc.StatusCode.INVALID_ARGUMENT
        for d in done[300:]
    )
    newest = await client.mls.GetNewestGroupMessage(mls_pb2.GetNewestGroupMessageRequest(group_ids=groups))
    assert all(r.HasField("group_message") for r in newest.responses)
