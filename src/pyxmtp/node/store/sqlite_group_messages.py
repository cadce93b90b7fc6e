"""Group messages in SQLite: inserting them on the writer thread, deduplicated, and reading them back as records.

Every per-message step that Python would do (hashing, packing runs, see :mod:`.sqlite_runs`) happened on the
event loop; here a transaction's group messages, from however many requests, normally go into the database with
one query of the dedupe index (see :mod:`.sqlite_dedupe`) and one multi-row INSERT of their runs. Only when a
key is known already does Python look at individual messages, request by request.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from .base import GroupMessageRecord, Rows
from .sqlite_dedupe import GroupMessageKeys
from .sqlite_runs import (
    IS_COMMIT,
    READ_COLUMNS,
    ROW_WIDTH,
    RUN_COLUMNS,
    SHOULD_PUSH,
    PackedRun,
    Run,
    pack_run,
    records_of,
    split_runs,
)

#: The largest multi-row INSERT of runs; a transaction's runs go in statements of power-of-two sizes (at most
#: log2 of this many distinct statements, which keeps SQLite's statement cache warm).
RUNS_PER_INSERT = 256

#: One request's group messages for the writer: flat rows (:data:`~.sqlite_runs.ROW_WIDTH` values per message),
#: their dedupe keys, and their runs.
GroupMessageJob = tuple[list[Any], list[int], list[PackedRun]]

_ASCENDING = (
    f"SELECT {READ_COLUMNS} FROM group_message_runs WHERE group_id = ?1 AND first_id >= COALESCE("
    "(SELECT MAX(first_id) FROM group_message_runs WHERE group_id = ?1 AND first_id <= ?2), 0) ORDER BY first_id"
)
_DESCENDING_FROM_END = (
    f"SELECT {READ_COLUMNS} FROM group_message_runs WHERE group_id = ? ORDER BY first_id DESC"
)
_DESCENDING = f"SELECT {READ_COLUMNS} FROM group_message_runs WHERE group_id = ? AND first_id < ? ORDER BY first_id DESC"
_RUN_HOLDING = (
    f"SELECT {READ_COLUMNS} FROM group_message_runs WHERE first_id = "
    "(SELECT MAX(first_id) FROM group_message_runs WHERE first_id <= ?)"
)


@functools.lru_cache(maxsize=16)
def _insert_runs_sql(rows: int) -> str:
    return f"INSERT INTO group_message_runs({RUN_COLUMNS}) VALUES " + ", ".join(
        ["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows
    )


def insert_runs(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert runs given as full rows (:data:`~.sqlite_runs.RUN_COLUMNS`)."""
    at = 0
    size = RUNS_PER_INSERT
    while at < len(rows):
        while size > len(rows) - at:
            size //= 2
        params = [v for row in rows[at : at + size] for v in row]
        conn.execute(_insert_runs_sql(size), params)
        at += size


def insert_group_messages(
    conn: sqlite3.Connection,
    keys: GroupMessageKeys,
    parts: Sequence[tuple[int, GroupMessageJob]],
    now: int,
) -> list[list[int] | None]:
    """Insert the messages of ``parts`` (per request: its first id and its job; ids consecutive from part to
    part), skipping payloads stored before or earlier in the same request or transaction.

    Returns per part None if all of its messages were inserted, else the indices of those that were.
    """
    all_keys = [k for _, job in parts for k in job[1]] if len(parts) > 1 else parts[0][1][1]
    if keys.maybe_known(conn, all_keys):
        return [insert_one_by_one(conn, keys, first, now, job) for first, job in parts]
    insert_runs(
        conn,
        [
            (first + start, group_id, count, now, sizes, flags, dedupe, payload)
            for first, job in parts
            for start, group_id, count, sizes, flags, dedupe, payload in job[2]
        ],
    )
    keys.remember(parts[0][0], all_keys)
    return [None] * len(parts)


