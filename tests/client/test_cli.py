"""``pyxmtp client`` as a user runs it: real processes against a real node on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from pyxmtp.node import Node

from .conftest import client_argv, listening, streams_open

pytestmark = pytest.mark.timeout(120)


async def cli(
    node: Node, home: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *client_argv(node, home, *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    if check:
        assert proc.returncode == 0, err.decode()
    return proc.returncode, out.decode(), err.decode()


def fields(whoami: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in whoami.strip().splitlines())


async def test_two_users_talk_through_the_cli(node: Node, tmp_path: Path) -> None:
    alice_home, bob_home = tmp_path / "alice", tmp_path / "bob"
    alice = fields((await cli(node, alice_home, "init"))[1])
    bob = fields((await cli(node, bob_home, "init"))[1])
    assert stat.S_IMODE(os.stat(alice_home / "wallet.key").st_mode) == 0o600
    assert fields((await cli(node, alice_home, "init"))[1]) == alice  # init again: the same inbox, registered

    _, out, _ = await cli(node, alice_home, "send", bob["address"].upper(), "hello bob", "--json")
    dm_id = json.loads(out)["conversation"]
    _, listing, _ = await cli(node, bob_home, "list")
    assert dm_id[:8] in listing and f"dm with {alice['address']}" in listing
    _, read, _ = await cli(node, bob_home, "read", dm_id)
    assert read.strip().endswith("hello bob")

    async with listening(node, bob_home, "--json") as listen:
        await streams_open(node, 2)  # its welcome and group streams are registered on the node
        await cli(node, alice_home, "send", bob["inbox_id"], "live now")
        assert listen.stdout is not None
        line = json.loads(await asyncio.wait_for(listen.stdout.readline(), 30))
        assert (
            line["content"] == "live now"
            and line["sender"] == alice["inbox_id"]
            and line["conversation"] == dm_id
        )

    _, out, _ = await cli(
        node, bob_home, "group", "cli group", alice["address"], "--text", "a group from the cli", "--json"
    )
    group_id = json.loads(out)["conversation"]
    _, read, _ = await cli(node, alice_home, "read", group_id)
    assert read.strip().endswith("a group from the cli")


async def test_mistakes_are_reported_not_raised(node: Node, tmp_path: Path) -> None:
    home = tmp_path / "carol"
    code, _, err = await cli(node, home, "whoami", check=False)
    assert code == 1 and "run `pyxmtp client --home" in err
    await cli(node, home, "init")
    code, _, err = await cli(node, home, "send", "0x" + "11" * 20, "anyone?", check=False)
    assert code == 1 and "has no XMTP inbox on this node" in err
    code, _, err = await cli(node, home, "send", "bob", "hi", check=False)
    assert code == 1 and "is not a conversation id, an 0x address or an inbox id" in err
    code, _, err = await cli(node, home, "read", "zz", check=False)
    assert code == 1 and "is not a conversation id" in err
    assert "Traceback" not in err


async def test_an_encrypted_home_needs_its_key(node: Node, tmp_path: Path) -> None:
    home = tmp_path / "dave"
    key = {"PYXMTP_DB_KEY": "42" * 32}
    me = fields((await cli(node, home, "init", env=key))[1])
    assert fields((await cli(node, home, "whoami", env=key))[1]) == me
    assert me["inbox_id"].encode() not in (home / "client.db").read_bytes()
    code, _, err = await cli(node, home, "whoami", check=False)
    assert code == 1 and "give its key" in err
    code, _, err = await cli(node, home, "whoami", check=False, env={"PYXMTP_DB_KEY": "nothex"})
    assert code == 1 and "64 hex characters" in err
