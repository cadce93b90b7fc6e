"""The local database failing in the middle of a sync (a full disk, an I/O error): nothing of that page is
kept, in the database or in memory, and the next sync delivers every message once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pyxmtp.client import Client
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

from .conftest import new_client


async def test_a_store_failure_mid_page_loses_nothing(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.create_dm(bob.inbox_id)
    [bob_dm] = await bob.sync_welcomes()
    await bob_dm.sync()
    for i in range(6):
        await dm.send_text(f"message {i}")
    cursor, state = bob_dm.cursor, bob_dm.conversation.to_bytes()

    real_add = bob.store.add_message
    calls = 0

    def failing_add(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise sqlite3.OperationalError("disk I/O error")
        return real_add(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bob.store, "add_message", failing_add)
    with pytest.raises(sqlite3.OperationalError):
        await bob_dm.sync()
    assert (
        bob_dm.cursor == cursor and bob_dm.conversation.to_bytes() == state
    )  # back to what the database has
    assert bob_dm.texts() == []  # the page was rolled back as a whole
    monkeypatch.undo()

    got = await bob_dm.sync()
    assert [m.content for m in got] == [f"message {i}" for i in range(6)]
    await bob_dm.send_text("all six, once")
    await dm.sync()
    assert dm.texts()[-1] == "all six, once"
    # an existing database keeps its inbox: the owner given is only used for a new one
    reopened = await Client.create(node.address, LocalWalletSigner.generate(), db_path=tmp_path / "bob.db")
    [again] = reopened.conversations()
    assert again.texts() == [f"message {i}" for i in range(6)] + ["all six, once"]
