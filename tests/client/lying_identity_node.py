"""A lying identity node for the client tests: a small real gRPC server on loopback that implements only
IdentityApi/GetIdentityUpdates and answers with whatever the test hands it (a tampered, substituted or
out-of-bounds log, or the real node's answer, forwarded and recorded)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

from pyxmtp.client.api import NodeApi
from pyxmtp.node import Node
from pyxmtp.proto.identity.api.v1 import identity_pb2, identity_pb2_grpc

Request = identity_pb2.GetIdentityUpdatesRequest
Response = identity_pb2.GetIdentityUpdatesResponse
Handler = Callable[[Request], Awaitable[Response]]


class _IdentityOnly(identity_pb2_grpc.IdentityApiServicer):
    """Only GetIdentityUpdates; every other IdentityApi method answers UNIMPLEMENTED."""

    def __init__(self, handler: Handler, requests: list[list[tuple[str, int]]]) -> None:
        self._handler = handler
        self._requests = requests

    async def GetIdentityUpdates(self, request: Request, context: Any) -> Response:
        self._requests.append([(r.inbox_id, r.sequence_id) for r in request.requests])
        return await self._handler(request)

    async def PublishIdentityUpdate(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not served here")

    async def GetInboxIds(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not served here")

    async def VerifySmartContractWalletSignatures(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not served here")


@dataclass
class Served:
    api: NodeApi
    #: every GetIdentityUpdates call received: its (inbox_id, sequence_id) pairs
    requests: list[list[tuple[str, int]]] = field(default_factory=list)


@asynccontextmanager
async def identity_server(handler: Handler) -> AsyncIterator[Served]:
    """A real grpc.aio server on a free loopback port answering GetIdentityUpdates with ``handler``."""
    server = grpc.aio.server()
    requests: list[list[tuple[str, int]]] = []
    identity_pb2_grpc.add_IdentityApiServicer_to_server(_IdentityOnly(handler, requests), server)
    port = server.add_insecure_port("127.0.0.1:0")
    assert port
    await server.start()
    try:
        async with NodeApi(f"127.0.0.1:{port}", timeout=10) as api:
            yield Served(api, requests)
    finally:
        await server.stop(grace=0)


def forward_to(node: Node) -> tuple[Handler, grpc.aio.Channel]:
    channel = grpc.aio.insecure_channel(node.address)
    stub = identity_pb2_grpc.IdentityApiStub(channel)

    async def handler(request: Request) -> Response:
        reply: Response = await stub.GetIdentityUpdates(request, timeout=10)
        return reply

    return handler, channel


def serving(inbox_id: str, entries: list[Response.IdentityUpdateLog]) -> Handler:
    async def handler(request: Request) -> Response:
        wanted = {r.inbox_id: r.sequence_id for r in request.requests}
        after = wanted.get(inbox_id)
        if after is None:
            return Response(responses=[Response.Response(inbox_id=i) for i in wanted])
        return Response(
            responses=[
                Response.Response(inbox_id=inbox_id, updates=[e for e in entries if e.sequence_id > after])
            ]
        )

    return handler
