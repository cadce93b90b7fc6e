"""The device-sync archive format (libxmtp's ``xmtp_archive``), sans-IO: round trips, streaming at any chunking,
and every kind of hostile archive refused with a typed error that names the fault, before anything is returned.

Hostile archives are built here from raw parts (header, length prefixes, AES-GCM records, a zstd frame) so that
each test breaks exactly one thing. libxmtp's own archives are read in tests/client/test_archive_libxmtp_interop.py.
"""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxmtp.conversations.archive import (
    HEADER_SIZE,
    ArchiveArgumentError,
    ArchiveElementKind,
    ArchiveError,
    ArchiveKeyError,
    ArchiveLimitError,
    ArchiveLimits,
    ArchiveMetadata,
    ArchiveReader,
    ArchiveTruncatedError,
    ArchiveWriter,
    ConsentEntityType,
    ConsentRecord,
    ConsentState,
    ConversationKind,
    GroupRecord,
    MembershipState,
    MessageRecord,
    SkippedElement,
    archive_metadata,
    encode_archive,
    iter_archive,
    read_archive,
)
from pyxmtp.conversations.archive._zstd import zstd
from pyxmtp.mls.errors import LocalMLSError, RemoteMLSError
from pyxmtp.proto.device_sync import (
    consent_backup_pb2,
    device_sync_pb2,
    event_backup_pb2,
    group_backup_pb2,
    message_backup_pb2,
)

KEY = bytes(range(32))
METADATA = ArchiveMetadata(
    (ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT), 1_700_000_000_000_000_000
)
GROUP = GroupRecord(
    id=b"\x11" * 16,
    created_at_ns=5,
    conversation_type=ConversationKind.GROUP,
    membership_state=MembershipState.ALLOWED,
    creator_inbox_id="aa" * 32,
    attributes={"group_name": "team", "description": "d"},
    super_admins=("aa" * 32,),
)
DM = GroupRecord(
    id=b"\x22" * 16,
    created_at_ns=6,
    conversation_type=ConversationKind.DM,
    membership_state=MembershipState.ALLOWED,
    dm_id="dm:" + "aa" * 32 + ":" + "bb" * 32,
)
CONSENT = ConsentRecord(ConsentEntityType.INBOX_ID, ConsentState.DENIED, "cc" * 32, 7)


def message(i: int, group: bytes = GROUP.id, size: int = 40) -> MessageRecord:
    return MessageRecord(
        id=i.to_bytes(32, "big"),
        group_id=group,
        content=bytes([i % 251]) * size,
        sent_at_ns=1000 + i,
        sender_inbox_id="aa" * 32,
        sender_installation_id=b"\x33" * 32,
        content_type="text",
        sequence_id=i,
        originator_id=10,
    )


RECORDS = [GROUP, DM, message(1), message(2, DM.id), CONSENT]


def fixed_rng(value: bytes) -> object:
    return lambda n: value[:n]


def archive(records: list = RECORDS, key: bytes = KEY, metadata: ArchiveMetadata = METADATA) -> bytes:  # type: ignore[type-arg]
    return b"".join(encode_archive(key, metadata, records, rng=os.urandom))


# --- raw construction of (hostile) archives -------------------------------------------------------------------


def element_bytes(element: device_sync_pb2.BackupElement) -> bytes:
    return element.SerializeToString()


META_BYTES = element_bytes(
    device_sync_pb2.BackupElement(
        metadata=device_sync_pb2.BackupMetadataSave(elements=[1, 2], exported_at_ns=9)
    )
)
CONSENT_BYTES = element_bytes(
    device_sync_pb2.BackupElement(
        consent=consent_backup_pb2.ConsentSave(entity_type=2, state=2, entity="dd", consented_at_ns=1)
    )
)


def sealed_records(
    plaintexts: list[bytes], nonce0: bytes, key: bytes = KEY, *, legacy: bool = False
) -> bytes:
    """``len || AES-GCM`` for each plaintext under nonce0 + i (all under nonce0 when ``legacy``)."""
    aead = AESGCM(key[:32])
    start = int.from_bytes(nonce0, "little")
    out = b""
    for i, plaintext in enumerate(plaintexts):
        nonce = ((start + (0 if legacy else i)) % 2**96).to_bytes(12, "little")
        ct = aead.encrypt(nonce, plaintext, None)
        out += struct.pack("<I", len(ct)) + ct
    return out


