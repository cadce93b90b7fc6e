"""``pyxmtp inspect --home`` with pyxmtp's own clients through a real node: an encrypted home (its key from
``$PYXMTP_DB_KEY``), every form a group message comes in, the installation's own messages, and homes that cannot
be opened. The home is never written. (libxmtp's payloads: ``test_inspect_libxmtp.py``.)"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.cli.main import main
from pyxmtp.client import Client
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .conftest import new_client

pytestmark = pytest.mark.timeout(120)

KEY = bytes(range(32))


def inspect(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["inspect", *args])
    return code, out.getvalue(), err.getvalue()


def home_of(*args: str) -> dict[str, Any]:
    code, out, err = inspect("--json", *args)
    assert code == 0, err
    home: dict[str, Any] = json.loads(out)["home"]
    return home


def text_of(home: dict[str, Any]) -> Any:
    return home["plaintext"]["decoded"]["v1"]["content"]["decoded"]["decoded"]


def snapshot(home: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(home.iterdir())}


async def test_an_encrypted_home_reads_every_form_of_a_message_and_knows_its_own(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    home = tmp_path / "bob"
    home.mkdir(mode=0o700)
    wallet = LocalWalletSigner.generate()
    (home / "wallet.key").write_text(wallet.private_key.hex())
    bob = await Client.create(node.address, wallet, db_path=home / "client.db", db_encryption_key=KEY)
    await bob.register(wallet)
    dm = await alice.conversations.create_dm(bob.inbox_id)
    [bob_dm] = await bob.conversations.sync()
    await bob_dm.send_text("bob's own words")
    await dm.send_text("hello encrypted bob")  # bob does not sync again: his home can still decrypt it
    messages = [m async for m in alice.api.group_messages_after(dm.group_id, 0)]
    await bob.close()
    await alice.close()
    own, hello = [m for m in messages if not m.v1.is_commit]
    before = snapshot(home)

    code, _, err = inspect("--home", str(home), hello.SerializeToString().hex())
    assert code == 1 and "cannot open the home" in err and "set $PYXMTP_DB_KEY" in err
    monkeypatch.setenv("PYXMTP_DB_KEY", "00" * 32)
    code, _, err = inspect("--home", str(home), hello.SerializeToString().hex())
    assert code == 1 and "encrypted with another key" in err
    monkeypatch.setenv("PYXMTP_DB_KEY", "abc")
    code, _, err = inspect("--home", str(home), hello.SerializeToString().hex())
    assert code == 1 and "$PYXMTP_DB_KEY must be 64 hex characters" in err
    monkeypatch.setenv("PYXMTP_DB_KEY", KEY.hex())

    as_served = home_of("--home", str(home), hello.SerializeToString().hex())
    assert as_served["readable"] is True and text_of(as_served) == {"text": "hello encrypted bob"}
    assert as_served["sender"]["inbox_id"] == alice.inbox_id
    published = mls_pb2.GroupMessageInput(
        v1=mls_pb2.GroupMessageInput.V1(
            data=hello.v1.data, sender_hmac=hello.v1.sender_hmac, should_push=True
        )
    )
    for payload in (published.SerializeToString(), hello.v1.data):  # as sent, and the bare MLSMessage
        again = home_of("--home", str(home), payload.hex())
        assert text_of(again) == {"text": "hello encrypted bob"}
        assert again["plaintext"]["decoded"]["message_id"] == as_served["plaintext"]["decoded"]["message_id"]
    # ... and as a bare PrivateMessage (without the MLSMessage header)
    bare = home_of("--home", str(home), "--type", "private-message", hello.v1.data[4:].hex())
    assert text_of(bare) == {"text": "hello encrypted bob"}

    mine = home_of("--home", str(home), own.SerializeToString().hex())
    assert mine["readable"] is False and mine["reason"].startswith("sent by this installation")
    assert mine["stored"]["content"]["decoded"] == {"text": "bob's own words"}
    assert snapshot(home) == before


def test_homes_that_cannot_be_opened_are_a_clear_error(tmp_path: Path) -> None:
    payload = mls_pb2.WelcomeMetadata(message_cursor=1).SerializeToString()
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "client.db").write_bytes(b"not a database at all" * 100)
    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / "client.db")
    db.executescript("CREATE TABLE installation (inbox_id TEXT); INSERT INTO installation VALUES ('x');")
    db.close()
    for home, message in (
        (tmp_path / "missing", "no client.db in"),
        (tmp_path, "no client.db in"),
        (garbage, "is not a pyxmtp database or it is encrypted"),
        (other, "cannot be read (no such table: key_packages): not a pyxmtp client home?"),
    ):
        code, out, err = inspect("--home", str(home), "--type", "welcome-metadata", payload.hex())
        assert code == 1 and not out
        assert err.startswith("pyxmtp inspect: cannot open the home: ") and message in err, err
