"""Fixtures for the client tests: a real pyxmtp node on a free loopback port (SQLite in tmp_path), and real
registered pyxmtp clients."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
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


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000 for the test: files are owner-only because the code makes them so, not by the umask."""
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def client_argv(node: Node, home: Path, *args: str) -> list[str]:
    """The command line of ``pyxmtp client ARGS`` for ``home`` against ``node``."""
    return [sys.executable, "-m", "pyxmtp", "client", "--home", str(home), "--node", node.address, *args]


@asynccontextmanager
async def listening(node: Node, home: Path, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``pyxmtp client listen ARGS`` of ``home`` running against ``node``, its output piped; stopped on exit."""
    proc = await asyncio.create_subprocess_exec(
        *client_argv(node, home, "listen", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        await proc.wait()


@asynccontextmanager
async def streamed_texts(client: Client) -> AsyncIterator[asyncio.Queue[str]]:
    """A queue of the text of every message ``client.conversations.stream_all_messages()`` yields, as it comes;
    the stream is stopped on exit."""
    got: asyncio.Queue[str] = asyncio.Queue()

    async def listen() -> None:
        async with client.conversations.stream_all_messages() as stream:
            async for message in stream:
                if isinstance(message.content, str):
                    await got.put(message.content)

    listener = asyncio.create_task(listen())
    try:
        yield got
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
