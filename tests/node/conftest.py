"""Fixtures: a real pyxmtp node on a free loopback port over a real database: SQLite in tmp_path, and (every
test that uses ``start_node`` runs twice) PostgreSQL in a fresh schema of the local server (see .postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from pyxmtp.node import Node, NodeConfig
from pyxmtp.proto.identity.api.v1 import identity_pb2_grpc
from pyxmtp.proto.migration.api.v1 import migration_pb2_grpc
from pyxmtp.proto.mls.api.v1 import mls_pb2_grpc

from .postgres import BACKENDS, BackendSettings, backend_settings


@dataclass
class Client:
    channel: grpc.aio.Channel
    mls: mls_pb2_grpc.MlsApiStub
    identity: identity_pb2_grpc.IdentityApiStub
    migration: migration_pb2_grpc.D14nMigrationApiStub


def connect(address: str, *, max_receive: int | None = None) -> Client:
    """A client of the node at ``address``; ``max_receive``: its gRPC receive limit (default 4 MiB)."""
    options = [] if max_receive is None else [("grpc.max_receive_message_length", max_receive)]
    channel = grpc.aio.insecure_channel(address, options=options)
    return Client(
        channel,
        mls_pb2_grpc.MlsApiStub(channel),
        identity_pb2_grpc.IdentityApiStub(channel),
        migration_pb2_grpc.D14nMigrationApiStub(channel),
    )


StartNode = Callable[..., Awaitable[Node]]


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[BackendSettings]:
    """The store a node runs on: SQLite in its data_dir, or a fresh PostgreSQL schema per data_dir."""
    async with backend_settings(request.param) as settings:
        yield settings


@pytest.fixture
async def start_node(tmp_path: Path, backend: BackendSettings) -> AsyncIterator[StartNode]:
    """``await start_node(**NodeConfig fields)``: a node on 127.0.0.1, port 0 (free), data in tmp_path (or
    the test's PostgreSQL schema: restarting a node in one test finds the same data)."""
    nodes: list[Node] = []

    async def start(**overrides: object) -> Node:
        fields: dict[str, object] = {
            "host": "127.0.0.1",
            "port": 0,
            "data_dir": tmp_path / "data",
            "rate_limits": None,
        }
        fields.update(overrides)
        fields.update(backend(Path(str(fields["data_dir"]))))
        node = await Node.start(NodeConfig(**fields))  # type: ignore[arg-type]
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        await node.stop(grace=0)


@pytest.fixture
async def node(start_node: StartNode) -> Node:
    return await start_node()


@pytest.fixture
async def client(node: Node) -> AsyncIterator[Client]:
    c = connect(node.address)
    yield c
    await c.channel.close()