def container(records: bytes, nonce0: bytes = b"\x07" * 12, version: int = 0) -> bytes:
    return struct.pack("<H", version) + nonce0 + zstd.compress(records)


def raw_archive(plaintexts: list[bytes], nonce0: bytes = b"\x07" * 12, **kw: object) -> bytes:
    return container(sealed_records(plaintexts, nonce0, **kw), nonce0)  # type: ignore[arg-type]


# --- round trips -------------------------------------------------------------------------------------------------


def test_round_trip_returns_the_metadata_and_every_record_in_order() -> None:
    data = archive()
    assert data[:2] == b"\x00\x00"
    result = read_archive(data, KEY)
    assert result.metadata == METADATA
    assert list(result.elements) == RECORDS
    assert archive_metadata(data, KEY) == METADATA


def test_the_compressed_part_is_one_zstd_frame_flushed_every_8000_bytes() -> None:
    records = [message(i, size=1000) for i in range(40)]  # ~42 kB of records: several flushes
    writer = ArchiveWriter(KEY, METADATA, rng=os.urandom)
    outputs = [writer.write(r) for r in records]
    outputs.append(writer.finish())
    assert sum(1 for o in outputs if o) >= 4  # flushed blocks come out as the archive is written
    data = b"".join(outputs)
    decompressor = zstd.ZstdDecompressor()
    plain = decompressor.decompress(data[HEADER_SIZE:])
    assert decompressor.eof and not decompressor.unused_data
    assert len(plain) > 40 * 1000  # every record is in that one frame
    assert list(read_archive(data, KEY).elements) == records


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
    st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=8),
)
def test_any_chunking_of_any_archive_reads_the_same(sizes: list[int], cuts: list[int]) -> None:
    records = [message(i, size=s) for i, s in enumerate(sizes)]
    data = archive(records)
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        step = cuts[i % len(cuts)]
        chunks.append(data[pos : pos + step])
        pos, i = pos + step, i + 1
    elements = list(iter_archive(chunks, KEY))
    assert elements == [METADATA, *records]


def test_byte_by_byte_feeding_works() -> None:
    data = archive()
    reader = ArchiveReader(KEY)
    out = []
    for b in data:
        out.extend(reader.feed(bytes([b])))
    reader.close()
    assert out == RECORDS and reader.metadata == METADATA


def test_a_key_longer_than_32_bytes_uses_its_first_32() -> None:
    data = archive(key=KEY + b"ignored tail")
    assert list(read_archive(data, KEY).elements) == RECORDS
    assert list(read_archive(data, KEY + b"other tail").elements) == RECORDS


def test_nonces_count_little_endian_and_wrap() -> None:
    data = b"".join(encode_archive(KEY, METADATA, [CONSENT], rng=fixed_rng(b"\xff" * 12)))  # type: ignore[arg-type]
    assert data[2:HEADER_SIZE] == b"\xff" * 12
    plain = zstd.decompress(data[HEADER_SIZE:])
    (len0,) = struct.unpack_from("<I", plain)
    second = plain[4 + len0 + 4 :]
    # record 1 is sealed under ff..ff + 1 = 00..00
    assert AESGCM(KEY).decrypt(bytes(12), second, None) == element_bytes(
        device_sync_pb2.BackupElement(
            consent=consent_backup_pb2.ConsentSave(
                entity_type=2, state=3, entity="cc" * 32, consented_at_ns=7
            )
        )
    )
    assert list(read_archive(data, KEY).elements) == [CONSENT]
    # and 01 00.. + 1 = 02 00..: byte 0 is the least significant
    assert read_archive(raw_archive([META_BYTES, CONSENT_BYTES], b"\x01" + bytes(11)), KEY).elements


