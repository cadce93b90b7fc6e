"""Hostile archives at the client: tampered, truncated, cut at a record boundary's neighbour, for another key,
over the reader's limits, garbage, empty, a stream over its byte cap. Each is refused with a typed
:class:`~pyxmtp.conversations.archive.ArchiveError` after part of it was applied, and the transaction is rolled
back: nothing restored, no message, no consent; the client then imports a good archive and sends as before.
Elements that decode but name what an importer must not take (a DM of other inboxes, a sync group, an address
consent) are skipped and counted, the rest imported. Spooled downloads are deleted, imported or not."""

from __future__ import annotations

import logging
import os
import struct
import time
from pathlib import Path

import pytest

from pyxmtp.client import Client, ConsentEntityType, ConsentState
from pyxmtp.client.archive import import_archive_stream
from pyxmtp.conversations.archive import (
    ArchiveElementKind,
    ArchiveError,
    ArchiveKeyError,
    ArchiveLimitError,
    ArchiveLimits,
    ArchiveMetadata,
    ArchiveRecord,
    ArchiveTruncatedError,
    ConsentRecord,
    ConversationKind,
    GroupRecord,
    MembershipState,
    MessageRecord,
    encode_archive,
)
from pyxmtp.conversations.archive import (
    ConsentEntityType as SaveEntity,
)
from pyxmtp.conversations.archive import (
    ConsentState as SaveState,
)
from pyxmtp.conversations.archive._zstd import zstd
from pyxmtp.conversations.content import Text, encode_content
from pyxmtp.node import Node

from .conftest import new_client

pytestmark = pytest.mark.timeout(120)

KEY = bytes(range(32))
PEER = "ab" * 32


def _records(own_inbox: str, groups: int = 3, per_group: int = 4) -> list[ArchiveRecord]:
    now = time.time_ns()
    out: list[ArchiveRecord] = []
    ids = [os.urandom(16) for _ in range(groups)]
    for n, group_id in enumerate(ids):
        out.append(
            GroupRecord(
                group_id,
                now - 10**9,
                ConversationKind.GROUP,
                MembershipState.ALLOWED,
                creator_inbox_id=PEER,
                attributes={"group_name": f"group {n}"},
            )
        )
    for group_id in ids:
        for i in range(per_group):
            content = encode_content(Text(f"message {i}")).to_bytes()
            out.append(
                MessageRecord(os.urandom(32), group_id, content, now - 1000 + i, PEER, os.urandom(32), "text")
            )
    out.append(ConsentRecord(SaveEntity.INBOX_ID, SaveState.DENIED, "cd" * 32, now))
    out.append(ConsentRecord(SaveEntity.CONVERSATION_ID, SaveState.ALLOWED, ids[0].hex(), now))
    return out


def _archive(records: list[ArchiveRecord], key: bytes = KEY) -> bytes:
    metadata = ArchiveMetadata((ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT), time.time_ns())
    return b"".join(encode_archive(key, metadata, records, rng=os.urandom))


