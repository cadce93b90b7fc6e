"""Fixtures for the client tests: a real pyxmtp node on a free loopback port (SQLite in tmp_path), and real
registered pyxmtp clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyxmtp.client import Client
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node, NodeConfig


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    node = await Node.start(
        NodeConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node", rate_limits=None)
    )
    yield node
    await node.stop(grace=0)


async def new_client(node: Node, path: Path, **options: object) -> Client:
    """A new registered pyxmtp client (its own wallet, its database at ``path``)."""
    wallet = LocalWalletSigner.generate()
    client = await Client.create(node.address, wallet, db_path=path, **options)  # type: ignore[arg-type]
    await client.register(wallet)
    return client
