"""The rest of the API surface: migration cutover, deprecated methods, malformed protobuf, the commit log."""

from __future__ import annotations

import asyncio
import logging
import os

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc._cython import cygrpc  # type: ignore[attr-defined]
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pyxmtp.node import NO_CUTOVER_NS
from pyxmtp.node.server import Node
from pyxmtp.proto.identity.associations import signature_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .conftest import Client


async def test_d14n_cutover_is_not_scheduled(client: Client) -> None:
    resp = await client.migration.FetchD14nCutover(empty_pb2.Empty())
    assert resp.timestamp_ns == NO_CUTOVER_NS == 2**63 - 1  # far future, and still a valid i64


async def test_deprecated_methods_answer_as_node_go(client: Client) -> None:
    for call in (
        client.mls.RevokeInstallation(mls_pb2.RevokeInstallationRequest(installation_key=b"k")),
        client.mls.GetIdentityUpdates(mls_pb2.GetIdentityUpdatesRequest(account_addresses=["0x00"])),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED and info.value.details() == "unimplemented"


async def test_bidirectional_subscribe_is_unimplemented(client: Client) -> None:
    call = client.mls.Subscribe()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_malformed_protobuf_is_invalid_argument(node: Node) -> None:
    async with grpc.aio.insecure_channel(node.address) as channel:
        raw = channel.unary_unary("/xmtp.mls.api.v1.MlsApi/SendGroupMessages")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw(b"\x0a\xff\xff\xff")  # field 1, length running past the end
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "xmtp.mls.api.v1.SendGroupMessagesRequest" in (info.value.details() or "")
        unknown = channel.unary_unary("/xmtp.mls.api.v1.MlsApi/NoSuchMethod")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unknown(b"")
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def entry(group_id: bytes, payload: bytes) -> mls_pb2.PublishCommitLogRequest:
    return mls_pb2.PublishCommitLogRequest(
        group_id=group_id,
        serialized_commit_log_entry=payload,
        signature=signature_pb2.RecoverableEd25519Signature(bytes=b"s" * 64, public_key=b"p" * 32),
    )


def commit_log_query(
    group_id: bytes, cursor: int = 0, limit: int = 0, direction: int = 0
) -> mls_pb2.QueryCommitLogRequest:
    return mls_pb2.QueryCommitLogRequest(
        group_id=group_id,
        paging_info=mls_pb2.PagingInfo(id_cursor=cursor, limit=limit, direction=direction),  # type: ignore[arg-type]
    )


async def test_commit_log_publish_and_query(client: Client) -> None:
    g1, g2 = os.urandom(16), os.urandom(16)
    await client.mls.BatchPublishCommitLog(
        mls_pb2.BatchPublishCommitLogRequest(
            requests=[entry(g1, b"e1"), entry(g2, b"x"), entry(g1, b"e2"), entry(g1, b"e3")]
        )
    )
    resp = await client.mls.BatchQueryCommitLog(
        mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(g1, limit=2), commit_log_query(g2)])
    )
    r1, r2 = resp.responses
    assert r1.group_id == g1 and [e.serialized_commit_log_entry for e in r1.commit_log_entries] == [
        b"e1",
        b"e2",
    ]
    assert r1.commit_log_entries[0].signature.public_key == b"p" * 32
    assert r1.paging_info.id_cursor == r1.commit_log_entries[-1].sequence_id  # full page
    assert [e.serialized_commit_log_entry for e in r2.commit_log_entries] == [
        b"x"
    ] and r2.paging_info.id_cursor == 0
    rest = await client.mls.BatchQueryCommitLog(
        mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(g1, cursor=r1.paging_info.id_cursor)])
    )
    assert [e.serialized_commit_log_entry for e in rest.responses[0].commit_log_entries] == [b"e3"]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (mls_pb2.BatchPublishCommitLogRequest(), "no log entries"),
        (mls_pb2.BatchPublishCommitLogRequest(requests=[entry(b"g", b"e")] * 11), "cannot exceed 10"),
        (mls_pb2.BatchPublishCommitLogRequest(requests=[entry(b"g", b"e"), entry(b"", b"e")]), "required"),
        (
            mls_pb2.BatchPublishCommitLogRequest(
                requests=[mls_pb2.PublishCommitLogRequest(group_id=b"g", serialized_commit_log_entry=b"e")]
            ),
            "required",
        ),
    ],
)
async def test_commit_log_publish_rejects(
    client: Client, request_: mls_pb2.BatchPublishCommitLogRequest, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.BatchPublishCommitLog(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in (info.value.details() or "")
    resp = await client.mls.BatchQueryCommitLog(
        mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(b"g")])
    )
    assert not resp.responses[0].commit_log_entries


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (mls_pb2.BatchQueryCommitLogRequest(), "no requests"),
        (mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(b"g")] * 21), "cannot exceed 20"),
        (mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(b"")]), "group_id"),
        (mls_pb2.BatchQueryCommitLogRequest(requests=[commit_log_query(b"g", direction=2)]), "descending"),
    ],
)
async def test_commit_log_query_rejects(
    client: Client, request_: mls_pb2.BatchQueryCommitLogRequest, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.BatchQueryCommitLog(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in (info.value.details() or "")


async def test_a_failing_store_is_unavailable_and_logged(
    node: Node, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    await node.store.close()  # every store call now fails with StoreError
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.QueryGroupMessages(mls_pb2.QueryGroupMessagesRequest(group_id=b"g"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert info.value.details() == "the node's store is unavailable (MlsApi/QueryGroupMessages)"
    assert "MlsApi/QueryGroupMessages failed in the store" in caplog.text and "store is closed" in caplog.text


async def test_an_unexpected_failure_is_internal_and_logged(
    node: Node, client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(node.store, "query_group_messages", broken)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.QueryGroupMessages(mls_pb2.QueryGroupMessagesRequest(group_id=b"g"))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal error in MlsApi/QueryGroupMessages"  # no internals leak out
    assert "MlsApi/QueryGroupMessages failed" in caplog.text and "ZeroDivisionError" in caplog.text


async def test_a_call_whose_stream_is_gone_ends_as_cancelled_without_an_error(
    node: Node, client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gRPC refuses to send on a call whose stream its core has already closed (a client reset it, or its connection
    closed in a shutdown) with ExecuteBatchError, sometimes before it tells the handler of the cancellation. Such a
    call is over: the node logs no error for it. The race is not reproducible on demand, so the refusal is raised
    where the handler runs; it is gRPC's own exception type."""

    async def refused(*args: object, **kwargs: object) -> None:
        raise cygrpc.ExecuteBatchError('Failed "execute_batch"')

    caplog.set_level(logging.DEBUG, logger="pyxmtp.node")
    monkeypatch.setattr(node.store, "query_group_messages", refused)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.QueryGroupMessages(mls_pb2.QueryGroupMessagesRequest(group_id=b"g"), timeout=0.5)
    assert (
        info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    )  # the node sent nothing: there was no one to send to
    assert "MlsApi/QueryGroupMessages: the client went away" in caplog.text
    assert "MlsApi/QueryGroupMessages peer=127.0.0.1 status=CANCELLED" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    monkeypatch.undo()  # the node goes on serving
    assert not (
        await client.mls.QueryGroupMessages(mls_pb2.QueryGroupMessagesRequest(group_id=b"h"))
    ).messages


async def test_the_standard_health_service_reports_serving_then_not_serving(
    node: Node, client: Client
) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    Status = health_pb2.HealthCheckResponse
    for service in ("", "xmtp.mls.api.v1.MlsApi", "xmtp.identity.api.v1.IdentityApi"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == Status.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await watch.read()).status == Status.SERVING
    stopping = asyncio.ensure_future(node.stop(grace=1))
    assert (await asyncio.wait_for(watch.read(), 5)).status == Status.NOT_SERVING  # before the server goes
    await stopping
