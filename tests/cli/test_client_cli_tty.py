"""``pyxmtp client`` on a terminal, driven as a person would with pexpect: a progress bar while a 2 000-message
backlog syncs, gone once it is done; Ctrl-C in ``listen`` exits 130. (Through a pseudo-terminal: the bar is
drawn only when stderr is a terminal, which the other CLI tests check it is not.)"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from pyxmtp.client import ClientConversation
from pyxmtp.conversations.content import build_plaintext_envelope, encode_text
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2
from tests.client.conftest import new_client

from .clirun import BASE_ENV, users

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.timeout(180)

BACKLOG = 2000
ERASE_LINE = b"\x1b[2K"


async def flood(conversation: ClientConversation, count: int) -> None:
    """``count`` text messages into ``conversation``, encrypted in a row and published in batches (the SDK's
    ``send_text`` reads each one back: too slow to make a backlog with)."""
    inputs = []
    for n in range(count):
        content, _ = encode_text(f"backlog {n}")
        data = conversation.conversation.encrypt(
            build_plaintext_envelope(content, f"backlog-{n}"), rng=os.urandom
        )
        inputs.append(
            mls_pb2.GroupMessageInput(v1=mls_pb2.GroupMessageInput.V1(data=data, should_push=False))
        )
    await conversation.client.api.send_group_messages(inputs)


def spawn(home: Path, node: Node, *args: str) -> tuple[pexpect.spawn, io.BytesIO]:
    log = io.BytesIO()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "pyxmtp", "client", "--home", str(home), "--node", node.address, *args],
        env={**BASE_ENV, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
        dimensions=(40, 120),
        timeout=120,
    )
    child.logfile_read = log
    return child, log


async def test_a_long_sync_shows_a_progress_bar_that_goes_away(node: Node, tmp_path: Path) -> None:
    [bob] = await users(node, tmp_path, "bob")
    alice = await new_client(node, tmp_path / "alice.db")
    dm = await alice.create_dm(bob.inbox_id)
    await flood(dm, BACKLOG)
    await alice.close()

    child, log = spawn(bob.home, node, "list")
    await child.expect("syncing", async_=True)  # the bar is drawn while the backlog is read
    await child.expect(f"{BACKLOG} messages", async_=True)
    await child.expect(pexpect.EOF, async_=True)
    child.close()
    assert child.exitstatus == 0
    raw = log.getvalue()
    last_bar = raw.rindex(b"syncing")
    listing = raw.index(f"{BACKLOG} messages".encode())
    # the bar's line was erased before the listing was printed: the screen keeps only the listing
    assert last_bar < raw.rindex(ERASE_LINE, 0, listing) < listing
    assert b"syncing" not in raw[listing:] and b"Traceback" not in raw


async def test_ctrl_c_stops_listen_with_status_130(node: Node, tmp_path: Path) -> None:
    [bob] = await users(node, tmp_path, "bob")
    child, log = spawn(bob.home, node, "listen")
    await child.expect("listening on", async_=True)
    child.sendintr()
    await child.expect(pexpect.EOF, async_=True)
    child.close()
    assert child.exitstatus == 130 and b"Traceback" not in log.getvalue()
