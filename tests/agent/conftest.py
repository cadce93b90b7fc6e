"""Fixtures for the agent tests: the real node of the client tests, agents on it, and a recorder that handlers
write to and tests wait on (no sleeps: every wait is on an event, with a deadline)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.agent import Agent
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from tests.client.conftest import eventually, new_client, node, streams_open

__all__ = ["Recorder", "eventually", "make_agent", "new_client", "node", "streams_open"]

TIMEOUT = 30.0


async def make_agent(node: Node, path: Path) -> Agent:
    """A new agent (its own wallet) on ``node``, its database at ``path``."""
    return await Agent.create(LocalWalletSigner.generate(), node_url=node.address, db_path=path)


class Recorder:
    """What handlers saw, in order; tests wait (polling, with a deadline) until it holds what they expect."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, item: Any) -> None:
        self.items.append(item)

    async def wait_for(
        self, predicate: Callable[[list[Any]], bool], what: str, timeout: float = TIMEOUT
    ) -> None:
        try:
            await eventually(lambda: predicate(self.items), what, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; saw {self.items!r}") from None

    async def wait_until_contains(self, item: Any, timeout: float = TIMEOUT) -> None:
        await self.wait_for(lambda items: item in items, repr(item), timeout)


@pytest.fixture
async def agent(node: Node, tmp_path: Path) -> AsyncIterator[Agent]:
    agent = await make_agent(node, tmp_path / "agent.db3")
    try:
        yield agent
    finally:
        await agent.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
