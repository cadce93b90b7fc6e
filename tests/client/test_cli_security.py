"""``pyxmtp client`` against hostile peers and networks, as real processes through a real node: what a peer wrote
reaches the terminal with its control and format characters escaped; the home is owner-only whatever the umask;
``--ca-file`` reaches a TLS node, a plaintext client is refused with a clear error."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from pathlib import Path

import grpc
import pytest

from pyxmtp.client import Client
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node, NodeConfig

from .conftest import listening, mode, new_client
from .test_cli import cli, fields
from .test_tls import self_signed

pytestmark = pytest.mark.timeout(180)

#: Retitle the window, recolour, a C1 CSI, DEL, NUL, a carriage return and newline forging a line, the bidi
#: override that reverses what follows, a line separator, a zero-width space and an invisible tag character.
HOSTILE = (
    "\x1b]0;pwned\x07\x1b[31mred\x9b2J\x7f\x00 \r\n12:00  fake line \u202eevil\u2028\u200b\U000e0041 end"
)
HOSTILE_NAME = "\x1b]2;owned\x07\x1b[5mblink\u202e"
JOINERS = {"\u200c", "\u200d"}


def assert_terminal_safe(output: bytes) -> None:
    """No byte or character a terminal acts on, and no format character, except the line breaks between
    lines."""
    text = output.decode()
    bad = [
        f"U+{ord(ch):04X}"
        for ch in text
        if ch != "\n" and unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"} and ch not in JOINERS
    ]
    assert not bad, f"raw control or format characters reach the terminal: {bad}"
    assert b"\x1b" not in output and b"\r" not in output


async def lines_until(proc: asyncio.subprocess.Process, wanted: str, n: int) -> list[bytes]:
    """Lines of ``proc`` up to the ``n``-th that holds ``wanted`` (a conversation's update entries may come
    first)."""
    assert proc.stdout is not None
    out: list[bytes] = []
    while sum(wanted.encode() in line for line in out) < n:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, "listen ended"
        out.append(line)
    return out


async def test_what_peers_write_cannot_drive_the_terminal(
    node: Node, tmp_path: Path, permissive_umask: None
) -> None:
    home = tmp_path / "victim"
    victim = fields((await cli(node, home, "init"))[1])
    # the home and what is in it are owner-only, though the umask lets everyone read
    assert mode(home) == 0o700
    assert mode(home / "wallet.key") == 0o600 and mode(home / "client.db") == 0o600

    peer = await new_client(node, tmp_path / "peer.db")
    group = await peer.conversations.create_group([victim["inbox_id"]], name=HOSTILE_NAME)
    await group.send_text(HOSTILE)
    gid = group.group_id.hex()

    _, listing, err = await cli(node, home, "list")
    assert_terminal_safe(listing.encode() + err.encode())
    assert "group '\\x1b]2;owned\\x07\\x1b[5mblink\\u202e' (2 members)" in listing
    _, read, err = await cli(node, home, "read", gid)
    assert_terminal_safe(read.encode() + err.encode())
    escaped = (
        "\\x1b]0;pwned\\x07\\x1b[31mred\\x9b2J\\x7f\\x00 \\r\\n12:00  fake line \\u202eevil\\u2028\\u200b"
        "\\U000e0041 end"
    )
    assert read.rstrip("\n").endswith(escaped) and read.count("pwned") == 1  # one line, not a forged two

    # live: a new DM (its welcome) and another group message, streamed as text and as JSON
    dm = await peer.conversations.create_dm(victim["inbox_id"])
    await dm.send_text(HOSTILE)
    await group.send_text("\x1b[2J" + HOSTILE)
    async with listening(node, home, "--json") as listen:
        raw = await lines_until(listen, "pwned", 2)
        got = [json.loads(line) for line in raw]
        # while it runs, the database's log and index exist: owner-only too
        assert {mode(home / n) for n in ("client.db", "client.db-wal", "client.db-shm")} == {0o600}
    assert all(line.isascii() for line in raw) and b"\x1b" not in b"".join(raw)  # JSON: ASCII, escaped
    assert {g["content"] for g in got} >= {HOSTILE, "\x1b[2J" + HOSTILE}  # and decodes to what was sent

    await dm.send_text("\u202e" + HOSTILE)
    async with listening(node, home) as listen:
        raw = await lines_until(listen, "pwned", 1)
    assert_terminal_safe(b"".join(raw))
    assert raw[-1].decode().rstrip("\n").endswith("\\u202e" + escaped)

    # the victim is none the worse: it answers, and the peer reads the answer as written
    await cli(node, home, "send", peer.inbox_id, "all fine \u00e9\u200d")
    await dm.sync()
    assert dm.texts()[-1] == "all fine \u00e9\u200d"
    _, read, _ = await cli(node, home, "read", gid)
    assert_terminal_safe(read.encode())
    await peer.close()


async def test_the_cli_reaches_a_tls_node_and_a_plaintext_one_is_refused(tmp_path: Path) -> None:
    cert, key, pem = self_signed(tmp_path)
    node = await Node.start(
        NodeConfig(
            host="127.0.0.1", port=0, data_dir=tmp_path / "node", rate_limits=None, tls_cert=cert, tls_key=key
        )
    )
    try:
        tls = ("--ca-file", str(cert))
        alice_home, bob_home = tmp_path / "alice", tmp_path / "bob"
        alice = fields((await cli(node, alice_home, *tls, "init"))[1])
        bob = fields((await cli(node, bob_home, *tls, "init"))[1])
        _, out, _ = await cli(node, alice_home, *tls, "send", bob["address"], "over TLS", "--json")
        dm_id = json.loads(out)["conversation"]
        _, read, _ = await cli(node, bob_home, *tls, "read", dm_id)
        assert read.strip().endswith("over TLS")

        # a library client with the same CA sees the CLI's message: one node, one TLS port
        wallet = LocalWalletSigner.generate()
        carol = await Client.create(
            node.address,
            wallet,
            db_path=tmp_path / "carol.db",
            credentials=grpc.ssl_channel_credentials(root_certificates=pem),
        )
        await carol.register(wallet)
        await cli(node, alice_home, *tls, "send", carol.inbox_id, "to carol")
        [dm] = await carol.conversations.sync()
        await dm.sync()
        assert dm.texts() == ["to carol"] and dm.peer_inbox_id == alice["inbox_id"]
        await carol.close()

        # plaintext, and TLS that does not trust the node's certificate: refused, said plainly, no traceback
        code, _, err = await cli(node, alice_home, "list", check=False)
        assert code == 1 and "UNAVAILABLE" in err and "if it serves TLS, add --tls or --ca-file" in err
        assert "Traceback" not in err
        code, _, err = await cli(node, alice_home, "--tls", "list", check=False)
        assert code == 1 and "UNAVAILABLE" in err and "serving TLS, with a certificate --ca-file" in err
        assert "Traceback" not in err
        code, _, err = await cli(
            node, tmp_path / "nobody", "--ca-file", str(tmp_path / "none.pem"), "init", check=False
        )
        assert code == 1 and "cannot read the CA file" in err and not (tmp_path / "nobody").exists()
        code, _, err = await cli(node, tmp_path / "nobody", "--ca-file", str(key), "init", check=False)
        assert code == 1 and "holds no PEM certificate" in err

        # and the TLS client carries on
        _, read, _ = await cli(node, bob_home, *tls, "read", dm_id)
        assert read.strip().endswith("over TLS")
    finally:
        await node.stop(grace=0)
