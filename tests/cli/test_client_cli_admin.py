"""A group's admins and leaving it, through ``pyxmtp client`` processes against a real node: ``admins``,
``admin add|remove``, ``super-admin add|remove`` and ``leave`` carried out by the SDK's ``Group`` methods (its
admin-list commits and leave requests), with what the group's rules refuse reported plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyxmtp.node import Node

from .clirun import users

pytestmark = pytest.mark.timeout(300)


async def test_admins_are_made_and_unmade_through_the_cli(node: Node, tmp_path: Path) -> None:
    alice, bob, carol = await users(node, tmp_path, "alice", "bob", "carol")
    group = await alice.json("group", "roles", bob.address, carol.address)
    gid, prefix = group["conversation"], group["short_id"]
    [creator] = await bob.lines("admins", prefix)
    assert creator["inbox_id"] == alice.inbox_id and creator["role"] == "super_admin"

    # the super admin makes bob an admin (by address); everyone sees it in admins, members and read
    made = await alice.json("admin", "add", prefix, bob.address)
    assert made["conversation"] == gid and made["inbox_id"] == bob.inbox_id
    assert (made["role"], made["action"], made["admins"]) == ("admin", "added", [bob.inbox_id])
    roles = {a["inbox_id"]: a["role"] for a in await carol.lines("admins", prefix)}
    assert roles == {alice.inbox_id: "super_admin", bob.inbox_id: "admin"}
    members = {m["inbox_id"]: m["role"] for m in await carol.lines("members", prefix)}
    assert members[bob.inbox_id] == "admin" and members[carol.inbox_id] == "member"
    assert f"{alice.address} made {bob.address} an admin" in (await carol("read", prefix)).out
    lines = (await carol("admins", prefix)).out.splitlines()
    assert lines[0].startswith("super admin  ") and lines[1].startswith(f"admin  {bob.address}")

    # in a default group only super admins change the admin lists: an admin is refused, nothing is sent
    refused = await bob("super-admin", "add", prefix, carol.inbox_id, check=False)
    assert refused.code == 1 and refused.err.startswith("pyxmtp client: ")
    refused = await carol("admin", "add", prefix, carol.address, check=False)
    assert refused.code == 1
    assert {a["inbox_id"] for a in await alice.lines("admins", prefix)} == {alice.inbox_id, bob.inbox_id}

    # a second super admin, then bob is an admin no longer
    made = await alice.json("super-admin", "add", prefix, carol.address)
    assert set(made["super_admins"]) == {alice.inbox_id, carol.inbox_id}
    unmade = await carol.json("admin", "remove", prefix, bob.inbox_id)
    assert unmade["action"] == "removed" and unmade["admins"] == []
    text = (await bob("read", prefix)).out
    assert f"{carol.address} made you no longer an admin" in text
    roles = {a["inbox_id"]: a["role"] for a in await bob.lines("admins", prefix)}
    assert roles == {alice.inbox_id: "super_admin", carol.inbox_id: "super_admin"}

    # mistakes are told before the SDK is asked
    stranger = await alice("admin", "add", prefix, "ab" * 32, check=False)
    assert stranger.code == 1 and "not members of this group" in stranger.err
    dm = await alice.json("dm", bob.address)
    in_dm = await alice("admin", "add", dm["short_id"], bob.address, check=False)
    assert in_dm.code == 1 and "this is a DM" in in_dm.err
    usage = await alice("admin", "promote", prefix, bob.address, check=False)
    assert usage.code == 2


async def test_a_member_leaves_a_group_through_the_cli(node: Node, tmp_path: Path) -> None:
    alice, bob, carol = await users(node, tmp_path, "alice", "bob", "carol")
    group = await alice.json("group", "leaving", bob.address, carol.address, "--text", "hello all")
    gid, prefix = group["conversation"], group["short_id"]

    # bob asks to leave: a request, carried out by the super admin's client when it next syncs the group
    left = await bob.json("leave", prefix)
    assert left == {"conversation": gid, "pending_removal": True}
    await alice("read", prefix)
    assert {m["inbox_id"] for m in await carol.lines("members", prefix)} == {alice.inbox_id, carol.inbox_id}
    assert f"{bob.address} left" in (await carol("read", prefix)).out
    [gone] = await bob.lines("list")
    assert gone["conversation"] == gid and gone["active"] is False
    again = await bob("send", prefix, "still here?", check=False)
    assert again.code == 1 and "no longer a member" in again.err

    # a super admin cannot leave (another super admin must demote it first); a DM cannot be left
    refused = await alice("leave", prefix, check=False)
    assert refused.code == 1 and "super admin" in refused.err
    dm = await carol.json("dm", alice.address)
    in_dm = await carol("leave", dm["short_id"], check=False)
    assert in_dm.code == 1 and "this is a DM" in in_dm.err
