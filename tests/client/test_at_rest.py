"""Forward secrecy at rest: a secret the client deleted (an ended epoch's secrets, a used ratchet secret or message
key, a replaced key package's private keys) is in none of its files right after the operation that deleted it,
and the files are owner-only whatever the umask.

Real clients talk through a real node; after every operation the raw bytes of the database, its ``-wal``,
``-shm`` and any ``-journal`` are searched for every secret the group states held before and no longer hold. A
secret may straddle two pages (a state is larger than a page), so each half is searched for: either half found is
a leak. The search is shown to work on the same files: every secret the states still hold is found there.

With SQLCipher the files hold nothing in the clear, so a plain search proves nothing. The attacker that matters
is one who gets the files *and* the key later (from the environment or the keychain the application took it
from): every page of the database and every frame of the log is decrypted here with the key (SQLCipher 4: AES-256-
CBC per page, the IV in the page's reserved bytes), and the same search is made in the plaintext pages.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pyxmtp.client import Client, Conversation
from pyxmtp.client.client import KEY_PACKAGE_GRACE_NS
from pyxmtp.client.store import ClientStore
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.mls.codec import Reader
from pyxmtp.mls.group.state import GroupState
from pyxmtp.mls.key_packages import KeyPackageBundle
from pyxmtp.mls.key_schedule import EpochSecrets
from pyxmtp.mls.tree.secret_tree import SecretTree
from pyxmtp.node import Node

from .conftest import mode

pytestmark = pytest.mark.timeout(180)

DAY = 24 * 3600 * 10**9
KEY = bytes(range(32))


# --- what a state holds -----------------------------------------------------------------------------------------
def tree_secrets(tree: SecretTree, label: str) -> dict[bytes, str]:
    """The tree's node secrets, ratchet secrets and retained keys and nonces (read from its documented
    serialization, :meth:`SecretTree.encode`)."""
    out: dict[bytes, str] = {}
    r = Reader(tree.to_bytes())
    r.u16(), r.u32(), r.u32(), r.u32()
    nodes = Reader(r.opaque_v())
    while not nodes.at_end():
        node = nodes.u32()
        out[nodes.opaque_v()] = f"{label} tree secret of node {node}"
    ratchets = Reader(r.opaque_v())
    while not ratchets.at_end():
        leaf, kind, head = ratchets.u32(), ratchets.u8(), ratchets.u64()
        name = f"{label} leaf {leaf} {'handshake' if kind == 1 else 'application'} ratchet"
        out[ratchets.opaque_v()] = f"{name} secret at generation {head}"
        keys = Reader(ratchets.opaque_v())
        while not keys.at_end():
            generation = keys.u32()
            out[keys.opaque_v()] = f"{name} key of generation {generation}"
            out[keys.opaque_v()] = f"{name} nonce of generation {generation}"
    return out


def group_secrets(state: GroupState) -> dict[bytes, str]:
    out: dict[bytes, str] = {state.signer.to_bytes(): "signature key"}
    epoch = state.epoch
    if epoch is not None:
        label = f"epoch {epoch.number}"
        for f in dataclasses.fields(EpochSecrets):
            if f.name != "encryption_secret":  # zeroed once the secret tree exists
                out[getattr(epoch.secrets, f.name)] = f"{label} {f.name}"
        out[epoch.private.leaf_key.to_bytes()] = f"{label} leaf private key"
        for node, key in epoch.private.path_keys.items():
            out[key.to_bytes()] = f"{label} path private key of node {node}"
        out.update(tree_secrets(epoch.secret_tree, label))
    for past in state.past:
        out[past.sender_data_secret] = f"past epoch {past.epoch} sender_data_secret"
        out.update(tree_secrets(past.secret_tree, f"past epoch {past.epoch}"))
    for number, psk in state.resumption_psks.items():
        out[psk] = f"epoch {number} resumption psk"
    for key in state.own_update_keys.values():
        out[key.to_bytes()] = "own update private key"
    return out


def key_package_secrets(client: Client) -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    # the store has no listing of key packages (the client looks them up by public key): read the table
    for public, bundle_bytes, wrapper in client.store._db.execute(
        "SELECT hpke_public_key, bundle, wrapper_private_key FROM key_packages"
    ):
        bundle = KeyPackageBundle.from_bytes(bytes(bundle_bytes))
        name = f"key package {bytes(public)[:4].hex()}"
        out[bundle.init_private_key.to_bytes()] = f"{name} init private key"
        out[bundle.encryption_private_key.to_bytes()] = f"{name} leaf private key"
        if wrapper is not None:
            out[bytes(wrapper)] = f"{name} welcome wrapper private key"
    return out


def live_secrets(client: Client) -> dict[bytes, str]:
    """Everything secret the client's database holds now."""
    out = key_package_secrets(client)
    for record in client.store.conversations():
        out.update(group_secrets(GroupState.from_bytes(record.state)))
    return out


