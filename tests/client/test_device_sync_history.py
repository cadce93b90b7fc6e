"""History sync between pyxmtp installations of one inbox through the node's history server: a new installation
requests sync and reads the old conversations and messages; hostile replies (tampered, oversize, another key,
not ours, pointing elsewhere) and requests from groups that are not our sync group import nothing and leave the
client working."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from pyxmtp.client import Client
from pyxmtp.client.device_sync import groups
from pyxmtp.client.device_sync.content import decode, encode
from pyxmtp.client.device_sync.history import MAX_ARCHIVE_BYTES
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node, NodeConfig
from pyxmtp.proto.device_sync import content_pb2, device_sync_pb2

from .conftest import new_client

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def hnode(tmp_path: Path) -> AsyncIterator[Node]:
    node = await Node.start(
        NodeConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node", rate_limits=None, history_port=0)
    )
    yield node
    await node.stop(grace=0)


def texts(client: Client, conversation_id: str) -> list[str]:
    """The texts of a conversation, live or restored."""
    live = client.conversations.get_conversation_by_id(conversation_id)
    if live is not None:
        return [m.content for m in live.messages() if isinstance(m.content, str)]
    restored = client.conversations.get_restored_by_id(conversation_id)
    return [] if restored is None else restored.texts()


def history_url(node: Node) -> str:
    assert node.history is not None
    return f"http://127.0.0.1:{node.history.port}"


async def test_a_new_installation_gets_the_history_of_an_old_one(hnode: Node, tmp_path: Path) -> None:
    wallet = LocalWalletSigner.generate()
    old = await Client.create(hnode.address, wallet, db_path=tmp_path / "old.db")
    bob = await new_client(hnode, tmp_path / "bob.db")
    new: Client | None = None
    try:
        group = await old.conversations.create_group([bob.inbox_id], name="before")
        await group.send_text("sent before the new installation existed")
        new = await Client.create(hnode.address, wallet, db_path=tmp_path / "new.db")
        pin = await new.device_sync.send_sync_request(history_url(hnode))
        assert len(pin) == 5 and pin.isalnum()

        await old.device_sync.sync_all_device_sync_groups()  # joins, sees the request, uploads, replies
        assert len(list(hnode.history.directory.iterdir())) == 1  # type: ignore[union-attr]
        await new.device_sync.sync_all_device_sync_groups()  # sees the reply, downloads, imports
        # the old installation also added the new one to its recent conversations (libxmtp's greeting): the
        # group is live here, and holds the message from before
        assert texts(new, group.id) == ["sent before the new installation existed"]
        assert new.conversations.get_conversation_by_id(group.id) is not None
        summary = new.device_sync.history.last_import
        assert summary is not None and summary.messages_imported == 1
        # importing again (a second sync) changes nothing; the client still works
        await new.device_sync.sync_all_device_sync_groups()
        assert texts(new, group.id) == ["sent before the new installation existed"]
        # the reply is listed, and can be imported again by hand (nothing new: messages are kept by id)
        [offered] = new.list_available_archives(1)
        assert offered.pin == pin and offered.sent_by_installation == old.installation_id
        again = await new.process_sync_archive(pin)
        assert again.messages_imported == 0 and again.messages_duplicate == 1
        await (await new.conversations.create_dm(bob.inbox_id)).send_text("new installation works")
    finally:
        for client in (old, bob, new):
            if client is not None:
                await client.close()


async def _reply(client: Client, session: groups.GroupSession, pin: str, url: str, key: bytes) -> None:
    reply = content_pb2.DeviceSyncReply(
        request_id=pin, url=url, encryption_key=content_pb2.DeviceSyncKeyType(aes_256_gcm=key)
    )
    await groups.send(session, content_pb2.DeviceSyncContent(reply=reply))


async def test_hostile_replies_import_nothing(hnode: Node, tmp_path: Path) -> None:
    """Replies with a tampered archive, an archive for another key, to no request of ours, pointing at another
    server or at a missing file: nothing is imported, the new installation still works, and the genuine reply
    that follows imports."""
    wallet = LocalWalletSigner.generate()
    old = await Client.create(hnode.address, wallet, db_path=tmp_path / "old.db")
    bob = await new_client(hnode, tmp_path / "bob.db")
    url = history_url(hnode)
    group = await old.conversations.create_group([bob.inbox_id], name="kept")
    await group.send_text("old message")
    new = await Client.create(hnode.address, wallet, db_path=tmp_path / "new.db")
    try:
        pin = await new.device_sync.send_sync_request(url)
        await old.conversations.sync()  # joins the sync group without answering yet
        sync_group = groups.primary(old.conversations.hub)
        assert sync_group is not None

        # a genuine archive of the old installation, uploaded; then a tampered copy
        from pyxmtp.client.archive import write_archive

        key = old.ctx.rng(32)
        chunks: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            chunks.append(chunk)

        await write_archive(old.ctx, sink, key)
        good = b"".join(chunks)
        tampered = bytearray(good)
        tampered[-5] ^= 1
        async with httpx.AsyncClient() as http:
            good_id = (await http.post(f"{url}/upload", content=good)).text
            tampered_id = (await http.post(f"{url}/upload", content=bytes(tampered))).text
            assert (
                await http.post(f"{url}/upload", content=b"\0" * (MAX_ARCHIVE_BYTES + 1))
            ).status_code == 413  # the node refuses an upload over the cap
        await _reply(old, sync_group, pin, f"{url}/files/{tampered_id}", key)  # tampered
        await _reply(old, sync_group, pin, f"{url}/files/{good_id}", old.ctx.rng(32))  # another key
        await _reply(old, sync_group, "zzzzz", f"{url}/files/{good_id}", key)  # not our request
        await _reply(old, sync_group, pin, f"http://127.0.0.1:9/files/{good_id}", key)  # another server
        await _reply(old, sync_group, pin, f"{url}/files/{good_id}/../x", key)  # a path, not a file id
        await _reply(old, sync_group, pin, f"{url}/files/00000000-0000-4000-8000-000000000000", key)  # 404
        await _reply(old, sync_group, pin, f"{url}/files/{good_id}", key[:16])  # a short key

        await new.device_sync.sync_all_device_sync_groups()
        assert new.device_sync.history.last_import is None
        assert new.conversations.get_restored_by_id(group.id) is None
        assert new.ctx.store.messages(group.group_id) == []
        await (await new.conversations.create_dm(bob.inbox_id)).send_text("still works")

        # the old installation now answers the request itself: that reply imports
        await old.device_sync.sync_all_device_sync_groups()
        await new.device_sync.sync_all_device_sync_groups()
        assert texts(new, group.id) == ["old message"]
    finally:
        for client in (old, bob, new):
            await client.close()


async def test_a_reply_with_a_tampered_archive_imports_nothing(hnode: Node, tmp_path: Path) -> None:
    wallet = LocalWalletSigner.generate()
    old = await Client.create(hnode.address, wallet, db_path=tmp_path / "old.db")
    bob = await new_client(hnode, tmp_path / "bob.db")
    url = history_url(hnode)
    group = await old.conversations.create_group([bob.inbox_id], name="secret")
    await group.send_text("old message")
    new = await Client.create(hnode.address, wallet, db_path=tmp_path / "new.db")
    try:
        # the old installation writes a real archive but its reply carries another key / a tampered copy
        pin = await new.device_sync.send_sync_request(url)
        await old.device_sync.sync_all_device_sync_groups()
        uploaded = next(hnode.history.directory.iterdir())  # type: ignore[union-attr]
        good = uploaded.read_bytes()
        tampered = bytearray(good)
        tampered[len(tampered) // 2] ^= 0x40
        uploaded.write_bytes(bytes(tampered))  # the server (or the network) altered it
        await new.device_sync.sync_all_device_sync_groups()
        assert new.conversations.get_restored_by_id(group.id) is None
        assert new.device_sync.history.last_import is None
        assert new.ctx.store.messages(group.group_id) == []

        # an archive padded up to the cap with garbage: refused whole
        sync_group = groups.primary(old.conversations.hub)
        assert sync_group is not None
        async with httpx.AsyncClient() as http:
            big_id = (
                await http.post(f"{url}/upload", content=good + b"\0" * (MAX_ARCHIVE_BYTES - len(good)))
            ).text
        await _reply(old, sync_group, pin, f"{url}/files/{big_id}", old.ctx.rng(32))
        await new.device_sync.sync_all_device_sync_groups()
        assert new.device_sync.history.last_import is None
        # the client still works
        await (await new.conversations.create_dm(bob.inbox_id)).send_text("still works")
    finally:
        for client in (old, bob, new):
            await client.close()


async def test_a_request_outside_our_sync_group_is_ignored(hnode: Node, tmp_path: Path) -> None:
    """A sync request in an ordinary group (from another inbox) is not answered: nothing is uploaded."""
    alice = await new_client(hnode, tmp_path / "alice.db")
    mallory = await new_client(hnode, tmp_path / "mallory.db")
    try:
        group = await mallory.conversations.create_group([alice.inbox_id])
        request = content_pb2.DeviceSyncRequest(
            pin="abcde",
            server_url=history_url(hnode),
            options=device_sync_pb2.ArchiveOptions(elements=[1, 2]),  # type: ignore[list-item]
        )
        await group.send(encode(content_pb2.DeviceSyncContent(request=request)))
        await alice.conversations.sync_all()
        await alice.device_sync.sync_all_device_sync_groups()
        assert list(hnode.history.directory.iterdir()) == []  # type: ignore[union-attr]

        # nor is a reply there taken, even one naming alice's own pending request and a real archive
        pin = await alice.device_sync.send_sync_request(history_url(hnode))
        await mallory.send_sync_archive(
            history_url(hnode), pin
        )  # uploads, replies in mallory's own sync group
        [uploaded] = list(hnode.history.directory.iterdir())  # type: ignore[union-attr]
        [offered] = [
            decode(r.content)
            for r in mallory.ctx.store.messages(groups.primary(mallory.conversations.hub).group_id)  # type: ignore[union-attr]
            if decode(r.content) is not None
        ]
        assert offered is not None and offered.reply.url.endswith(uploaded.name)
        await group.send(encode(offered))
        await alice.conversations.sync_all()
        await alice.device_sync.sync_all_device_sync_groups()
        assert alice.device_sync.history.last_import is None
        assert alice.conversations.get_restored_by_id(group.id) is None
        held = alice.conversations.get_conversation_by_id(group.id)
        assert held is not None
        await held.send_text("alice still works")
    finally:
        await alice.close()
        await mallory.close()


async def test_a_reply_whose_download_fails_is_tried_three_times(
    hnode: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The history server cannot serve a reply's file (404): the reply is tried again at the next device syncs,
    three attempts in all (libxmtp's rule), then dropped."""
    wallet = LocalWalletSigner.generate()
    old = await Client.create(hnode.address, wallet, db_path=tmp_path / "old.db")
    new = await Client.create(hnode.address, wallet, db_path=tmp_path / "new.db")
    url = history_url(hnode)
    try:
        pin = await new.device_sync.send_sync_request(url)
        await old.conversations.sync()
        sync_group = groups.primary(old.conversations.hub)
        assert sync_group is not None
        await _reply(
            old, sync_group, pin, f"{url}/files/00000000-0000-4000-8000-000000000000", old.ctx.rng(32)
        )
        caplog.set_level(logging.WARNING, logger="pyxmtp.client.device_sync")
        for _ in range(4):
            await new.device_sync.sync_all_device_sync_groups()
        attempts = [r.getMessage() for r in caplog.records if "status 404" in r.getMessage()]
        assert len(attempts) == 3, attempts
        assert "(attempt 3, the last)" in attempts[-1]
        assert new.device_sync.history.last_import is None
    finally:
        await old.close()
        await new.close()