def test_legacy_archives_with_every_record_under_the_first_nonce_still_read() -> None:
    data = raw_archive([META_BYTES, CONSENT_BYTES, CONSENT_BYTES], legacy=True)
    result = read_archive(data, KEY)
    assert len(result.elements) == 2 and all(isinstance(e, ConsentRecord) for e in result.elements)


def test_archive_metadata_reads_only_the_header_and_record_0() -> None:
    assert archive_metadata(raw_archive([META_BYTES]), KEY).exported_at_ns == 9
    # an archive whose record 2 is forged: the metadata still reads, the archive does not
    good = sealed_records([META_BYTES, CONSENT_BYTES, CONSENT_BYTES], b"\x07" * 12)
    forged = good[:-1] + bytes([good[-1] ^ 1])
    data = container(forged)
    assert archive_metadata(data, KEY).elements == (ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT)
    with pytest.raises(ArchiveError) as exc:
        read_archive(data, KEY)
    assert exc.value.record == 2


# --- hostile archives: each refused with a precise, typed error --------------------------------------------------


def test_a_tampered_record_is_refused_naming_it() -> None:
    records = sealed_records([META_BYTES, CONSENT_BYTES, CONSENT_BYTES, CONSENT_BYTES], b"\x07" * 12)
    # flip one ciphertext byte of record 2 (each consent record is 4 + len(ct) bytes)
    meta_len = 4 + struct.unpack_from("<I", records)[0]
    rec_len = 4 + struct.unpack_from("<I", records, meta_len)[0]
    at = meta_len + 2 * rec_len - 3
    tampered = records[:at] + bytes([records[at] ^ 0x80]) + records[at + 1 :]
    with pytest.raises(ArchiveError, match=r"archive record 2: does not authenticate") as exc:
        read_archive(container(tampered), KEY)
    assert exc.value.record == 2 and isinstance(exc.value, RemoteMLSError)


def test_swapped_or_dropped_records_are_refused() -> None:
    a = sealed_records([META_BYTES, CONSENT_BYTES, CONSENT_BYTES, CONSENT_BYTES], b"\x07" * 12)
    meta_len = 4 + struct.unpack_from("<I", a)[0]
    rec_len = 4 + struct.unpack_from("<I", a, meta_len)[0]
    r1, r2, r3 = (a[meta_len + k * rec_len : meta_len + (k + 1) * rec_len] for k in range(3))
    for body in (r2 + r1 + r3, r1 + r3, r3):  # reordered, the middle one dropped, two dropped
        with pytest.raises(ArchiveError, match="does not authenticate"):
            read_archive(container(a[:meta_len] + body), KEY)