# --- what the files hold ----------------------------------------------------------------------------------------
PAGE, RESERVE, SALT = 4096, 80, 16  # SQLCipher 4's defaults: the IV (16 bytes) and HMAC (64) end each page


def decrypted_page(key: bytes, page: bytes, first: bool) -> bytes:
    iv = page[PAGE - RESERVE : PAGE - RESERVE + 16]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(page[SALT if first else 0 : PAGE - RESERVE]) + decryptor.finalize()


def decrypted(key: bytes, name: str, data: bytes) -> bytes:
    """Every page of a SQLCipher database, or of every frame of its log, decrypted with ``key``."""
    if name.endswith("-shm"):
        return data  # the log's index: page numbers and checksums, never encrypted, never page content
    if name.endswith("-wal"):
        frames = range(32, len(data) - 24 - PAGE + 1, 24 + PAGE)  # 32-byte header, 24-byte frame headers
        return b"".join(
            decrypted_page(key, data[at + 24 : at + 24 + PAGE], int.from_bytes(data[at : at + 4]) == 1)
            for at in frames
        )
    return b"".join(decrypted_page(key, data[at : at + PAGE], at == 0) for at in range(0, len(data), PAGE))


def readable_files(db: Path, key: bytes | None) -> dict[str, bytes]:
    """What an attacker with the files (and ``key``, for an encrypted database) reads in each of them."""
    files = {p.name: p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name)}
    assert db.name in files
    return files if key is None else {name: decrypted(key, name, data) for name, data in files.items()}


def held_in(secret: bytes, data: bytes) -> bool:
    half = len(secret) // 2
    return secret[:half] in data or secret[half:] in data


class Watch:
    """One client's secrets: every one its states held at some point, checked against its files."""

    def __init__(self, client: Client, db: Path, key: bytes | None) -> None:
        self.client, self.db, self.key = client, db, key
        self.seen: dict[bytes, str] = {}
        self.gone: dict[bytes, str] = {}

    def note(self) -> None:
        self.seen.update(live_secrets(self.client))

    def check(self) -> None:
        """Nothing deleted is in the files; everything live is (the search can see secrets)."""
        live = live_secrets(self.client)
        self.gone.update({s: label for s, label in self.seen.items() if s not in live})
        files = readable_files(self.db, self.key)
        for name, data in files.items():
            leaked = sorted(label for s, label in self.gone.items() if held_in(s, data))
            assert not leaked, f"{name} still holds deleted secrets: {leaked}"
        everything = b"".join(files.values())
        unseen = sorted(label for s, label in live.items() if not held_in(s, everything))
        assert not unseen, f"the search does not see live secrets: {unseen}"
        self.seen.update(live)


