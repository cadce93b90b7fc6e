"""Archives of a pyxmtp client's history (``create_archive`` / ``import_archive`` / ``archive_metadata``) between
pyxmtp installations: a second installation of the same inbox reads the old conversations from an archive
(restored, read-only, until a welcome brings the real group, which keeps the imported messages), imports are
idempotent, consent is merged by libxmtp's rule, time ranges and element selections hold, and the key stays
secret (files 0600, a short key refused before any file is made)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from pyxmtp.client import Client, Consent, ConsentEntityType, ConsentState
from pyxmtp.client.archive import ArchiveOptions, import_archive_stream, write_archive
from pyxmtp.client.errors import ConversationRestored, InactiveConversation
from pyxmtp.client.store import SCHEMA_VERSION
from pyxmtp.conversations.archive import (
    ArchiveArgumentError,
    ArchiveElementKind,
    GroupRecord,
    MessageRecord,
    read_archive,
)
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

from .conftest import new_client
from .old_schemas import to_version_4

pytestmark = pytest.mark.timeout(180)


async def test_a_second_installation_reads_the_history_from_an_archive(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wallet = LocalWalletSigner.generate()
    phone = await Client.create(node.address, wallet, db_path=tmp_path / "phone.db")
    bob = await new_client(node, tmp_path / "bob.db")
    group = await phone.conversations.create_group([bob.inbox_id], name="team", description="the team")
    await group.send_text("before the laptop")
    dm = await phone.conversations.create_dm(bob.inbox_id)
    await dm.send_text("a direct word")
    [bobs_group, _bobs_dm] = sorted(await bob.conversations.sync(), key=lambda c: c.id != group.id)
    await bobs_group.send_text("bob was here")
    await group.sync()
    phone.preferences.set_consent_states([Consent(ConsentEntityType.INBOX, "ab" * 32, ConsentState.DENIED)])

    key = os.urandom(32)
    path = tmp_path / "phone.archive"
    metadata = await phone.create_archive(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert metadata.elements == (ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT)
    assert await phone.archive_metadata(path, key) == metadata
    archive = read_archive(path.read_bytes(), key)
    assert {g.id for g in archive.elements if isinstance(g, GroupRecord)} == {group.group_id, dm.group_id}
    assert len([m for m in archive.elements if isinstance(m, MessageRecord)]) == 3

    laptop = await Client.create(node.address, wallet, db_path=tmp_path / "laptop.db")
    assert laptop.inbox_id == phone.inbox_id and laptop.installation_id != phone.installation_id
    summary = await laptop.import_archive(path, key)
    assert (summary.conversations_restored, summary.messages_imported, summary.skipped) == (2, 3, 0)
    assert summary.consent_changed == 3  # two conversations allowed, one inbox denied
    restored = {c.id: c for c in laptop.conversations.list_restored()}
    assert set(restored) == {group.id, dm.id}
    team = restored[group.id]
    assert team.name == "team" and team.description == "the team" and not team.is_active
    assert team.texts() == ["before the laptop", "bob was here"]
    assert restored[dm.id].peer_inbox_id == bob.inbox_id
    assert restored[dm.id].texts() == ["a direct word"]
    assert laptop.preferences.get_consent_state(ConsentEntityType.INBOX, "ab" * 32) is ConsentState.DENIED
    with pytest.raises(ConversationRestored):
        await team.send_text("from the laptop")
    with pytest.raises(InactiveConversation):  # a ConversationRestored is an InactiveConversation
        await team.sync()
    assert laptop.conversations.list() == []  # no live conversation yet

    again = await laptop.import_archive(path, key)  # idempotent
    assert (again.conversations_restored, again.conversations_held) == (0, 2)
    assert (again.messages_imported, again.messages_duplicate) == (0, 3)
    assert again.consent_changed == 0

    # the phone adds the laptop: the real group takes the restored one's place, with the old messages
    await group.update_installations()
    await laptop.conversations.sync()
    live = laptop.conversations.get_conversation_by_id(group.id)
    assert live is not None and live.is_active
    assert laptop.conversations.get_restored_by_id(group.id) is None
    await live.send_text("now from the laptop")
    assert live.texts() == ["before the laptop", "bob was here", "now from the laptop"]
    await bobs_group.sync()
    assert bobs_group.texts()[-1] == "now from the laptop"

    assert key.hex() not in caplog.text
    for c in (phone, bob, laptop):
        await c.close()


async def test_a_wrong_key_length_is_refused_before_anything_is_written(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    path = tmp_path / "short.archive"
    with pytest.raises(ArchiveArgumentError):
        await alice.create_archive(path, os.urandom(31))
    assert not path.exists()
    with pytest.raises(ArchiveArgumentError):
        await alice.create_archive(path, "not bytes")  # type: ignore[arg-type]
    with pytest.raises(ArchiveArgumentError):
        ArchiveOptions(elements=(ArchiveElementKind.EVENT,))
    await alice.close()


async def test_streamed_archive_and_options(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    group = await alice.conversations.create_group([bob.inbox_id])
    await group.send_text("one")
    cut = alice.clock_ns()
    await group.send_text("two")
    key = os.urandom(32)

    chunks: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        chunks.append(chunk)

    await write_archive(alice.ctx, sink, key, ArchiveOptions(start_ns=cut))
    archive = read_archive(b"".join(chunks), key)
    texts = [m for m in archive.elements if isinstance(m, MessageRecord)]
    assert len(texts) == 1  # only "two" is after the cut; the group was created before it: left out
    assert not any(isinstance(g, GroupRecord) for g in archive.elements)

    consent_only: list[bytes] = []
    await write_archive(alice.ctx, consent_only.append, key, ArchiveOptions((ArchiveElementKind.CONSENT,)))  # type: ignore[arg-type]
    assert all(
        not isinstance(e, MessageRecord | GroupRecord)
        for e in read_archive(b"".join(consent_only), key).elements
    )

    async def stream():  # type: ignore[no-untyped-def]
        for chunk in chunks:
            yield chunk

    [bobs] = await bob.conversations.sync()
    await bobs.sync()
    summary = await import_archive_stream(bob.ctx, stream(), key)
    # bob holds the group: the message "two" is his already (received), nothing restored
    assert (summary.conversations_restored, summary.messages_imported) == (0, 0)
    assert summary.messages_duplicate == 1
    for c in (alice, bob):
        await c.close()


async def test_a_version_4_database_gets_the_restored_table(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    await alice.close()
    to_version_4(tmp_path / "alice.db")
    alice = await Client.build(node.address, alice.account_identifier, db_path=tmp_path / "alice.db")  # type: ignore[arg-type]
    assert alice.conversations.list_restored() == []
    with sqlite3.connect(str(tmp_path / "alice.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    await alice.close()


async def test_an_archive_replaces_the_file_only_once_complete(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    path = tmp_path / "backup.archive"
    path.write_bytes(b"an earlier backup")
    path.chmod(0o644)
    key = os.urandom(32)

    class Broken(Exception):
        pass

    def fail(*_: object) -> None:
        raise Broken

    original = alice.ctx.store.consents
    alice.ctx.store.consents = fail  # type: ignore[method-assign]
    with pytest.raises(Broken):
        await alice.create_archive(path, key)
    alice.ctx.store.consents = original  # type: ignore[method-assign]
    assert path.read_bytes() == b"an earlier backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    await alice.create_archive(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (await alice.archive_metadata(path, key)).elements
    await alice.close()


async def test_disappearing_messages_and_the_exclude_option(node: Node, tmp_path: Path) -> None:
    from pyxmtp.client import DisappearingSettings

    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    now = alice.clock_ns()
    hour = await alice.conversations.create_group(
        [bob.inbox_id], disappearing=DisappearingSettings(now - 10**9, 3600 * 10**9)
    )
    await hour.send_text("gone in an hour")
    instant = await alice.conversations.create_group(
        [bob.inbox_id], disappearing=DisappearingSettings(now - 10**9, 1)
    )
    await instant.send_text("gone at once")
    plain = await alice.conversations.create_group([bob.inbox_id])
    await plain.send_text("kept")
    key = os.urandom(32)

    async def texts(options: ArchiveOptions) -> list[str]:
        out: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            out.append(chunk)

        await write_archive(alice.ctx, sink, key, options)
        messages = [m for m in read_archive(b"".join(out), key).elements if isinstance(m, MessageRecord)]
        return sorted(m.content.decode("latin-1").rsplit("\n", 1)[-1][-20:] for m in messages)

    everything = await texts(ArchiveOptions())
    assert len(everything) == 2  # the expired one is never archived
    assert any("gone in an hour" in t for t in everything) and any("kept" in t for t in everything)
    excluded = await texts(ArchiveOptions(exclude_disappearing_messages=True))
    assert len(excluded) == 1 and "kept" in excluded[0]
    for c in (alice, bob):
        await c.close()


def test_options_as_a_sync_request_carries_them() -> None:
    options = ArchiveOptions((ArchiveElementKind.CONSENT,), 5, 10, True)
    assert ArchiveOptions.from_proto(options.to_proto()) == options
    assert ArchiveOptions.from_proto(ArchiveOptions().to_proto()) == ArchiveOptions()
    proto = ArchiveOptions().to_proto()
    proto.elements.append(3)  # EVENT (deprecated): dropped
    assert ArchiveOptions.from_proto(proto).elements == ArchiveOptions().elements
    proto.start_ns, proto.end_ns = 10, 5
    with pytest.raises(ArchiveArgumentError):
        ArchiveOptions.from_proto(proto)
