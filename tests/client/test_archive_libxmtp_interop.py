"""Device-sync archives and the history server against real libxmtp (xmtp-bindings 0.1.8 = libxmtp 1.10.0):
libxmtp's ``create_archive`` file reads with our reader (every group, message and consent record checked against
what libxmtp itself reports); an archive from our writer imports into libxmtp (``import_archive``,
``archive_metadata``); libxmtp's archive re-encoded by our writer imports into a new libxmtp installation; and
libxmtp's own device sync uploads to and downloads from the node's history server."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.conversations.archive import (
    ArchiveElementKind,
    ArchiveMetadata,
    ConsentEntityType,
    ConsentRecord,
    ConsentState,
    ConversationKind,
    GroupRecord,
    MembershipState,
    MessageKind,
    MessageRecord,
    archive_metadata,
    encode_archive,
    read_archive,
)
from pyxmtp.conversations.content import Text, decode_content, encode_content
from pyxmtp.node import Node, NodeConfig
from tests.interop.libxmtp import User, list_conversations_options, list_options, texts, until, v

from .test_libxmtp_interop import group_options, libxmtp_api, open_dm

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

KINDS = {v.FfiBackupElementSelection.MESSAGES: ArchiveElementKind.MESSAGES}
KINDS[v.FfiBackupElementSelection.CONSENT] = ArchiveElementKind.CONSENT


def options(*elements: Any, start_ns: int | None = None, end_ns: int | None = None) -> Any:
    return v.FfiArchiveOptions(
        start_ns=start_ns,
        end_ns=end_ns,
        elements=list(
            elements or (v.FfiBackupElementSelection.MESSAGES, v.FfiBackupElementSelection.CONSENT)
        ),
        exclude_disappearing_messages=False,
    )


def list_conversations(user: User) -> list[Any]:
    opts = list_conversations_options()
    return [item.conversation() for item in user.client.conversations().list(opts)]


def same_metadata(ours: ArchiveMetadata, theirs: Any) -> None:
    assert ours.version == theirs.backup_version == 0
    assert ours.elements == tuple(KINDS[e] for e in theirs.elements)
    assert (ours.exported_at_ns, ours.start_ns, ours.end_ns) == (
        theirs.exported_at_ns,
        theirs.start_ns,
        theirs.end_ns,
    )


def message_id(group_id: bytes, sent_at_ns: int, content: bytes) -> bytes:
    """libxmtp's message id (protocol reference 7.3), idempotency key = the send time."""
    return hashlib.sha256(group_id + b"\t" + str(sent_at_ns).encode() + b"\t" + content).digest()


@pytest.fixture
async def api(node: Node) -> Any:
    return await libxmtp_api(node)


