"""ClientStore: the client's SQLite database, on real files in tmp_path.

Persistence across close/reopen, all-or-nothing transactions (nested ones join the outer one), key-package
retirement and expiry, message de-duplication, publication of our own messages, ordering, and that deleted
key material is really gone from the database file (secure_delete).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyxmtp.client.store import ClientStore, ConversationRecord, KeyPackageRecord, MessageRecord

GROUP = b"\x01" * 16
OTHER_GROUP = b"\x02" * 16


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "client.db3"


@pytest.fixture
def store(db_path: Path) -> Iterator[ClientStore]:
    s = ClientStore(db_path)
    yield s
    s.close()


def key_package(hpke: bytes, *, created_ns: int = 1, wrapper: bytes | None = None) -> KeyPackageRecord:
    return KeyPackageRecord(hpke, b"bundle-" + hpke, wrapper, created_ns, None)


def message(
    message_id: bytes,
    sent_ns: int,
    *,
    group_id: bytes = GROUP,
    content: bytes = b"hello",
    published: bool = True,
    server_id: int | None = 1,
) -> MessageRecord:
    return MessageRecord(
        message_id, group_id, server_id, "inbox-a", b"\xaa" * 32, sent_ns, content, published
    )


def other_connection(path: Path) -> sqlite3.Connection:
    """A second, independent connection to the same file: it sees only what has been committed."""
    return sqlite3.connect(str(path), isolation_level=None)


def committed_cursor(path: Path, name: str) -> int | None:
    conn = other_connection(path)
    try:
        row = conn.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])
    finally:
        conn.close()


def committed_count(path: Path, table: str) -> int:
    conn = other_connection(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


# --- persistence --------------------------------------------------------------------------------------------


def test_new_database_is_empty(store: ClientStore) -> None:
    assert store.installation() is None
    assert store.key_package_count() == 0
    assert store.key_package(b"x" * 32) is None
    assert store.cursor("welcomes") == 0
    assert store.conversations() == []
    assert store.conversation(GROUP) is None
    assert store.messages(GROUP) == []


def test_everything_survives_close_and_reopen(db_path: Path) -> None:
    seed, hmac_key = os.urandom(32), os.urandom(32)
    kp_plain = KeyPackageRecord(os.urandom(32), os.urandom(500), None, 11, None)
    kp_wrapped = KeyPackageRecord(os.urandom(32), os.urandom(500), os.urandom(32), 12, 99)
    conv_a = ConversationRecord(GROUP, os.urandom(2000), 17, 100, "inbox-creator")
    conv_b = ConversationRecord(OTHER_GROUP, os.urandom(300), 0, 50, "inbox-other")
    own = MessageRecord(b"m-own", GROUP, None, "inbox-me", b"\x01" * 32, 5, b"mine", False)
    theirs = MessageRecord(b"m-theirs", GROUP, 42, "inbox-you", b"\x02" * 32, 7, b"yours", True)

    s = ClientStore(db_path)
    s.set_installation(seed, "inbox-me", 3, hmac_key)
    s.add_key_package(kp_plain)
    s.add_key_package(kp_wrapped)
    s.set_cursor("welcomes", 1234)
    s.set_cursor("welcomes", 1235)  # an update, not a second row
    s.set_cursor("other", 7)
    s.save_conversation(conv_a)
    s.save_conversation(conv_b)
    assert s.add_message(own, payload_hash=b"h" * 32)
    assert s.add_message(theirs)
    s.close()

    r = ClientStore(db_path)
    try:
        assert r.installation() == (seed, "inbox-me", 3, hmac_key)
        assert r.key_package_count() == 2
        assert r.key_package(kp_plain.hpke_public_key) == kp_plain
        assert r.key_package(kp_wrapped.hpke_public_key) == kp_wrapped
        assert r.cursor("welcomes") == 1235
        assert r.cursor("other") == 7
        assert r.cursor("never-set") == 0
        assert r.conversation(GROUP) == conv_a
        assert r.conversations() == [conv_b, conv_a]  # by created_ns
        assert r.messages(GROUP) == [own, theirs]
        assert r.messages(OTHER_GROUP) == []
        assert r.is_own_payload(b"h" * 32)
        # the own message is still unpublished after the reopen: the node's echo can be matched
        assert r.mark_published(b"h" * 32, 43, 6)
    finally:
        r.close()


def test_installation_is_set_once(store: ClientStore) -> None:
    store.set_installation(b"s" * 32, "inbox-1", 0, b"k" * 32)
    with pytest.raises(sqlite3.IntegrityError):
        store.set_installation(b"t" * 32, "inbox-2", 1, b"l" * 32)
    assert store.installation() == (b"s" * 32, "inbox-1", 0, b"k" * 32)


def test_update_conversation_survives_reopen(db_path: Path) -> None:
    s = ClientStore(db_path)
    s.save_conversation(ConversationRecord(GROUP, b"epoch-1", 10, 1, "creator"))
    s.update_conversation(GROUP, b"epoch-2", 11)
    s.close()
    r = ClientStore(db_path)
    try:
        assert r.conversation(GROUP) == ConversationRecord(GROUP, b"epoch-2", 11, 1, "creator")
    finally:
        r.close()


def test_save_conversation_never_overwrites_replace_conversation_does(store: ClientStore) -> None:
    store.save_conversation(ConversationRecord(GROUP, b"old", 10, 1, "a"))
    with pytest.raises(sqlite3.IntegrityError):
        store.save_conversation(ConversationRecord(GROUP, b"new", 0, 2, "b"))
    assert store.conversations() == [ConversationRecord(GROUP, b"old", 10, 1, "a")]
    store.replace_conversation(ConversationRecord(GROUP, b"new", 0, 2, "b"))
    assert store.conversations() == [ConversationRecord(GROUP, b"new", 0, 2, "b")]


def test_in_memory_store_works_and_is_gone_when_closed() -> None:
    s = ClientStore()
    assert s.path is None
    s.set_cursor("c", 5)
    assert s.cursor("c") == 5
    s.close()
    t = ClientStore()
    try:
        assert t.cursor("c") == 0
    finally:
        t.close()


# --- transactions -------------------------------------------------------------------------------------------


def test_transaction_commits_everything_together(store: ClientStore, db_path: Path) -> None:
    store.save_conversation(ConversationRecord(GROUP, b"epoch-1", 10, 1, "creator"))
    with store.transaction():
        store.update_conversation(GROUP, b"epoch-2", 11)
        store.set_cursor("group", 11)
        assert store.add_message(message(b"m1", 5))
        # inside: visible to the store itself, not yet to anyone else
        assert store.cursor("group") == 11
        assert committed_cursor(db_path, "group") is None
        assert committed_count(db_path, "messages") == 0
    assert committed_cursor(db_path, "group") == 11
    assert committed_count(db_path, "messages") == 1
    store.close()
    r = ClientStore(db_path)
    try:
        assert r.conversation(GROUP) == ConversationRecord(GROUP, b"epoch-2", 11, 1, "creator")
        assert r.cursor("group") == 11
        assert [m.message_id for m in r.messages(GROUP)] == [b"m1"]
    finally:
        r.close()


class Boom(Exception):
    pass


def test_transaction_rolls_back_everything_on_an_exception(store: ClientStore, db_path: Path) -> None:
    store.save_conversation(ConversationRecord(GROUP, b"epoch-1", 10, 1, "creator"))
    store.set_cursor("group", 10)
    store.add_key_package(key_package(b"a" * 32))
    with pytest.raises(Boom), store.transaction():
        store.update_conversation(GROUP, b"epoch-2", 11)
        store.set_cursor("group", 11)
        assert store.add_message(message(b"m1", 5))
        store.add_key_package(key_package(b"b" * 32))
        assert store.delete_expired_key_packages(0) == 0
        store.retire_key_packages(b"b" * 32, 1)
        raise Boom
    # nothing of it is left, in this connection or in the file
    assert store.conversation(GROUP) == ConversationRecord(GROUP, b"epoch-1", 10, 1, "creator")
    assert store.cursor("group") == 10
    assert store.messages(GROUP) == []
    assert store.key_package(b"b" * 32) is None
    assert store.key_package(b"a" * 32) == key_package(b"a" * 32)  # not scheduled by the rolled-back retire
    store.close()
    r = ClientStore(db_path)
    try:
        assert r.conversation(GROUP) == ConversationRecord(GROUP, b"epoch-1", 10, 1, "creator")
        assert r.cursor("group") == 10
        assert r.messages(GROUP) == []
        assert r.key_package_count() == 1
    finally:
        r.close()


def test_a_failing_statement_rolls_back_the_writes_before_it(store: ClientStore) -> None:
    store.add_key_package(key_package(b"a" * 32))
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.set_cursor("group", 11)
        store.add_key_package(key_package(b"a" * 32))  # duplicate primary key
    assert store.cursor("group") == 0
    assert store.key_package_count() == 1


def test_store_is_usable_after_a_rollback(store: ClientStore, db_path: Path) -> None:
    with pytest.raises(Boom), store.transaction():
        store.set_cursor("c", 1)
        raise Boom
    with store.transaction():
        store.set_cursor("c", 2)
    assert committed_cursor(db_path, "c") == 2
    store.set_cursor("d", 3)  # autocommit again outside a transaction
    assert committed_cursor(db_path, "d") == 3


def test_nested_transaction_joins_the_outer_one(store: ClientStore, db_path: Path) -> None:
    with store.transaction():
        store.set_cursor("outer", 1)
        with store.transaction():
            store.set_cursor("inner", 2)
        # leaving the inner block committed nothing
        assert committed_cursor(db_path, "inner") is None
        assert committed_cursor(db_path, "outer") is None
        with store.transaction(), store.transaction():  # deeper still
            store.set_cursor("deep", 3)
        assert committed_cursor(db_path, "deep") is None
    assert committed_cursor(db_path, "outer") == 1
    assert committed_cursor(db_path, "inner") == 2
    assert committed_cursor(db_path, "deep") == 3


def test_outer_failure_rolls_back_a_finished_inner_transaction(store: ClientStore, db_path: Path) -> None:
    with pytest.raises(Boom), store.transaction():
        with store.transaction():
            store.set_cursor("inner", 2)
            assert store.add_message(message(b"m1", 5))
        store.set_cursor("outer", 1)
        raise Boom
    assert store.cursor("inner") == 0
    assert store.cursor("outer") == 0
    assert store.messages(GROUP) == []
    assert committed_count(db_path, "cursors") == 0
    # the depth is back to 0: a new transaction really begins and commits
    with store.transaction():
        store.set_cursor("after", 9)
    assert committed_cursor(db_path, "after") == 9


def test_inner_failure_rolls_back_the_outer_writes_too(store: ClientStore, db_path: Path) -> None:
    with pytest.raises(Boom), store.transaction():
        store.set_cursor("outer", 1)
        with store.transaction():
            store.set_cursor("inner", 2)
            raise Boom
    assert store.cursor("outer") == 0
    assert store.cursor("inner") == 0
    assert committed_count(db_path, "cursors") == 0


# --- key packages -------------------------------------------------------------------------------------------


def delete_at(store: ClientStore, hpke: bytes) -> int | None:
    record = store.key_package(hpke)
    assert record is not None
    return record.delete_at_ns


def test_retire_schedules_all_others_once_and_keeps_earlier_schedules(store: ClientStore) -> None:
    a, b, c = b"a" * 32, b"b" * 32, b"c" * 32
    for hpke in (a, b, c):
        store.add_key_package(key_package(hpke))
    store.retire_key_packages(c, 100)
    assert (delete_at(store, a), delete_at(store, b), delete_at(store, c)) == (100, 100, None)

    # retiring again, later, does not move the earlier schedule
    store.retire_key_packages(c, 500)
    assert (delete_at(store, a), delete_at(store, b), delete_at(store, c)) == (100, 100, None)

    # a newer key package replaces c: c is scheduled now, a and b keep theirs
    d = b"d" * 32
    store.add_key_package(key_package(d))
    store.retire_key_packages(d, 300)
    assert [delete_at(store, k) for k in (a, b, c, d)] == [100, 100, 300, None]

    # keeping one that is already scheduled does not unschedule it
    store.retire_key_packages(a, 900)
    assert [delete_at(store, k) for k in (a, b, c, d)] == [100, 100, 300, 900]


def test_delete_expired_deletes_exactly_those_due(store: ClientStore) -> None:
    a, b, c, d = b"a" * 32, b"b" * 32, b"c" * 32, b"d" * 32
    for hpke in (a, b, c):
        store.add_key_package(key_package(hpke))
    store.retire_key_packages(c, 100)
    store.add_key_package(key_package(d))
    store.retire_key_packages(d, 300)  # schedules c at 300

    assert store.delete_expired_key_packages(0) == 0
    assert store.delete_expired_key_packages(99) == 0
    assert store.key_package_count() == 4
    assert store.delete_expired_key_packages(100) == 2  # due exactly at 100: deleted
    assert store.key_package(a) is None and store.key_package(b) is None
    assert store.key_package(c) is not None and store.key_package(d) is not None
    assert store.delete_expired_key_packages(299) == 0
    assert store.delete_expired_key_packages(300) == 1
    assert store.key_package(c) is None
    # the kept one stays, however late
    assert store.delete_expired_key_packages(2**62) == 0
    assert store.key_package(d) == key_package(d)
    assert store.key_package_count() == 1


def test_a_key_package_added_with_a_schedule_expires_on_it(store: ClientStore) -> None:
    record = KeyPackageRecord(b"a" * 32, b"bundle", b"w" * 32, 1, 50)
    store.add_key_package(record)
    store.add_key_package(key_package(b"b" * 32))
    store.retire_key_packages(b"b" * 32, 1000)  # does not move the earlier schedule
    assert delete_at(store, b"a" * 32) == 50
    assert store.delete_expired_key_packages(50) == 1
    assert store.key_package(b"a" * 32) is None


# --- messages -----------------------------------------------------------------------------------------------


def test_duplicate_message_id_is_refused_and_the_first_stays(store: ClientStore) -> None:
    first = message(b"m1", 10, content=b"first")
    assert store.add_message(first)
    assert not store.add_message(message(b"m1", 5, content=b"second", server_id=99))
    assert not store.add_message(message(b"m1", 10, content=b"third", group_id=OTHER_GROUP))
    assert store.messages(GROUP) == [first]
    assert store.messages(OTHER_GROUP) == []


def test_mark_published_only_for_an_own_unpublished_payload(store: ClientStore) -> None:
    own_hash, published_hash = b"\x11" * 32, b"\x22" * 32
    own = MessageRecord(b"own", GROUP, None, "inbox-me", b"\x01" * 32, 1000, b"mine", False)
    already = MessageRecord(b"already", GROUP, 3, "inbox-me", b"\x01" * 32, 500, b"done", True)
    received = message(b"theirs", 700)
    assert store.add_message(own, payload_hash=own_hash)
    assert store.add_message(already, payload_hash=published_hash)
    assert store.add_message(received)

    assert not store.mark_published(b"\x33" * 32, 9, 1)  # nobody's payload
    assert not store.mark_published(published_hash, 9, 1)  # ours, but already published
    assert store.is_own_payload(own_hash) and not store.is_own_payload(b"\x33" * 32)

    assert store.mark_published(own_hash, 77, 600)
    by_id = {m.message_id: m for m in store.messages(GROUP)}
    assert by_id[b"own"] == MessageRecord(b"own", GROUP, 77, "inbox-me", b"\x01" * 32, 600, b"mine", True)
    assert by_id[b"already"] == already
    assert by_id[b"theirs"] == received
    # the node's time now orders it
    assert [m.message_id for m in store.messages(GROUP)] == [b"already", b"own", b"theirs"]

    # a second echo of the same payload changes nothing
    assert not store.mark_published(own_hash, 78, 601)
    assert by_id[b"own"] == next(m for m in store.messages(GROUP) if m.message_id == b"own")


def test_messages_are_ordered_by_sent_ns_per_group(store: ClientStore) -> None:
    for mid, sent in ((b"c", 30), (b"a", 10), (b"x", 20), (b"b", 20), (b"z", 5)):
        group = OTHER_GROUP if mid == b"z" else GROUP
        assert store.add_message(message(mid, sent, group_id=group))
    # by sent_ns; equal times in the order stored
    assert [m.message_id for m in store.messages(GROUP)] == [b"a", b"x", b"b", b"c"]
    assert [m.message_id for m in store.messages(OTHER_GROUP)] == [b"z"]


# --- secure deletion ----------------------------------------------------------------------------------------


def test_secure_delete_is_on(store: ClientStore, db_path: Path) -> None:
    assert store._db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    store.close()
    r = ClientStore(db_path)  # on every connection, not just the one that created the file
    try:
        assert r._db.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert r._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        r.close()


def checkpoint(store: ClientStore) -> None:
    busy, _, _ = store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0


def file_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize("padding", [0, 5000], ids=["small", "overflow-pages"])
def test_deleted_key_material_is_gone_from_the_file(store: ClientStore, db_path: Path, padding: int) -> None:
    hpke, bundle_marker, wrapper = os.urandom(64), os.urandom(64), os.urandom(64)
    bundle = os.urandom(padding) + bundle_marker + os.urandom(padding)
    # neighbours on the same pages, which must survive
    for i in range(10):
        store.add_key_package(KeyPackageRecord(os.urandom(32), os.urandom(200), os.urandom(32), i, None))
    store.add_key_package(KeyPackageRecord(hpke, bundle, wrapper, 1, None))
    keep = os.urandom(32)
    store.add_key_package(KeyPackageRecord(keep, os.urandom(200), None, 2, None))
    checkpoint(store)
    before = db_path.read_bytes()
    assert bundle_marker in before and wrapper in before and hpke in before  # the test can see them

    store.retire_key_packages(keep, 10)
    assert store.delete_expired_key_packages(10) == 11
    checkpoint(store)
    after = file_bytes(db_path)
    assert bundle_marker not in after
    assert wrapper not in after
    assert hpke not in after  # also gone from the primary-key index
    assert store.key_package(keep) is not None
    store.close()
    assert bundle_marker not in file_bytes(db_path)


def test_replaced_group_state_is_gone_from_the_file(store: ClientStore, db_path: Path) -> None:
    """The previous epoch's state (its secrets) must not linger once a commit's new state replaced it."""
    old_secret = os.urandom(64)
    store.save_conversation(ConversationRecord(GROUP, os.urandom(3000) + old_secret, 1, 1, "creator"))
    checkpoint(store)
    assert old_secret in db_path.read_bytes()
    with store.transaction():
        store.update_conversation(GROUP, os.urandom(3064), 2)
        store.set_cursor("group", 2)
    checkpoint(store)
    assert old_secret not in file_bytes(db_path)


def test_deleting_a_conversation_locally_drops_its_leave_rows_in_the_same_transaction(
    store: ClientStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.transaction():
        for group in (GROUP, OTHER_GROUP):
            store.add_message(message(group[:4] + b"m", 10, group_id=group))
            store.add_pending_removal(group, "carol", group[:4] + b"m")
            store.set_leave_requested(group, group[:4] + b"m", 10)

    def failing(group_id: bytes) -> int:
        raise sqlite3.OperationalError("injected")

    with monkeypatch.context() as patch:  # a failure half-way leaves every row in place
        patch.setattr(store, "delete_leave_rows", failing)
        with pytest.raises(sqlite3.OperationalError):
            store.delete_local_conversation_rows(GROUP)
    assert len(store.messages(GROUP)) == 1
    assert store.pending_removals(GROUP) == ["carol"] and store.leave_requested(GROUP)

    assert store.delete_local_conversation_rows(GROUP) == 3
    assert store.messages(GROUP) == []
    assert store.pending_removals(GROUP) == [] and not store.leave_requested(GROUP)
    # another conversation's rows stay
    assert len(store.messages(OTHER_GROUP)) == 1
    assert store.pending_removals(OTHER_GROUP) == ["carol"] and store.leave_requested(OTHER_GROUP)
