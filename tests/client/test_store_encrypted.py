"""An encrypted client database (SQLCipher, the ``encrypted`` extra): nothing in the clear on disk, and a wrong,
missing or unwanted key is a clear error, never a silently empty database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyxmtp.client.store import ClientStore, ClientStoreError, KeyPackageRecord

KEY = bytes(range(32))


def fill(store: ClientStore, secret: bytes) -> None:
    with store.transaction():
        store.set_installation(secret, "ab" * 32, 0, os.urandom(42))
        store.add_key_package(KeyPackageRecord(os.urandom(32), secret * 4, secret, 1, None))


def test_an_encrypted_database_keeps_nothing_in_the_clear_and_reopens_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "client.db"
    secret = os.urandom(32)
    store = ClientStore(path, encryption_key=KEY)
    assert store.encrypted
    fill(store, secret)
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret not in on_disk and b"ab" * 32 not in on_disk and b"SQLite format 3" not in on_disk
    again = ClientStore(path, encryption_key=KEY)
    installation = again.installation()
    assert installation is not None and installation[0] == secret
    again.close()


def test_wrong_missing_or_unwanted_keys_are_refused(tmp_path: Path) -> None:
    encrypted, plain = tmp_path / "encrypted.db", tmp_path / "plain.db"
    fill(ClientStore(encrypted, encryption_key=KEY), os.urandom(32))
    fill(ClientStore(plain), os.urandom(32))
    with pytest.raises(ClientStoreError, match="encrypted with another key"):
        ClientStore(encrypted, encryption_key=bytes(32))
    with pytest.raises(ClientStoreError, match=r"encrypted \(give its key\)"):
        ClientStore(encrypted)
    with pytest.raises(ClientStoreError, match="not a pyxmtp database"):
        ClientStore(plain, encryption_key=KEY)
    with pytest.raises(ValueError, match="32 bytes"):
        ClientStore(tmp_path / "new.db", encryption_key=b"short")