async def test_a_libxmtp_archive_reads_with_our_reader(api: Any, tmp_path: Path) -> None:
    alice = await User.register(api)
    bob = await User.register(api)
    group = await alice.client.conversations().create_group([bob.inbox_id], group_options("archived team"))
    await group.send_text("hello team")
    dm = await open_dm(alice, bob.inbox_id)
    await dm.send_text("hi bob")
    await bob.client.conversations().sync_all_conversations(None)
    bobs_group = bob.client.conversation(group.id())
    await bobs_group.sync()
    await bobs_group.send_text("hi alice")
    await group.sync()
    blocked = "ab" * 32
    await alice.client.set_consent_states(
        [
            v.FfiConsent(
                entity_type=v.FfiConsentEntityType.INBOX_ID, state=v.FfiConsentState.DENIED, entity=blocked
            )
        ]
    )

    key = os.urandom(32)
    path = tmp_path / "libxmtp.archive"
    theirs = await alice.client.create_archive(str(path), options(), key)
    data = path.read_bytes()
    archive = read_archive(data, key)
    same_metadata(archive.metadata, theirs)
    assert archive_metadata(data, key) == archive.metadata

    groups = [e for e in archive.elements if isinstance(e, GroupRecord)]
    messages = [e for e in archive.elements if isinstance(e, MessageRecord)]
    consents = [e for e in archive.elements if isinstance(e, ConsentRecord)]
    assert len(groups) + len(messages) + len(consents) == len(archive.elements)  # nothing skipped
    # groups first, then messages, then consent (options MESSAGES, CONSENT)
    kinds = [type(e) for e in archive.elements]
    assert kinds == sorted(kinds, key=[GroupRecord, MessageRecord, ConsentRecord].index)

    by_id = {g.id: g for g in groups}
    assert set(by_id) == {group.id(), dm.id()}
    team = by_id[group.id()]
    assert team.conversation_type == ConversationKind.GROUP and team.name == "archived team"
    assert team.creator_inbox_id == alice.inbox_id and team.super_admins == (alice.inbox_id,)
    assert team.membership_state == MembershipState.ALLOWED
    direct = by_id[dm.id()]
    assert direct.conversation_type == ConversationKind.DM
    assert direct.dm_id == "dm:" + ":".join(sorted([alice.inbox_id, bob.inbox_id]))

    # every application message libxmtp holds, with its id, sender, time and content
    expected = {}
    for conversation in (group, dm):
        for m in await conversation.find_messages(list_options()):
            if m.kind == v.FfiConversationMessageKind.APPLICATION:
                expected[m.id] = m
    assert {m.id for m in messages} == set(expected)
    for record in messages:
        theirs_m = expected[record.id]
        assert record.group_id == theirs_m.conversation_id
        assert record.sender_inbox_id == theirs_m.sender_inbox_id
        assert record.sent_at_ns == theirs_m.sent_at_ns
        assert record.content == theirs_m.content
        assert record.kind == MessageKind.APPLICATION and record.content_type == "text"
        assert record.sequence_id == theirs_m.sequence_id and record.originator_id == theirs_m.originator_id
    decoded = [decode_content(m.content) for m in messages]
    assert all(isinstance(d, Text) for d in decoded)
    assert sorted(map(str, decoded)) == ["hello team", "hi alice", "hi bob"]

    assert {(c.entity_type, c.entity, c.state) for c in consents} == {
        (ConsentEntityType.CONVERSATION_ID, group.id().hex(), ConsentState.ALLOWED),
        (ConsentEntityType.CONVERSATION_ID, dm.id().hex(), ConsentState.ALLOWED),
        (ConsentEntityType.INBOX_ID, blocked, ConsentState.DENIED),
    }

    # a time-bounded, consent-only archive
    bounded = tmp_path / "bounded.archive"
    theirs = await alice.client.create_archive(
        str(bounded), options(v.FfiBackupElementSelection.CONSENT, start_ns=1, end_ns=time.time_ns()), key
    )
    archive = read_archive(bounded.read_bytes(), key)
    same_metadata(archive.metadata, theirs)
    assert archive.metadata.start_ns == 1 and archive.metadata.end_ns is not None
    assert all(isinstance(e, ConsentRecord) for e in archive.elements) and len(archive.elements) == 3


async def test_an_archive_from_our_writer_imports_into_libxmtp(api: Any, tmp_path: Path) -> None:
    carol = await User.register(api)
    peer = "ab" * 32
    now = time.time_ns()
    group_id, dm_id = os.urandom(16), os.urandom(16)
    installation = os.urandom(32)

    def text(group: bytes, body: str, at: int, sender: str) -> MessageRecord:
        content = encode_content(Text(body)).to_bytes()
        return MessageRecord(
            id=message_id(group, at, content),
            group_id=group,
            content=content,
            sent_at_ns=at,
            sender_inbox_id=sender,
            sender_installation_id=installation,
            content_type="text",
            sequence_id=at % 1000,
            originator_id=10,
        )

    records = [
        GroupRecord(
            group_id,
            now - 10**9,
            ConversationKind.GROUP,
            MembershipState.ALLOWED,
            creator_inbox_id=peer,
            attributes={"group_name": "restored team", "description": "from pyxmtp", "app_data": "x"},
            super_admins=(peer,),
            added_by_inbox_id=peer,
            last_message_ns=now - 100,
        ),
        GroupRecord(
            dm_id,
            now - 10**9,
            ConversationKind.DM,
            MembershipState.ALLOWED,
            creator_inbox_id=peer,
            added_by_inbox_id=peer,
            dm_id="dm:" + ":".join(sorted([peer, carol.inbox_id])),
        ),
        text(group_id, "older news", now - 200, carol.inbox_id),
        text(group_id, "old news", now - 100, peer),
        text(dm_id, "a direct word", now - 50, peer),
        ConsentRecord(ConsentEntityType.CONVERSATION_ID, ConsentState.ALLOWED, group_id.hex(), now),
        ConsentRecord(ConsentEntityType.INBOX_ID, ConsentState.DENIED, "cd" * 32, now),
    ]
    metadata = ArchiveMetadata((ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT), now, None, now)
    key = os.urandom(32) + b"ignored"  # libxmtp, like us, takes the first 32 bytes
    path = tmp_path / "pyxmtp.archive"
    path.write_bytes(b"".join(encode_archive(key, metadata, records, rng=os.urandom)))

    same_metadata(metadata, await carol.client.archive_metadata(str(path), key))
    await carol.client.import_archive(str(path), key)

    restored = carol.client.conversation(group_id)
    assert restored.group_name() == "restored team"
    assert await texts(restored) == ["older news", "old news"]
    ids = {m.id for m in await restored.find_messages(list_options())}
    assert ids == {records[2].id, records[3].id}  # type: ignore[union-attr]
    assert await texts(carol.client.conversation(dm_id)) == ["a direct word"]
    assert {c.id() for c in list_conversations(carol)} == {group_id, dm_id}
    consent = carol.client.get_consent_state
    assert await consent(v.FfiConsentEntityType.CONVERSATION_ID, group_id.hex()) == v.FfiConsentState.ALLOWED
    assert await consent(v.FfiConsentEntityType.INBOX_ID, "cd" * 32) == v.FfiConsentState.DENIED

    # importing it again changes nothing (libxmtp dedupes by id)
    await carol.client.import_archive(str(path), key)
    assert await texts(restored) == ["older news", "old news"]


