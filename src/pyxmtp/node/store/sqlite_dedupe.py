"""The group-message dedupe index of the SQLite store: two tiers, so that an insert never dirties a random page.

A message's key is the first 8 bytes of SHA-256(group_id || data) as a signed integer (``dedupe_key``, stored
with the message). Keys are indexed in two tiers, both consulted for every insert:

- *recent*: a dict in the writer thread (key -> id), consulted and extended with a few C-level set operations
  per batch. It is not durable and need not be: at start-up it is rebuilt from ``group_message_runs`` (the
  messages newer than what the older tier covers), which every committed transaction updates.
- *older*: ``group_message_keys`` in the database, in front of which sits an in-memory Bloom filter
  (:class:`OlderKeyFilter`, 16 MiB, two bits per key): only the keys the filter does not rule out are probed,
  with one ``IN (...)`` query. At start-up a loader thread fills the filter from a snapshot of the table
  (about 1.3 s per million keys) while the node already serves: until the writer adopts it (merged with the
  keys moved since start-up, which the writer records itself), every key is probed. Probing every key cost
  the writer about a sixth of its time under load; the filter costs about 0.3 us a key. Whenever the recent
  tier holds more than :data:`RECENT_LIMIT` keys, whole key ranges (buckets: the key's top 8 bits, 256
  of them, in turn) move over inside the transaction being committed: a sorted bulk insert that touches each
  affected index page once for many keys, where a unique index on the messages table dirtied (and logged to
  the WAL, which is page-based) a page per message. ``group_message_keys_flushed`` records per bucket the id up
  to which every message of that range has its key in the older tier, which is what the rebuild reads.

A key match is only a candidate: the caller compares the stored group id and data with the new ones, so a
64-bit collision between different payloads never drops a message.

Transactions: keys remembered in the open transaction are visible to later jobs of the same transaction and
are forgotten again if it rolls back (:meth:`GroupMessageKeys.rolled_back`); bucket moves happen inside the
transaction and take effect here only once it committed (:meth:`GroupMessageKeys.committed`). Writer thread
only.
"""

from __future__ import annotations

import collections
import functools
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .sqlite_runs import dedupe_keys_of

log = logging.getLogger("pyxmtp.node.store")

BUCKETS = 256
#: Keys the recent tier may hold before buckets move to the older tier (about 150 bytes of memory per key).
RECENT_LIMIT = 1 << 17
#: Keys per statement when moving a bucket (two parameters each) or probing the older tier.
_MOVE_CHUNK = 500
PROBE_CHUNK = 2000
_REBUILD = (
    "SELECT first_id, dedupe_keys FROM group_message_runs WHERE first_id >= "
    "COALESCE((SELECT MAX(first_id) FROM group_message_runs WHERE first_id <= ?), 0) ORDER BY first_id"
)
_FLUSHED = (
    "INSERT INTO group_message_keys_flushed(bucket, id) VALUES (?, ?) "
    "ON CONFLICT(bucket) DO UPDATE SET id = excluded.id"
)


#: log2 of the older tier's Bloom filter size in bits (2**27 bits = 16 MiB): about 2 % false positives at
#: 10 million keys, 0.02 % at one million.
FILTER_BITS_LOG2 = 27


class OlderKeyFilter:
    """A Bloom filter of the keys in the older tier: never a false negative, so a key it rules out is new.

    Keys are uniformly random already (they are SHA-256 bits), so the two bit positions are simply two
    slices of the key: its low bits and the bits from 32 up.
    """

    def __init__(self, bits_log2: int) -> None:
        self._mask = (1 << bits_log2) - 1
        self._bits = bytearray(1 << max(bits_log2 - 3, 0))

    def add(self, keys: Iterable[int]) -> None:
        bits, mask = self._bits, self._mask
        for key in keys:
            a, b = key & mask, (key >> 32) & mask
            bits[a >> 3] |= 1 << (a & 7)
            bits[b >> 3] |= 1 << (b & 7)

    def merge(self, other: OlderKeyFilter) -> None:
        """Add every key of ``other`` (a filter of the same size)."""
        n = len(self._bits)
        both = int.from_bytes(self._bits, "little") | int.from_bytes(other._bits, "little")
        self._bits[:] = both.to_bytes(n, "little")

    def suspects(self, keys: Iterable[int]) -> list[int]:
        """The keys that may be in the older tier."""
        bits, mask = self._bits, self._mask
        return [
            k
            for k in keys
            if bits[(k & mask) >> 3] >> (k & 7) & 1 and bits[((k >> 32) & mask) >> 3] >> ((k >> 32) & 7) & 1
        ]


def bucket_of(key: int) -> int:
    """The key range (0..255) of ``key``: its top 8 bits, sign included, plus 128."""
    return (key >> 56) + 128


@functools.lru_cache(maxsize=64)
def _older_keys_sql(keys: int) -> str:
    return f"SELECT id FROM group_message_keys WHERE dedupe_key IN ({', '.join('?' * keys)})"


