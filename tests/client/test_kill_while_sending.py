"""A client killed (SIGKILL) 20 times while it sends and receives, and restarted each time, loses nothing: every
message it was told was sent is read exactly once by the other members (a pyxmtp client, and a libxmtp one when
xmtp-bindings is installed), and every message it received is stored exactly once.

The sender is a real process (``sender_process.py``) with its own database, talking to the node over loopback.
The test reads its output and kills it on an event, never after a pause: after it is ready, after its k-th
acknowledged send, as it starts publishing, or while a publish is held (the message stored, not yet on the node:
the next start-up must publish it). The random choices are seeded; the seed is in every failure message.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.node import Node

from .conftest import new_client

pytestmark = pytest.mark.timeout(240)

KILLS = 20
CHILD = Path(__file__).with_name("sender_process.py")
LINE_TIMEOUT = 60.0


def libxmtp() -> Any:
    """``tests.interop.libxmtp`` if xmtp-bindings is installed (else None; a failure under
    PYXMTP_REQUIRE_INTEROP=1)."""
    try:
        import xmtp_bindings  # noqa: F401
    except ImportError:
        if os.environ.get("PYXMTP_REQUIRE_INTEROP") == "1":
            raise
        return None
    from tests.interop import libxmtp as helpers

    return helpers


class Sender:
    """One run of the sender process, and what it said."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.acked: dict[str, str] = {}  # text -> message id, once send returned
        self.got: list[str] = []
        self.lines: list[list[str]] = []

    @classmethod
    async def start(cls, node: Node, db: Path, run: int, *options: str) -> Sender:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CHILD),
            node.address,
            str(db),
            str(run),
            *options,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ),
        )
        return cls(proc)

    def _record(self, raw: bytes) -> list[str]:
        words = raw.decode().split()
        if words and words[0] == "sent":
            self.acked[words[2]] = words[1]
        elif words and words[0] == "got":
            self.got.append(words[1])
        self.lines.append(words)
        return words

    async def next_event(self, context: str) -> list[str]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), LINE_TIMEOUT)
        if not raw:
            assert self.proc.stderr is not None
            err = (await self.proc.stderr.read()).decode()
            raise AssertionError(f"{context}: the sender ended early: {err[-3000:]}")
        return self._record(raw)

    async def kill(self) -> None:
        """SIGKILL, then read what it printed before it died (those acknowledgements count too)."""
        self.proc.kill()
        await self.proc.wait()
        assert self.proc.stdout is not None
        for raw in (await self.proc.stdout.read()).splitlines():
            self._record(raw)


async def test_a_client_killed_20_times_while_sending_and_receiving_loses_nothing(
    node: Node, tmp_path: Path
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    why = f"(seed {seed})"
    helpers = libxmtp()

    alice = await new_client(node, tmp_path / "alice.db")  # the sender's installation, made here once
    bob = await new_client(node, tmp_path / "bob.db")
    members = [bob.inbox_id]
    carol = None
    if helpers is not None:
        api = await helpers.v.connect_to_backend(
            f"http://{node.address}", None, False, None, "pyxmtp-kill-test", None, None
        )
        carol = await helpers.User.register(api)
        members.append(carol.inbox_id)
    group = await alice.conversations.create_group(members, name="killed often")
    await alice.close()
    [bob_group] = await bob.conversations.sync()

    acked: dict[str, str] = {}
    held: list[str] = []  # stored, never acknowledged: the next start-up must publish them
    bob_texts: list[str] = []
    received: list[str] = []
    for run in range(KILLS):
        way = ("ready", "sent", "publishing", "held")[run % 4]
        nth = 1 if way == "ready" else rng.randint(1, 3)
        options = ("--hang-at", str(nth)) if way == "held" else ()
        sender = await Sender.start(node, tmp_path / "alice.db", run, *options)
        seen = 0
        while True:
            words = await sender.next_event(f"run {run}, waiting for {way} #{nth} {why}")
            if words[0] == "ready":  # something to receive while it sends
                text = f"bob-{run}"
                await bob_group.send_text(text)
                bob_texts.append(text)
            if words[0] == way or (way == "held" and words[0] == "publishing"):
                seen += 1
                if seen == nth:
                    if way == "held":
                        held.append(words[1])
                    break
        await sender.kill()
        acked.update(sender.acked)
        received += sender.got
        assert not set(held) & set(sender.acked), why

    final = await Sender.start(node, tmp_path / "alice.db", KILLS, "--final")
    have: Counter[tuple[str, str, str]] = Counter()
    while (words := await final.next_event(f"the final run {why}"))[0] != "done":
        if words[0] == "have":
            have[(words[1], words[2], words[3])] += 1
    await final.proc.wait()

    # the sender: every text of its own published, once; every text of bob's stored once
    mine = Counter(text for (status, whose, text) in have.elements() if whose == "mine")
    assert {status for (status, whose, _) in have if whose == "mine"} == {"PUBLISHED"}, why
    assert set(acked) | set(held) <= set(mine) and set(mine.values()) == {1}, why
    theirs = Counter(text for (_, whose, text) in have.elements() if whose == "theirs")
    assert theirs == Counter(bob_texts), why
    assert set(received) <= set(bob_texts), why

    # bob reads every acknowledged text, and each text at most once (none twice, however often it was sent)
    await bob_group.sync()
    read = Counter(m.content for m in bob_group.messages() if m.sender_inbox_id == alice.inbox_id)
    assert set(acked) | set(held) <= set(read), f"lost: {sorted(set(acked) | set(held) - set(read))} {why}"
    assert set(read.values()) == {1}, f"twice: {[t for t, n in read.items() if n > 1]} {why}"
    assert set(read) == set(mine), why
    ids = {m.content: m.message_id.hex() for m in bob_group.messages()}
    assert all(ids[text] == mid for text, mid in acked.items()), why
    await bob.close()

    if helpers is not None and carol is not None:  # libxmtp, too, reads each once
        await carol.client.conversations().sync()
        theirs_group = carol.client.conversation(group.group_id)
        await theirs_group.sync()
        carol_read = Counter(t for t in await helpers.texts(theirs_group) if not t.startswith("bob-"))
        assert set(acked) | set(held) <= set(carol_read), why
        assert set(carol_read.values()) == {1} and set(carol_read) == set(mine), why