def test_a_flipped_bit_in_the_compressed_stream_is_refused() -> None:
    data = archive([message(i, size=200) for i in range(20)])
    for at in range(HEADER_SIZE, len(data), max(1, len(data) // 40)):
        corrupt = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
        with pytest.raises(ArchiveError):
            read_archive(corrupt, KEY)


def test_every_truncation_is_refused() -> None:
    data = archive()
    for cut in range(len(data)):
        with pytest.raises(ArchiveError):
            read_archive(data[:cut], KEY)
    with pytest.raises(ArchiveTruncatedError, match="inside its 14-byte header"):
        read_archive(data[:5], KEY)
    with pytest.raises(ArchiveTruncatedError, match="inside its zstd frame"):
        read_archive(data[:-3], KEY)


def test_a_frame_that_ends_inside_a_record_or_before_the_metadata_is_truncated() -> None:
    records = sealed_records([META_BYTES, CONSENT_BYTES], b"\x07" * 12)
    meta_len = 4 + struct.unpack_from("<I", records)[0]
    with pytest.raises(ArchiveTruncatedError, match="record 1: the archive ends inside a record"):
        read_archive(container(records[:-5]), KEY)  # inside its ciphertext
    with pytest.raises(ArchiveTruncatedError, match="record 1: the archive ends inside a record"):
        read_archive(container(records[: meta_len + 2]), KEY)  # inside its length prefix
    assert read_archive(container(records[:meta_len]), KEY).elements == ()  # (see the format caveat)
    with pytest.raises(ArchiveTruncatedError, match="before its metadata record"):
        read_archive(container(b""), KEY)


def test_another_key_is_refused_at_record_0() -> None:
    data = archive()
    with pytest.raises(ArchiveKeyError, match="record 0: does not decrypt"):
        read_archive(data, os.urandom(32))
    with pytest.raises(ArchiveKeyError):
        archive_metadata(data, os.urandom(32))


def test_a_newer_version_is_refused() -> None:
    data = archive()
    with pytest.raises(ArchiveError, match="unsupported archive version 1"):
        read_archive(b"\x01\x00" + data[2:], KEY)


def test_a_zstd_bomb_is_stopped_early() -> None:
    """A frame of zeros that inflates a thousandfold, behind a record length that keeps the reader buffering."""
    nonce = b"\x07" * 12
    compressor = zstd.ZstdCompressor()
    body = compressor.compress(struct.pack("<I", 60 * 1024 * 1024))
    zeros = bytes(1024 * 1024)
    for _ in range(200):  # 200 MiB of plaintext
        body += compressor.compress(zeros)
    body += compressor.flush()
    assert len(body) < 100_000
    reader = ArchiveReader(KEY)
    with pytest.raises(ArchiveLimitError, match="decompression bomb"):
        reader.feed(b"\x00\x00" + nonce + body)


def test_a_huge_record_length_is_refused_before_buffering() -> None:
    data = container(sealed_records([META_BYTES], b"\x07" * 12) + struct.pack("<I", 0xFFFFFFFF) + b"x" * 10)
    with pytest.raises(ArchiveLimitError, match=r"record 1: declares 4294967295 bytes"):
        read_archive(data, KEY)


def test_a_record_shorter_than_its_tag_is_refused() -> None:
    data = container(sealed_records([META_BYTES], b"\x07" * 12) + struct.pack("<I", 15) + b"x" * 15)
    with pytest.raises(ArchiveError, match="fewer than its 16-byte tag"):
        read_archive(data, KEY)


def test_limits_on_records_and_size_apply() -> None:
    data = archive([message(i) for i in range(10)])
    with pytest.raises(ArchiveLimitError, match="more than 5 records"):
        read_archive(data, KEY, limits=ArchiveLimits(max_records=5))
    with pytest.raises(ArchiveLimitError, match="more than 300 bytes"):
        read_archive(data, KEY, limits=ArchiveLimits(max_decompressed_bytes=300))
    with pytest.raises(ArchiveLimitError, match="over the limit of 50"):
        read_archive(data, KEY, limits=ArchiveLimits(max_record_bytes=50))


def test_bytes_after_the_frame_are_refused() -> None:
    with pytest.raises(ArchiveError, match="bytes after the end"):
        read_archive(archive() + b"\x00", KEY)
    with pytest.raises(ArchiveError, match="bytes after the end"):
        read_archive(archive() + zstd.compress(b"second frame"), KEY)


def test_a_first_record_that_is_not_metadata_or_not_protobuf_is_refused() -> None:
    with pytest.raises(ArchiveError, match="record 0: is not the archive metadata"):
        read_archive(raw_archive([CONSENT_BYTES]), KEY)
    with pytest.raises(ArchiveError, match="record 1: decrypts but is not a BackupElement"):
        read_archive(raw_archive([META_BYTES, b"\xff\xff\xff"]), KEY)


def test_elements_libxmtp_would_skip_read_as_skipped_elements() -> None:
    def el(**kw: object) -> bytes:
        return element_bytes(device_sync_pb2.BackupElement(**kw))  # type: ignore[arg-type]

    plaintexts = [
        META_BYTES,
        el(group=group_backup_pb2.GroupSave(id=b"\x01", conversation_type=2)),  # DM without dm_id
        el(consent=consent_backup_pb2.ConsentSave(entity_type=3, state=2, entity="0xabc")),  # address
        el(consent=consent_backup_pb2.ConsentSave(entity_type=2, state=0, entity="x")),  # unspecified state
        el(group_message=message_backup_pb2.GroupMessageSave(id=b"\x01", group_id=b"\x02", kind=9)),
        el(event=event_backup_pb2.EventSave(event="e")),
        b"",  # an empty element
        META_BYTES,
        el(group=group_backup_pb2.GroupSave(id=b"", conversation_type=1)),
        CONSENT_BYTES,
    ]
    elements = read_archive(raw_archive(plaintexts), KEY).elements
    assert [type(e) for e in elements] == [SkippedElement] * 8 + [ConsentRecord]
    reasons = [e.reason for e in elements if isinstance(e, SkippedElement)]
    assert reasons == [
        "DM without dm_id",
        "consent for an address (deprecated entity type)",
        "unknown consent state 0",
        "unknown message kind 9",
        "a deprecated event element",
        "an empty element",
        "a second metadata element",
        "group without an id",
    ]
    assert [e.index for e in elements if isinstance(e, SkippedElement)] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_the_deprecated_content_type_enum_wins_when_it_names_a_type() -> None:
    plaintexts = [
        META_BYTES,
        element_bytes(
            device_sync_pb2.BackupElement(
                group_message=message_backup_pb2.GroupMessageSave(
                    id=b"\x01", group_id=b"\x02", kind=1, delivery_status=2, content_type_save=5
                )
            )
        ),
    ]
    (only,) = read_archive(raw_archive(plaintexts), KEY).elements
    assert isinstance(only, MessageRecord) and only.content_type == "reaction"


def test_a_failed_reader_refuses_further_use() -> None:
    reader = ArchiveReader(KEY)
    with pytest.raises(ArchiveKeyError):
        reader.feed(archive(key=os.urandom(32)))
    with pytest.raises(ArchiveArgumentError, match="already failed"):
        reader.feed(b"")
    done = ArchiveReader(KEY)
    done.feed(archive())
    done.close()
    with pytest.raises(ArchiveArgumentError, match="closed"):
        done.feed(b"")


# --- misuse by the caller ---------------------------------------------------------------------------------------


def test_short_keys_and_unarchivable_values_are_the_callers_fault() -> None:
    for bad in (b"", bytes(31)):
        with pytest.raises(ArchiveArgumentError, match="at least 32 bytes"):
            ArchiveWriter(bad, METADATA, rng=os.urandom)
        with pytest.raises(ArchiveArgumentError, match="at least 32 bytes"):
            ArchiveReader(bad)
    writer = ArchiveWriter(KEY, METADATA, rng=os.urandom)
    no_dm_id = GroupRecord(b"\x01", 0, ConversationKind.DM, MembershipState.ALLOWED)
    with pytest.raises(ArchiveArgumentError, match="DM without dm_id"):
        writer.write(no_dm_id)
    with pytest.raises(ArchiveArgumentError, match="cannot archive a str"):
        writer.write("hello")  # type: ignore[arg-type]
    writer.finish()
    with pytest.raises(ArchiveArgumentError, match="already finished"):
        writer.write(CONSENT)
    with pytest.raises(ArchiveArgumentError, match="EVENT"):
        ArchiveWriter(KEY, ArchiveMetadata((ArchiveElementKind.EVENT,), 1), rng=os.urandom)
    with pytest.raises(ArchiveArgumentError, match="12 bytes"):
        ArchiveWriter(KEY, METADATA, rng=lambda n: b"short")
    assert issubclass(ArchiveArgumentError, LocalMLSError)


def test_the_key_and_message_contents_never_show() -> None:
    key = bytes.fromhex("5e" * 32)
    data = archive([message(1, size=20)], key=key)
    writer = ArchiveWriter(key, METADATA, rng=os.urandom)
    reader = ArchiveReader(key)
    texts = [repr(writer), repr(reader), repr(message(1)), repr(read_archive(data, key))]
    for wrong in (data[:-2], data[:20] + b"\x00" + data[21:]):
        try:
            read_archive(wrong, key)
        except ArchiveError as exc:
            texts.append(str(exc) + repr(exc))
    assert len(texts) > 4
    for text in texts:
        assert "5e5e" not in text and "^^^^" not in text and key.hex() not in text
        assert "\\x01\\x01\\x01\\x01" not in text  # message(1)'s content bytes
