"""``pyxmtp client`` on a terminal, driven as a person would with pexpect: a progress bar while a 2 000-message
backlog syncs, gone once it is done; Ctrl-C in ``listen`` exits 130. (Through a pseudo-terminal: the bar is
drawn only when stderr is a terminal, which the other CLI tests check it is not.)"""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from pyxmtp.client import Conversation
from pyxmtp.node import Node
from tests.client.conftest import new_client

from .clirun import BASE_ENV, users

pexpect = pytest.importorskip("pexpect")
from pexpect.fdpexpect import fdspawn  # noqa: E402

pytestmark = pytest.mark.timeout(180)

BACKLOG = 2000
ERASE_LINE = b"\x1b[2K"


async def flood(conversation: Conversation, count: int) -> None:
    """``count`` text messages into ``conversation``: stored optimistically (no call to the node each), then
    published in one go (a ``send_text`` each would read every one back: too slow to make a backlog with)."""
    for n in range(count):
        await conversation.send_text(f"backlog {n}", optimistic=True)
    await conversation.publish_messages()


class Terminal:
    """A pyxmtp process on a new pseudo-terminal, its controlling terminal (Ctrl-C there is a real ^C).

    Started with ``subprocess`` (fork and exec in C) rather than ``pexpect.spawn``, whose fork runs Python
    code in a child of this process, where gRPC's threads (the node's, the SDK's) are not safe to fork;
    ``setsid --ctty`` makes the pseudo-terminal the process's controlling terminal."""

    def __init__(self, home: Path, node: Node, *args: str) -> None:
        setsid = shutil.which("setsid")
        if setsid is None:
            pytest.skip("setsid (util-linux) is needed to give the process a controlling terminal")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        command = ["client", "--home", str(home), "--node", node.address, *args]
        self.proc = subprocess.Popen(
            [setsid, "--ctty", "--wait", sys.executable, "-m", "pyxmtp", *command],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**BASE_ENV, "TERM": "xterm-256color"},
        )
        os.close(slave)
        self.log = io.BytesIO()
        self.child = fdspawn(master, timeout=120)
        self.child.logfile_read = self.log

    async def expect(self, pattern: object) -> None:
        try:
            await self.child.expect(pattern, async_=True)
        except (pexpect.EOF, pexpect.TIMEOUT) as exc:
            raise AssertionError(
                f"{type(exc).__name__}; the terminal showed: {self.log.getvalue()!r}"
            ) from None

    async def exit_status(self) -> int:
        await self.expect(pexpect.EOF)
        self.child.close()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.proc.wait)


async def test_a_long_sync_shows_a_progress_bar_that_goes_away(node: Node, tmp_path: Path) -> None:
    [bob] = await users(node, tmp_path, "bob")
    alice = await new_client(node, tmp_path / "alice.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await flood(dm, BACKLOG)
    await alice.close()

    terminal = Terminal(bob.home, node, "list")
    await terminal.expect("syncing")  # the bar is drawn while the backlog is read
    await terminal.expect(f"{BACKLOG} messages")
    assert await terminal.exit_status() == 0
    raw = terminal.log.getvalue()
    last_bar = raw.rindex(b"syncing")
    listing = raw.index(f"{BACKLOG} messages".encode())
    # the bar's line was erased before the listing was printed: the screen keeps only the listing
    assert last_bar < raw.rindex(ERASE_LINE, 0, listing) < listing
    assert b"syncing" not in raw[listing:] and b"Traceback" not in raw


async def test_ctrl_c_stops_listen_with_status_130(node: Node, tmp_path: Path) -> None:
    [bob] = await users(node, tmp_path, "bob")
    terminal = Terminal(bob.home, node, "listen")
    await terminal.expect("listening on")
    terminal.child.send(b"\x03")  # Ctrl-C, as typed: the terminal sends SIGINT to the process
    assert await terminal.exit_status() == 130
    assert b"Traceback" not in terminal.log.getvalue()