class Clock:
    """40 days ago (key packages made then are still valid at the node), moved by hand."""

    def __init__(self) -> None:
        self.now = time.time_ns() - 40 * DAY

    def __call__(self) -> int:
        return self.now


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "sqlcipher"])
async def test_deleted_secrets_leave_the_files(
    node: Node, tmp_path: Path, permissive_umask: None, encrypted: bool
) -> None:
    key = KEY if encrypted else None
    clock = Clock()
    clients: dict[str, Client] = {}
    watches: list[Watch] = []
    for name in ("alice", "bob", "carol"):
        (tmp_path / name).mkdir()
        db = tmp_path / name / "client.db"
        wallet = LocalWalletSigner.generate()
        client = await Client.create(node.address, wallet, db_path=db, db_encryption_key=key, clock_ns=clock)
        await client.register(wallet)
        clients[name] = client
        if name != "carol":
            watches.append(Watch(client, db, key))
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]

    async def step(operation: Awaitable[object]) -> None:
        for watch in watches:
            watch.note()
        await operation
        for watch in watches:
            watch.check()

    group = await alice.conversations.create_group([bob.inbox_id], name="at rest")
    joined: list[Conversation] = []

    async def join() -> None:
        joined.extend(await bob.conversations.sync())

    await step(join())
    [bob_group] = joined
    await step(bob_group.sync())
    commits: list[Callable[[], Awaitable[None]]] = [
        lambda: group.update_name("renamed by alice"),
        lambda: bob_group.update_name("renamed by bob"),
        lambda: group.add_members([carol.inbox_id]),
        lambda: bob_group.update_name("again by bob"),
        lambda: group.remove_members([carol.inbox_id]),
        lambda: group.update_name("the last name"),
    ]
    for i, commit in enumerate(commits):
        await step(group.send_text(f"alice {i}"))
        await step(bob_group.sync())  # alice's ratchet secret for this generation is used up
        await step(bob_group.send_text(f"bob {i}"))
        await step(group.sync())
        await step(commit())
        await step(group.sync())
        await step(bob_group.sync())
    assert group.epoch >= 7 and bob_group.epoch == group.epoch

    # the key package bob's welcome used was replaced; its private keys are deleted after the grace period
    clock.now += KEY_PACKAGE_GRACE_NS + 1
    await step(bob.maintain())

    for watch in watches:
        kinds = " | ".join(watch.gone.values())
        for wanted in (
            "epoch 1 sender_data_secret",  # six epochs later: beyond the three past epochs kept
            "epoch 1 init_secret",
            "epoch 1 membership_key",
            "application ratchet secret at generation 1",
            "handshake ratchet secret",
            "tree secret of node",
        ):
            assert wanted in kinds, f"{wanted!r} was never deleted: the test shows nothing"
    assert any("key package" in label and "init private key" in label for label in watches[1].gone.values())

    # the files are owner-only, the umask notwithstanding
    for watch in watches:
        names = {p.name: mode(p) for p in watch.db.parent.iterdir()}
        assert {"client.db", "client.db-wal", "client.db-shm"} <= names.keys()
        assert set(names.values()) == {0o600}, names

    # and everything still works: the state is what it was, and the next message goes through
    await group.send_text("still here")
    await bob_group.sync()
    texts = bob_group.texts()
    assert texts[-1] == "still here" and bob_group.name == "the last name"
    for client in clients.values():
        await client.close()
    reopened = await Client.create(  # bob's installation, from his database (the owner only names a new one)
        node.address,
        LocalWalletSigner.generate(),
        db_path=tmp_path / "bob" / "client.db",
        db_encryption_key=key,
    )
    again = reopened.conversations.get_conversation_by_id(bob_group.group_id)
    assert again is not None and again.texts() == texts
    await again.send_text("after a restart")
    await reopened.close()


def test_a_log_left_behind_is_emptied_when_the_database_opens(tmp_path: Path) -> None:
    """A crash (or a version that did not empty the log) leaves frames holding old rows: opening scrubs them."""
    (tmp_path / "old").mkdir()
    db_path = tmp_path / "old" / "client.db"
    ClientStore(db_path).close()
    old, new = os.urandom(32), os.urandom(32)
    # another program writes through SQLite without emptying the log (and keeps it open: the log stays)
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO cursors VALUES ('x', 1)")
    writer.execute("INSERT INTO key_packages VALUES (?, ?, NULL, 1, NULL)", (b"k", old))
    writer.execute("UPDATE key_packages SET bundle = ?", (new,))
    assert old in (tmp_path / "old" / "client.db-wal").read_bytes()
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for p in (tmp_path / "old").iterdir():
        (crashed / p.name).write_bytes(p.read_bytes())  # the files as a crash would leave them
    writer.close()

    store = ClientStore(crashed / "client.db")
    record = store.key_package(b"k")
    assert record is not None and record.bundle == new
    for p in crashed.iterdir():
        assert old not in p.read_bytes(), p.name
        assert mode(p) == 0o600, p.name
    store.close()


def test_a_reader_elsewhere_puts_the_scrub_off_to_the_next_transaction(tmp_path: Path) -> None:
    db_path = tmp_path / "client.db"
    store = ClientStore(db_path)
    reader = sqlite3.connect(db_path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM cursors").fetchone()  # a read transaction, open on the log
    with store.transaction():
        store.set_cursor("welcomes", 1)
    wal = tmp_path / "client.db-wal"
    assert wal.stat().st_size > 0  # not emptied (and not waited for)
    assert not store.scrub()
    reader.execute("COMMIT")
    with store.transaction():
        store.set_cursor("welcomes", 2)
    assert wal.stat().st_size == 0 and store.cursor("welcomes") == 2
    reader.close()
    store.close()
