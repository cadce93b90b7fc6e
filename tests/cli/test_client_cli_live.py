"""``pyxmtp client listen`` as a long-running process: it says on stderr when it connects, loses the node and
reconnects (a node restart on the same port), labels each line with its conversation, and holds its home so a
second process on it is told which one has it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyxmtp.node import Node, NodeConfig

from .clirun import BASE_ENV, User, users

pytestmark = pytest.mark.timeout(240)


class Listener:
    """A running ``pyxmtp client listen``: its stdout and stderr lines, read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.err: list[str] = []

    async def stdout_line(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        assert line, f"listen ended: {self.err}"
        return line.decode()

    async def stdout_until(self, wanted: str) -> str:
        while True:
            line = await self.stdout_line()
            if wanted in line:
                return line

    async def stderr_until(self, wanted: str, timeout: float = 60) -> str:
        assert self.proc.stderr is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stderr.readline(), timeout)
            assert raw, f"listen ended: {self.err}"
            line = raw.decode()
            self.err.append(line)
            assert "Traceback" not in line
            if wanted in line:
                return line


@contextlib.asynccontextmanager
async def listening(user: User, *args: str, node: str | None = None) -> AsyncIterator[Listener]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyxmtp",
        "client",
        "listen",
        "--home",
        str(user.home),
        "--node",
        node or user.node.address,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=BASE_ENV,
    )
    try:
        yield Listener(proc)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def test_listen_reports_a_node_restart_and_carries_on(tmp_path: Path) -> None:
    data = tmp_path / "node"
    node = await Node.start(NodeConfig(host="127.0.0.1", port=0, data_dir=data, rate_limits=None))
    port = node.port
    try:
        alice, bob = await users(node, tmp_path, "alice", "bob")
        dm = await alice.json("dm", bob.address)
        await alice("send", dm["short_id"], "before")
        async with listening(bob) as listen:
            await listen.stderr_until("connecting to")
            await listen.stderr_until("listening on")
            line = await listen.stdout_until("before")
            assert (
                f"[{dm['short_id']} dm with {alice.address}]" in line and f"{alice.address}: before" in line
            )

            await node.stop(grace=1)
            notice = await listen.stderr_until("reconnecting in")
            assert "lost the node (UNAVAILABLE)" in notice
            node = await Node.start(NodeConfig(host="127.0.0.1", port=port, data_dir=data, rate_limits=None))
            await alice("send", dm["conversation"], "after the restart")
            line = await listen.stdout_until("after the restart")
            assert f"[{dm['short_id']} dm with {alice.address}]" in line
            await listen.stderr_until("listening on")

            # the home is this process's while it runs: a second one is told which process has it
            busy = await bob("send", dm["short_id"], "me too?", check=False)
            assert busy.code == 1
            assert f"this home is in use by PID {listen.proc.pid} (pyxmtp client listen)" in busy.err
            listen.proc.terminate()
            assert await listen.proc.wait() == 143  # SIGTERM: closed cleanly, as Ctrl-C (130)
        await bob("send", dm["short_id"], "now I can")  # the lock went with the process
    finally:
        await node.stop(grace=0)


async def test_listen_says_it_cannot_reach_the_node_and_keeps_trying(node: Node, tmp_path: Path) -> None:
    [bob] = await users(node, tmp_path, "bob")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with listening(bob, "--json", node=nowhere) as listen:
        await listen.stderr_until("connecting to")
        first = await listen.stderr_until("reconnecting in 0.5 s")
        assert "cannot reach the node" in first and "UNAVAILABLE" in first and "if it serves TLS" in first
        await listen.stderr_until("reconnecting in 1 s")  # backing off
        listen.proc.terminate()
        assert await listen.proc.wait() == 143
        assert listen.proc.stdout is not None
        assert await listen.proc.stdout.read() == b""  # stdout is for messages only (JSON lines here)
