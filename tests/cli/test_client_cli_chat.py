"""A three-person chat driven only through ``pyxmtp client`` processes against a real node, the JSON output
parsed: a group made, messages sent into it by id prefix, members listed, added, renamed, removed, reactions
and replies by message id; the text output read as a person reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyxmtp.node import Node

from .clirun import users

pytestmark = pytest.mark.timeout(300)


async def test_a_three_person_chat_through_the_cli(node: Node, tmp_path: Path) -> None:
    alice, bob, carol = await users(node, tmp_path, "alice", "bob", "carol")

    # alice makes a group with bob (by address, upper case); its id is printed, a prefix of it names it
    group = await alice.json("group", "trio", bob.address.upper().replace("0X", "0x"), "--text", "first!")
    gid, prefix = group["conversation"], group["short_id"]
    assert group["kind"] == "group" and group["name"] == "trio" and gid.startswith(prefix)
    sent = await alice.json("send", prefix[:6], "hello bob")  # a shorter prefix, still unique
    assert sent["conversation"] == gid

    # bob sees the group and its messages: ids, senders by address, ISO times
    [listing] = await bob.lines("list")
    assert listing["conversation"] == gid and listing["messages"] == 2 and listing["members"] == 2
    messages = await bob.lines("read", prefix)
    assert [m["content"] for m in messages] == ["first!", "hello bob"]
    assert {m["sender_address"] for m in messages} == {alice.address}
    assert messages[1]["message_id"] == sent["message_id"] and messages[1]["sent_at"].endswith("Z")
    # bob answers into the group, the options after the command this time
    await bob("send", gid.upper(), "hi alice", "--json")

    # alice adds carol by inbox id (upper case), and everyone lists three members with their addresses
    added = await alice.json("add", prefix, carol.inbox_id.upper())
    assert added["added"] == [carol.inbox_id] and added["members"] == 3
    for user in (alice, bob, carol):
        members = {m["inbox_id"]: m for m in await user.lines("members", prefix)}
        assert set(members) == {alice.inbox_id, bob.inbox_id, carol.inbox_id}
        assert members[alice.inbox_id]["role"] == "super_admin" and members[bob.inbox_id]["role"] == "member"
        assert members[carol.inbox_id]["addresses"] == [carol.address]
        assert members[user.inbox_id]["you"] and sum(m["you"] for m in members.values()) == 1
    [admin] = await carol.lines("admins", prefix)
    assert admin["inbox_id"] == alice.inbox_id and admin["role"] == "super_admin"

    # carol renames the group (everyone may, in a default group) and writes
    renamed = await carol.json("rename", prefix, "the trio")
    assert renamed["name"] == "the trio"
    carol_says = await carol.json("send", prefix, "hi both")

    # bob reacts to carol's message, alice replies to it: both by a prefix of its id
    await bob("react", prefix, carol_says["short_id"], "\U0001f44b")
    await alice("reply", prefix, carol_says["message_id"][:10], "welcome carol")
    seen = await carol.lines("read", prefix)
    by_kind = {m["kind"]: m for m in seen}
    assert by_kind["reaction"]["reference"] == carol_says["message_id"]
    assert by_kind["reaction"]["content"] == "\U0001f44b" and by_kind["reaction"]["sender"] == bob.inbox_id
    assert by_kind["reply"]["reference"] == carol_says["message_id"]
    assert by_kind["reply"]["content"] == "welcome carol" and by_kind["reply"]["sender"] == alice.inbox_id
    assert by_kind["group_updated"]["update"]["metadata"] == [
        {"field": "group_name", "old": "trio", "new": "the trio"}
    ]

    # as text: who said what, "you", the updates spelled out, the reaction and reply pointing at the message
    text = (await alice("read", prefix)).out
    short = carol_says["short_id"]
    assert f"you added {carol.address}" in text
    assert f"* {carol.address} renamed the group to 'the trio'" in text
    assert f"{carol.address}: hi both" in text and "you: hello bob" in text
    assert f"{bob.address}: reacted \U0001f44b to {short}" in text
    assert f"you: (reply to {short}) welcome carol" in text

    # the same message count for alice and bob, though alice's home also holds the "group updated" entries of
    # the commits she made (adding bob, then carol): those are not messages. Carol counts from when she joined.
    counts = {}
    for user in (alice, bob, carol):
        [entry] = await user.lines("list")
        counts[user.home.name] = entry["messages"]
    assert counts == {"alice": 6, "bob": 6, "carol": 3}
    assert "  6 messages  " in (await bob("list")).out

    # alice removes carol; carol is told, and cannot write any more
    removed = await alice.json("remove", prefix, carol.address)
    assert removed["removed"] == [carol.inbox_id] and removed["members"] == 2
    assert "removed you" in (await carol("read", prefix)).out
    failed = await carol("send", prefix, "still here?", check=False)
    assert failed.code == 1 and "no longer a member" in failed.err
    [gone] = await carol.lines("list")
    assert gone["active"] is False
    assert {m["inbox_id"] for m in await bob.lines("members", prefix)} == {alice.inbox_id, bob.inbox_id}