async def test_a_request_with_a_reversed_time_range_is_not_answered(
    hnode: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer's request whose time range ends before it starts cannot be honoured: it is logged and passed over,
    nothing is uploaded, and the next well-formed request is answered."""
    wallet = LocalWalletSigner.generate()
    old = await Client.create(hnode.address, wallet, db_path=tmp_path / "old.db")
    new = await Client.create(hnode.address, wallet, db_path=tmp_path / "new.db")
    try:
        session = await groups.ensure(new.conversations.hub)
        bad = content_pb2.DeviceSyncRequest(
            pin="zzzzz",
            server_url=history_url(hnode),
            options=device_sync_pb2.ArchiveOptions(elements=[1, 2], start_ns=10, end_ns=5),  # type: ignore[list-item]
        )
        await groups.send(session, content_pb2.DeviceSyncContent(request=bad))
        with caplog.at_level(logging.WARNING, logger="pyxmtp"):
            await old.device_sync.sync_all_device_sync_groups()
        assert list(hnode.history.directory.iterdir()) == []  # type: ignore[union-attr]
        assert any("zzzzz" in r.getMessage() and "before" in r.getMessage() for r in caplog.records)

        await new.device_sync.send_sync_request(history_url(hnode))
        await old.device_sync.sync_all_device_sync_groups()
        assert len(list(hnode.history.directory.iterdir())) == 1  # type: ignore[union-attr]
    finally:
        await old.close()
        await new.close()