def insert_one_by_one(
    conn: sqlite3.Connection, keys: GroupMessageKeys, first_id: int, now: int, job: GroupMessageJob
) -> list[int] | None:
    """One request's messages when some key is known (a resent payload, or a 64-bit collision): the payloads
    themselves are compared with those of every stored message with the same key."""
    flat, dedupe, _ = job
    n = len(dedupe)
    step = 400
    stored: set[tuple[bytes, bytes]] = set()
    for start in range(0, n, step):
        stored.update(stored_payloads(conn, keys.candidates(conn, dedupe[start : start + step])))
    inserted: list[int] = []
    for index in range(n):
        at = index * ROW_WIDTH
        content = (flat[at], flat[at + 1])
        if content in stored:
            continue
        stored.add(content)
        inserted.append(index)
    rows = []
    for start, stop in split_runs(flat, inserted):
        _, group_id, count, sizes, flags, run_keys, payload = pack_run(flat, start, stop)
        rows.append((first_id + start, group_id, count, now, sizes, flags, run_keys, payload))
    insert_runs(conn, rows)
    keys.remember_rows((dedupe[i], first_id + i) for i in inserted)
    return None if len(inserted) == n else inserted


def stored_payloads(conn: sqlite3.Connection, ids: Sequence[int]) -> Iterator[tuple[bytes, bytes]]:
    """``(group_id, data)`` of the stored messages ``ids`` (the candidates of a dedupe key: a few)."""
    runs: dict[int, list[GroupMessageRecord]] = {}
    for item_id in sorted(set(ids)):
        run = next((r for r in runs.values() if r[0].id <= item_id <= r[-1].id), None)
        if run is None:
            row = conn.execute(_RUN_HOLDING, (item_id,)).fetchone()
            if row is None:
                continue
            run = runs[row[0]] = records_of(row)
        if item_id <= run[-1].id:
            record = run[item_id - run[0].id]
            yield record.group_id, record.data


def query(
    conn: sqlite3.Connection,
    group_id: bytes,
    *,
    descending: bool,
    cursor: int,
    limit: int,
    max_bytes: int | None = None,
) -> Rows[GroupMessageRecord]:
    """A page of a group's messages, paged by id as :meth:`~.base.Store.query_group_messages` says: runs are
    read only until the page is full, and only the messages the page takes are built."""
    out: Rows[GroupMessageRecord] = Rows()
    if limit <= 0:
        return out
    if not descending:
        rows = conn.execute(_ASCENDING, (group_id, cursor))
    elif cursor:
        rows = conn.execute(_DESCENDING, (group_id, cursor))
    else:
        rows = conn.execute(_DESCENDING_FROM_END, (group_id,))
    total = 0
    try:
        for row in rows:
            run = Run(row)
            if not descending:
                indices = range(max(0, cursor + 1 - run.first_id), run.count)
            else:
                stop = min(run.count, cursor - run.first_id) if cursor else run.count
                indices = range(stop - 1, -1, -1)
            for i in indices:
                if max_bytes is not None:
                    size = run.record_bytes(i)
                    if out and total + size > max_bytes:
                        out.cut = True
                        return out
                    total += size
                out.append(run.record(i))
                if len(out) >= limit:
                    return out
    finally:
        rows.close()  # ends the statement, and with it the read snapshot
    return out


_NEWEST_METADATA = (
    "SELECT first_id, count, created_ns, flags FROM group_message_runs WHERE group_id = ? "
    "ORDER BY first_id DESC LIMIT 1"
)


def newest(
    conn: sqlite3.Connection, group_id: bytes, *, include_content: bool = True
) -> GroupMessageRecord | None:
    """The newest message of a group; without content, its data and sender HMAC are empty (and not read)."""
    if not include_content:
        meta = conn.execute(_NEWEST_METADATA, (group_id,)).fetchone()
        if meta is None:
            return None
        first_id, count, created_ns, flags = meta
        flag = flags[count - 1]
        return GroupMessageRecord(
            first_id + count - 1,
            created_ns,
            group_id,
            b"",
            b"",
            bool(flag & SHOULD_PUSH),
            bool(flag & IS_COMMIT),
        )
    row = conn.execute(_DESCENDING_FROM_END + " LIMIT 1", (group_id,)).fetchone()
    if row is None:
        return None
    run = Run(row)
    return run.record(run.count - 1)
