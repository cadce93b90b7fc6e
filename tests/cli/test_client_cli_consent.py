"""``pyxmtp client consent``: a conversation allowed or denied (a denied one is marked in ``list`` and left out of
``listen``), a person's inbox allowed or denied (shown by ``members``), through real processes and a real node."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pyxmtp.node import Node

from .clirun import BASE_ENV, users

pytestmark = pytest.mark.timeout(300)


async def test_a_denied_conversation_is_marked_and_left_out_of_listen(node: Node, tmp_path: Path) -> None:
    alice, bob, carol = await users(node, tmp_path, "alice", "bob", "carol")
    spam = await alice.json("send", bob.address, "buy now")
    friend = await carol.json("send", bob.address, "hi bob")

    listing = {c["conversation"]: c for c in await bob.lines("list")}
    assert {c["consent"] for c in listing.values()} == {"unknown"}  # joined, never answered
    denied = await bob.json("consent", "deny", spam["conversation_short_id"])
    assert denied == {"conversation": spam["conversation"], "consent": "denied"}
    allowed = await bob("consent", "allow", friend["conversation"].upper())
    assert allowed.out.startswith("allowed ") and f"dm with {carol.address}" in allowed.out
    listing = {c["conversation"]: c for c in await bob.lines("list")}
    assert listing[spam["conversation"]]["consent"] == "denied"
    assert listing[friend["conversation"]]["consent"] == "allowed"
    text = (await bob("list")).out
    assert [line for line in text.splitlines() if "[denied]" in line] == [
        line for line in text.splitlines() if alice.address in line
    ]
    assert "buy now" in (await bob("read", spam["conversation_short_id"])).out  # still readable on demand

    # listen shows the allowed conversation's messages, not the denied one's
    proc = await asyncio.create_subprocess_exec(
        *bob.argv("listen", "--json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=BASE_ENV,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        err = b""
        while b"listening on" not in err:
            err += await asyncio.wait_for(proc.stderr.readline(), 60)
        await alice("send", spam["conversation"], "buy more")  # the denied one first
        await carol("send", friend["conversation"], "lunch?")
        seen = []
        while not seen or seen[-1]["content"] != "lunch?":
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, "listen ended"
            seen.append(json.loads(line))
        assert {m["conversation"] for m in seen} == {friend["conversation"]}
    finally:
        proc.terminate()
        await proc.wait()


async def test_a_person_is_allowed_or_denied_by_address_or_inbox_id(node: Node, tmp_path: Path) -> None:
    alice, bob, carol = await users(node, tmp_path, "alice", "bob", "carol")
    group = await alice.json("group", "consent", bob.address, carol.address)

    denied = await bob.json("consent", "deny", carol.address.upper().replace("0X", "0x"))
    assert denied == {"inbox_id": carol.inbox_id, "consent": "denied"}
    members = {m["inbox_id"]: m for m in await bob.lines("members", group["short_id"])}
    assert members[carol.inbox_id]["consent"] == "denied"
    assert members[alice.inbox_id]["consent"] == "unknown" and members[bob.inbox_id]["consent"] is None
    assert (
        f"{carol.address}  inbox {carol.inbox_id}  (denied)" in (await bob("members", group["short_id"])).out
    )
    allowed = await bob("consent", "allow", carol.inbox_id)
    assert allowed.out.strip() == f"allowed {carol.address} (inbox {carol.inbox_id})"
    # the group keeps its own decision
    [entry] = await bob.lines("list")
    assert entry["consent"] == "unknown"

    mine = await bob("consent", "deny", bob.inbox_id, check=False)
    assert mine.code == 1 and "your own inbox" in mine.err
    nobody = await bob("consent", "deny", "0x" + "11" * 20, check=False)
    assert nobody.code == 1 and "has no XMTP inbox" in nobody.err
    usage = await bob("consent", "block", carol.address, check=False)
    assert usage.code == 2
