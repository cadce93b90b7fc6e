"""``pyxmtp client backup`` / ``restore`` through real processes and a real node: a second home of the same
wallet restores the first one's history (read-only conversations listed), the key comes from a file (made
owner-only on first use) or an environment variable and is never printed, and a wrong key, a tampered archive
or a missing key option fails cleanly with nothing imported."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pyxmtp.node import Node

from .clirun import User, run, users

pytestmark = pytest.mark.timeout(300)


async def test_backup_then_restore_into_a_second_home_of_the_same_wallet(node: Node, tmp_path: Path) -> None:
    alice, bob = await users(node, tmp_path, "alice", "bob")
    sent = await alice.json("send", bob.address, "before the backup")
    archive = tmp_path / "alice.archive"
    key_file = tmp_path / "backup.key"

    done = await alice.json("backup", str(archive), "--key-file", str(key_file))
    assert done["key_created"] is True and done["elements"] == ["messages", "consent"]
    assert done["bytes"] == archive.stat().st_size
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(bytes.fromhex(key)) == 32
    text = await alice("backup", str(archive), "--key-file", str(key_file))  # the key file is reused
    assert "wrote " in text.out and "new archive key" not in text.out
    assert key not in text.out + text.err and key_file.read_text().strip() == key

    laptop = User(node, tmp_path / "laptop")
    wallet = alice.home / "wallet.key"
    me = await laptop.json("init", "--wallet-key-file", str(wallet))
    assert me["inbox_id"] == alice.inbox_id

    # failures first: nothing imported
    wrong = tmp_path / "wrong.key"
    wrong.write_text("11" * 32)
    failed = await laptop("restore", str(archive), "--key-file", str(wrong), check=False)
    assert failed.code == 1 and "another key" in failed.err
    tampered = tmp_path / "tampered.archive"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    failed = await laptop("restore", str(tampered), "--key-file", str(key_file), check=False)
    assert failed.code == 1 and "archive" in failed.err
    failed = await laptop("restore", str(archive), check=False)
    assert failed.code == 2 and "--key-file" in failed.err
    failed = await laptop("restore", str(archive), "--key-file", str(tmp_path / "nope.key"), check=False)
    assert failed.code == 1 and "does not exist" in failed.err

    restored = (
        await run(
            "client",
            "--home",
            str(laptop.home),
            "--node",
            node.address,
            "restore",
            str(archive),
            "--key-env",
            "ARCHIVE_KEY",
            "--json",
            env={"ARCHIVE_KEY": key},
        )
    ).json()
    assert restored["conversations_restored"] == 1 and restored["messages_imported"] == 1
    assert restored["read_only"] == [{"id": sent["conversation"], "name": "", "dm_peer": bob.inbox_id}]
    again = await laptop("restore", str(archive), "--key-file", str(key_file))
    assert "restored 0 conversations (1 held already)" in again.out
    assert key not in again.out + again.err
