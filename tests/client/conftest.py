"""Fixtures for the client tests: a real pyxmtp node on a free loopback port (SQLite in tmp_path), and real
registered pyxmtp clients."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
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
    return await Client.create(node.address, wallet, db_path=path, **options)  # type: ignore[arg-type]


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], what: str, *, timeout: float = 30.0
) -> None:
    """Poll ``predicate`` (plain or async) until it holds; fail naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def streams_open(node: Node, count: int) -> None:
    """Wait until ``node`` holds ``count`` live subscriptions (a client's streams are registered: anything
    stored from now on reaches them)."""
    await eventually(lambda: node.dispatcher.subscription_count >= count, f"{count} open streams on the node")