@functools.lru_cache(maxsize=256)
def _older_any_sql(keys: int) -> str:
    return f"SELECT 1 FROM group_message_keys WHERE dedupe_key IN ({', '.join('?' * keys)}) LIMIT 1"


@functools.lru_cache(maxsize=64)
def _move_sql(keys: int) -> str:
    values = ", ".join(["(?, ?)"] * keys)
    return f"INSERT OR IGNORE INTO group_message_keys(dedupe_key, id) VALUES {values}"


#: Keys the loader reads per fetch (it checks for a closing store in between).
_LOAD_CHUNK = 50_000


def older_keys(conn: sqlite3.Connection, stop: threading.Event) -> Iterator[list[int]]:
    """Every key of the older tier, in chunks, from one snapshot; ends early once ``stop`` is set."""
    cursor = conn.execute("SELECT dedupe_key FROM group_message_keys")
    while not stop.is_set():
        rows = cursor.fetchmany(_LOAD_CHUNK)
        if not rows:
            return
        yield [row[0] for row in rows]


class GroupMessageKeys:
    """See the module docstring."""

    def __init__(self, conn: sqlite3.Connection, newest_id: int, *, database: Path | None = None) -> None:
        """Rebuild the recent tier (at start-up). ``newest_id``: no stored group message has a larger id.
        ``database``: the file to load the older tier's filter from in a thread of its own (else it is read
        here, through ``conn``)."""
        self._recent: dict[int, int] = {}  # key -> id
        self._extra: dict[int, list[int]] = {}  # key -> further ids (different payloads, same 64-bit key)
        self._buckets: list[list[int]] = [
            [] for _ in range(BUCKETS)
        ]  # committed keys, by range (once per id)
        self._pending = 0  # entries in the bucket lists
        self._txn: list[Sequence[int]] = []  # keys remembered in the open transaction
        self._txn_rows: list[tuple[int, int]] = []  # (key, id) remembered one by one in the open transaction
        self._moved: list[
            tuple[int, list[tuple[int, int]] | None]
        ] = []  # buckets moved in the open transaction
        self._next_bucket = 0
        self._committed_newest = newest_id
        # Until the loaded filter is adopted, this one holds just the keys moved since start-up.
        self._older = OlderKeyFilter(FILTER_BITS_LOG2)
        self._older_complete = False  # True once the filter covers the whole older tier
        self._loaded: OlderKeyFilter | None = None  # set by the loader thread, adopted by the writer
        self._stop_loading = threading.Event()
        self._loader: threading.Thread | None = None
        if database is None:
            for keys in older_keys(conn, self._stop_loading):
                self._older.add(keys)
            self._older_complete = True
        else:
            self._loader = threading.Thread(
                target=self._load, args=(database,), name="pyxmtp-sqlite-dedupe-filter", daemon=True
            )
        flushed = dict(conn.execute("SELECT bucket, id FROM group_message_keys_flushed").fetchall())
        floor = min(flushed.get(b, 0) for b in range(BUCKETS))
        for first_id, blob in conn.execute(_REBUILD, (floor,)):
            for item_id, key in enumerate(dedupe_keys_of(blob), first_id):
                if item_id > floor and item_id > flushed.get(bucket_of(key), 0):
                    self._remember_one(key, item_id)
                    self._buckets[bucket_of(key)].append(key)
                    self._pending += 1
        if self._loader is not None:
            self._loader.start()

    def _load(self, database: Path) -> None:
        """The loader thread: a filter of the older tier as of a snapshot taken now. Keys never leave the
        older tier, and every move since start-up is also in the writer's own filter, so the merge of the
        two covers everything, whenever the snapshot was taken."""
        loaded = OlderKeyFilter(FILTER_BITS_LOG2)
        try:
            conn = sqlite3.connect(database, isolation_level=None, timeout=30.0)
            try:
                conn.execute("PRAGMA query_only = ON")
                for keys in older_keys(conn, self._stop_loading):
                    loaded.add(keys)
            finally:
                conn.close()
        except sqlite3.Error:
            log.exception("loading the dedupe filter failed; every key stays probed in the database")
            return
        if not self._stop_loading.is_set():
            self._loaded = loaded

    def close(self) -> None:
        """Stop the loader thread, if it still runs."""
        self._stop_loading.set()
        if self._loader is not None and self._loader.is_alive():
            self._loader.join()

    @property
    def older_filter_complete(self) -> bool:
        """Whether the filter covers the whole older tier yet (else every key is probed)."""
        return self._older_complete or self._loaded is not None

    def _adopt_loaded(self) -> None:
        loaded = self._loaded
        if loaded is not None:
            self._older.merge(loaded)
            self._loaded = None
            self._older_complete = True

    @property
    def recent(self) -> int:
        """Keys in the recent tier (committed ones)."""
        return self._pending

    # --- inside a job -----------------------------------------------------------------------------------------
    def maybe_known(self, conn: sqlite3.Connection, keys: Sequence[int]) -> bool:
        """False if no key repeats and none is in either tier: all the messages are new."""
        if not self._older_complete:
            self._adopt_loaded()
        distinct = set(keys)
        if len(distinct) != len(keys) or not self._recent.keys().isdisjoint(distinct):
            return True
        suspects = self._older.suspects(keys) if self._older_complete else keys
        for start in range(0, len(suspects), PROBE_CHUNK):
            chunk = suspects[start : start + PROBE_CHUNK]
            if conn.execute(_older_any_sql(len(chunk)), chunk).fetchone() is not None:
                return True
        return False

    def candidates(self, conn: sqlite3.Connection, keys: Sequence[int]) -> list[int]:
        """Ids of the stored messages whose key is among ``keys`` (a few hundred at most)."""
        recent, extra = self._recent, self._extra
        ids = [recent[k] for k in keys if k in recent]
        ids += [i for k in keys if k in extra for i in extra[k]]
        return ids + [row[0] for row in conn.execute(_older_keys_sql(len(keys)), keys)]

    def remember(self, first_id: int, keys: Sequence[int]) -> None:
        """Messages ``first_id, first_id + 1, ...`` with these keys (none known to either tier, none
        repeated) were inserted."""
        self._recent.update(zip(keys, range(first_id, first_id + len(keys)), strict=True))
        self._txn.append(keys)

    def remember_rows(self, rows: Iterable[tuple[int, int]]) -> None:
        """``(key, id)`` of messages inserted after their payloads were compared (keys may be known)."""
        for key, item_id in rows:
            self._remember_one(key, item_id)
            self._txn_rows.append((key, item_id))

    def _remember_one(self, key: int, item_id: int) -> None:
        if key in self._recent:
            self._extra.setdefault(key, []).append(item_id)
        else:
            self._recent[key] = item_id

    def _forget_one(self, key: int, item_id: int) -> None:
        if self._recent.get(key) == item_id:
            more = self._extra.get(key)
            if more:
                self._recent[key] = more.pop()
                if not more:
                    del self._extra[key]
            else:
                del self._recent[key]
        else:
            more = self._extra.get(key)
            if more is not None and item_id in more:
                more.remove(item_id)
                if not more:
                    del self._extra[key]

    # --- around the writer's transactions -----------------------------------------------------------------
    def before_commit(self, conn: sqlite3.Connection) -> None:
        """Move buckets to the older tier while the recent one is over its limit (in the open transaction)."""
        pending = self._pending
        recent = self._recent
        for _ in range(BUCKETS):
            if pending <= RECENT_LIMIT:
                break
            bucket = self._next_bucket
            self._next_bucket = (bucket + 1) % BUCKETS
            keys = self._buckets[bucket]
            if not keys:
                continue
            pairs: list[tuple[int, int]] | None = None
            if self._extra:  # some key has several ids (a 64-bit collision): spell the pairs out
                newest = self._committed_newest  # not this transaction's own ids
                ids = {k: (recent[k], *self._extra.get(k, ())) for k in keys}
                pairs = sorted({(k, i) for k, k_ids in ids.items() for i in k_ids if i <= newest})
                params = [v for pair in pairs for v in pair]
            else:  # the usual case, without per-key Python: keys sorted, ids looked up, interleaved in C
                keys.sort()
                params = [0] * (2 * len(keys))
                params[0::2] = keys
                params[1::2] = map(recent.__getitem__, keys)
            for start in range(0, len(params), 2 * _MOVE_CHUNK):
                chunk = params[start : start + 2 * _MOVE_CHUNK]
                conn.execute(_move_sql(len(chunk) // 2), chunk)
            # Every committed message of this range is now in the older tier; this transaction's own are not.
            conn.execute(_FLUSHED, (bucket, self._committed_newest))
            self._moved.append((bucket, pairs))
            pending -= len(keys)

    def committed(self, newest_id: int) -> None:
        """The open transaction committed; ``newest_id``: no message of it or before has a larger id."""
        buckets, recent = self._buckets, self._recent
        for bucket, pairs in self._moved:
            moved = buckets[bucket]
            self._older.add(moved)
            if pairs is None:
                collections.deque(map(recent.__delitem__, moved), maxlen=0)
            else:
                for key, item_id in pairs:
                    self._forget_one(key, item_id)
            self._pending -= len(moved)
            buckets[bucket] = []
        for keys in self._txn:
            for key in keys:
                buckets[(key >> 56) + 128].append(key)
            self._pending += len(keys)
        for key, _ in self._txn_rows:
            buckets[(key >> 56) + 128].append(key)
        self._pending += len(self._txn_rows)
        self._txn.clear()
        self._txn_rows.clear()
        self._moved.clear()
        self._committed_newest = newest_id

    def rolled_back(self) -> None:
        """The open transaction was rolled back: forget what it remembered; its bucket moves never happened."""
        recent = self._recent
        for keys in self._txn:
            for key in keys:
                del recent[key]
        for key, item_id in self._txn_rows:
            self._forget_one(key, item_id)
        self._txn.clear()
        self._txn_rows.clear()
        self._moved.clear()