async def test_libxmtps_archive_re_encoded_by_us_restores_a_new_installation(
    api: Any, tmp_path: Path
) -> None:
    wallet = os.urandom(32)
    alice = await User.register(api, wallet)
    bob = await User.register(api)
    group = await alice.client.conversations().create_group([bob.inbox_id], group_options("relayed"))
    await group.send_text("through pyxmtp's writer")
    key = os.urandom(32)
    theirs = tmp_path / "theirs.archive"
    await alice.client.create_archive(str(theirs), options(), key)
    archive = read_archive(theirs.read_bytes(), key)

    ours = tmp_path / "ours.archive"
    records = [e for e in archive.elements if not hasattr(e, "reason")]
    new_key = os.urandom(32)
    ours.write_bytes(b"".join(encode_archive(new_key, archive.metadata, records, rng=os.urandom)))  # type: ignore[arg-type]
    laptop = await User.register(api, wallet)  # a second installation of alice's inbox
    assert laptop.inbox_id == alice.inbox_id
    await laptop.client.import_archive(str(ours), new_key)
    assert await texts(laptop.client.conversation(group.id())) == ["through pyxmtp's writer"]


async def test_libxmtp_device_sync_goes_through_the_nodes_history_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One installation uploads an archive to our history server (``send_sync_archive``), the other downloads it
    from there and imports it (``process_sync_archive``): it then holds a message sent before it existed."""
    caplog.set_level(logging.DEBUG, logger="pyxmtp.node.history")
    node = await Node.start(
        NodeConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node", rate_limits=None, history_port=0)
    )
    try:
        assert node.history is not None
        url = f"http://127.0.0.1:{node.history.port}"
        api = await libxmtp_api(node)
        wallet = os.urandom(32)
        phone = await User.register(api, wallet, device_sync=True)
        bob = await User.register(api)
        group = await phone.client.conversations().create_group([bob.inbox_id], group_options("synced"))
        await group.send_text("before the laptop existed")
        laptop = await User.register(api, wallet, device_sync=True)  # creates a sync group, adds the phone

        async def phone_in_laptops_sync_group() -> bool:
            return bool((await phone.client.sync_all_device_sync_groups()).num_eligible >= 2)

        await until(phone_in_laptops_sync_group, "the phone to join the laptop's sync group")
        await phone.client.send_sync_archive(options(), url, "pin42")
        uploads = list(node.history.directory.iterdir())
        assert len(uploads) == 1 and uploads[0].read_bytes()[:2] == b"\x00\x00"

        async def reply_seen() -> bool:
            await laptop.client.sync_all_device_sync_groups()
            return any(a.pin == "pin42" for a in laptop.client.list_available_archives(7))

        await until(reply_seen, "the laptop to see the phone's sync reply")
        await laptop.client.process_sync_archive("pin42")
        assert "before the laptop existed" in await texts(laptop.client.conversation(group.id()))
        lines = [r.getMessage() for r in caplog.records if r.name == "pyxmtp.node.history"]
        assert any(line.startswith("POST /upload") and "status=200" in line for line in lines), lines
        assert any(line.startswith("GET /files/") and "status=200" in line for line in lines), lines
        assert not any(uploads[0].name in line for line in lines)  # the id is never logged whole
    finally:
        await node.stop(grace=0)