def _split(archive: bytes) -> tuple[bytes, list[bytes]]:
    plain = zstd.decompress(archive[14:])
    records, pos = [], 0
    while pos < len(plain):
        (length,) = struct.unpack_from("<I", plain, pos)
        records.append(plain[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return archive[:14], records


def _join(header: bytes, records: list[bytes]) -> bytes:
    return header + zstd.compress(b"".join(struct.pack("<I", len(r)) + r for r in records))


def _state(client: Client) -> tuple[object, ...]:
    store = client.store
    return (
        len(store.restored_all()),
        sum(len(store.messages(r.group_id)) for r in store.restored_all()),
        len(store.consents()),
    )


@pytest.fixture
async def alice(node: Node, tmp_path: Path) -> Client:
    client = await new_client(node, tmp_path / "alice.db")
    yield client  # type: ignore[misc]
    await client.close()


def _hostile(own_inbox: str) -> dict[str, tuple[bytes, type[ArchiveError]]]:
    good = _archive(_records(own_inbox))
    header, records = _split(good)
    tampered = list(records)
    last = bytearray(tampered[-2])
    last[5] ^= 1
    tampered[-2] = bytes(last)
    swapped = list(records)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    return {
        "tampered record": (_join(header, tampered), ArchiveError),
        "records reordered": (_join(header, swapped), ArchiveError),
        "truncated frame": (good[: len(good) * 2 // 3], ArchiveTruncatedError),
        "last byte missing": (_join(header, records)[:-1], ArchiveError),
        "another key": (_archive(_records(own_inbox), os.urandom(32)), ArchiveKeyError),
        "garbage": (os.urandom(2000), ArchiveError),
        "header only": (good[:14], ArchiveTruncatedError),
        "empty": (b"", ArchiveTruncatedError),
        "bytes after the frame": (good + b"\x00" * 10, ArchiveError),
        "newer version": (b"\x01\x00" + good[2:], ArchiveError),
    }


async def test_every_hostile_archive_is_refused_and_nothing_is_imported(
    alice: Client, node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await dm.send_text("before")
    before = _state(alice)
    for name, (data, error) in _hostile(alice.inbox_id).items():
        path = tmp_path / f"{name}.archive"
        path.write_bytes(data)
        with pytest.raises(error) as raised:
            await alice.import_archive(path, KEY)
        assert isinstance(raised.value, ArchiveError), name
        assert _state(alice) == before, name
        with pytest.raises(error):
            await import_archive_stream(alice.ctx, data, KEY)
        assert _state(alice) == before, name
    assert alice.conversations.list_restored() == []
    assert alice.preferences.get_consent_state(ConsentEntityType.INBOX, "cd" * 32) is ConsentState.UNKNOWN

    # still works: a good archive imports, the live DM sends
    path = tmp_path / "good.archive"
    path.write_bytes(_archive(_records(alice.inbox_id)))
    summary = await alice.import_archive(path, KEY)
    assert (summary.conversations_restored, summary.messages_imported, summary.consent_changed) == (3, 12, 2)
    await dm.send_text("after")
    assert dm.texts() == ["before", "after"]
    assert KEY.hex() not in caplog.text
    await bob.close()


async def test_over_the_limits(alice: Client, tmp_path: Path) -> None:
    data = _archive(_records(alice.inbox_id))
    path = tmp_path / "big.archive"
    path.write_bytes(data)
    for limits in (
        ArchiveLimits(max_records=6),
        ArchiveLimits(max_record_bytes=40),
        ArchiveLimits(max_decompressed_bytes=600),
    ):
        with pytest.raises(ArchiveLimitError):
            await alice.import_archive(path, KEY, limits=limits)
        assert _state(alice) == (0, 0, 0)

    # a decompression bomb: a record declaring a huge length, then zeros that compress to nothing
    bomb = data[:14] + zstd.compress(struct.pack("<I", 60 * 1024 * 1024) + bytes(50 * 1024 * 1024))
    path.write_bytes(bomb)
    with pytest.raises(ArchiveError):
        await alice.import_archive(path, KEY)

    async def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(ArchiveLimitError):
        await import_archive_stream(alice.ctx, chunks(), KEY, max_bytes=len(data) - 1, spool_dir=spool)
    assert list(spool.iterdir()) == [] and _state(alice) == (0, 0, 0)
    summary = await import_archive_stream(alice.ctx, chunks(), KEY, max_bytes=len(data), spool_dir=spool)
    assert summary.messages_imported == 12
    assert list(spool.iterdir()) == []  # the spooled download is gone once imported


async def test_elements_an_importer_must_not_take_are_skipped(alice: Client, tmp_path: Path) -> None:
    now = time.time_ns()
    foreign_dm, sync_group, orphan_group = os.urandom(16), os.urandom(16), os.urandom(16)
    content = encode_content(Text("x")).to_bytes()
    records: list[ArchiveRecord] = [
        GroupRecord(
            foreign_dm, now, ConversationKind.DM, MembershipState.ALLOWED, dm_id=f"dm:{PEER}:{'ef' * 32}"
        ),
        GroupRecord(sync_group, now, ConversationKind.SYNC, MembershipState.ALLOWED),
        MessageRecord(os.urandom(32), foreign_dm, content, now, PEER, b"i", "text"),
        MessageRecord(os.urandom(32), orphan_group, content, now, PEER, b"i", "text"),
        ConsentRecord(SaveEntity.INBOX_ID, SaveState.ALLOWED, PEER, now),
    ]
    path = tmp_path / "odd.archive"
    path.write_bytes(_archive(records))
    summary = await alice.import_archive(path, KEY)
    assert summary.skipped == 2 and len(summary.skipped_reasons) == 2
    assert summary.conversations_restored == 0
    assert summary.messages_without_conversation == 2 and summary.messages_imported == 0
    assert summary.consent_changed == 1
    assert alice.conversations.list_restored() == []


async def test_consent_merges_by_libxmtps_rule(alice: Client, tmp_path: Path) -> None:
    prefs = alice.preferences
    from pyxmtp.client import Consent

    prefs.set_consent_states([Consent(ConsentEntityType.INBOX, PEER, ConsentState.ALLOWED)])
    held = alice.store.consent(2, PEER)
    assert held is not None
    older = ConsentRecord(SaveEntity.INBOX_ID, SaveState.DENIED, PEER, held.updated_ns - 1)
    path = tmp_path / "older.archive"
    path.write_bytes(_archive([older]))
    summary = await alice.import_archive(path, KEY)
    assert (summary.consent_changed, summary.consent_unchanged) == (0, 1)
    assert prefs.get_consent_state(ConsentEntityType.INBOX, PEER) is ConsentState.ALLOWED
    newer = ConsentRecord(SaveEntity.INBOX_ID, SaveState.DENIED, PEER, held.updated_ns + 1)
    path.write_bytes(_archive([newer]))
    summary = await alice.import_archive(path, KEY)
    assert summary.consent_changed == 1
    assert prefs.get_consent_state(ConsentEntityType.INBOX, PEER) is ConsentState.DENIED


async def test_restored_conversations_go_into_the_next_archive(
    alice: Client, node: Node, tmp_path: Path
) -> None:
    first = tmp_path / "first.archive"
    first.write_bytes(_archive(_records(alice.inbox_id)))
    await alice.import_archive(first, KEY)
    second = tmp_path / "second.archive"
    await alice.create_archive(second, KEY)
    from pyxmtp.conversations.archive import read_archive

    elements = read_archive(second.read_bytes(), KEY).elements
    groups = [e for e in elements if isinstance(e, GroupRecord)]
    assert len(groups) == 3 and {g.membership_state for g in groups} == {MembershipState.RESTORED}
    assert sorted(g.name for g in groups) == ["group 0", "group 1", "group 2"]
    assert len([e for e in elements if isinstance(e, MessageRecord)]) == 12
    carol = await new_client(node, tmp_path / "carol.db")
    summary = await carol.import_archive(second, KEY)
    assert (summary.conversations_restored, summary.messages_imported) == (3, 12)
    assert sorted(c.texts()[0] for c in carol.conversations.list_restored()) == ["message 0"] * 3
    await carol.close()


async def test_a_downloaded_archive_is_deleted_imported_or_not(alice: Client, tmp_path: Path) -> None:
    from pyxmtp.client.archive import import_archive_file

    bad, good = tmp_path / "bad.archive", tmp_path / "good.archive"
    bad.write_bytes(_archive(_records(alice.inbox_id), os.urandom(32)))
    good.write_bytes(_archive(_records(alice.inbox_id)))
    with pytest.raises(ArchiveKeyError):
        import_archive_file(alice.ctx, bad, KEY, remove=True)
    assert not bad.exists() and _state(alice) == (0, 0, 0)
    assert import_archive_file(alice.ctx, good, KEY, remove=True).messages_imported == 12
    assert not good.exists()
