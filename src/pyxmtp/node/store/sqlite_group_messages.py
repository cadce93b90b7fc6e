"""Inserting group messages on the writer thread: the messages of many requests in one statement, deduplicated.

Every per-message step that Python would do (hashing, building parameters) happened on the event loop; here a
transaction's group messages, from however many requests, normally go into the database with one query of the
dedupe index (see :mod:`.sqlite_dedupe`) and a single multi-row INSERT
(:func:`~.sqlite_schema.group_messages_insert`): two ``sqlite3_step`` calls that run in C with the GIL
released. Only when a key is known already does Python look at individual messages, request by request.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from typing import Any

from .sqlite_dedupe import GroupMessageKeys
from .sqlite_schema import GROUP_MESSAGE_INSERT_ONE, GROUP_ROW_WIDTH, group_messages_insert

#: Messages per INSERT statement (8 parameters each, at most 2 + 6 per row bound: far below SQLite's 32766).
ROWS_PER_INSERT = 2000


def insert_group_messages(
    conn: sqlite3.Connection,
    keys: GroupMessageKeys,
    parts: Sequence[tuple[int, list[Any], list[int]]],
    now: int,
) -> list[list[int] | None]:
    """Insert the messages of ``parts`` (per request: first id, flat rows, dedupe keys; ids consecutive from
    part to part), skipping payloads stored before or earlier in the same request or transaction.

    Returns per part None if all of its messages were inserted, else the indices of those that were.
    """
    chain = itertools.chain.from_iterable
    all_keys = list(chain(part[2] for part in parts)) if len(parts) > 1 else parts[0][2]
    if keys.maybe_known(conn, all_keys):
        return [
            insert_one_by_one(conn, keys, first, now, flat, part_keys) for first, flat, part_keys in parts
        ]
    first_id = parts[0][0]
    n = len(all_keys)
    if n <= ROWS_PER_INSERT:  # the usual case: one statement, parameters concatenated in C
        params = [first_id, now]
        params.extend(chain(part[1] for part in parts))
        conn.execute(group_messages_insert(n), params)
    else:  # a failure fails the whole transaction, so no SAVEPOINT is needed around the statements
        flat = list(chain(part[1] for part in parts))
        for start in range(0, n, ROWS_PER_INSERT):
            rows = min(ROWS_PER_INSERT, n - start)
            chunk = flat[start * GROUP_ROW_WIDTH : (start + rows) * GROUP_ROW_WIDTH]
            conn.execute(group_messages_insert(rows), [first_id + start, now, *chunk])
    keys.remember(first_id, all_keys)
    return [None] * len(parts)


def insert_one_by_one(
    conn: sqlite3.Connection,
    keys: GroupMessageKeys,
    first_id: int,
    now: int,
    flat: list[Any],
    dedupe: list[int],
) -> list[int] | None:
    """One request's messages when some key is known (a resent payload, or a 64-bit collision): the payloads
    themselves are compared with those of every stored message with the same key."""
    n = len(dedupe)
    step = 400
    stored: set[tuple[bytes, bytes]] = set()
    for start in range(0, n, step):
        ids = keys.candidates(conn, dedupe[start : start + step])
        for at in range(0, len(ids), step):
            chunk_ids = ids[at : at + step]
            sql = f"SELECT group_id, data FROM group_messages WHERE id IN ({', '.join('?' * len(chunk_ids))})"
            stored.update(conn.execute(sql, chunk_ids))
    inserted: list[int] = []
    rows: list[tuple[Any, ...]] = []
    for index in range(n):
        row = flat[index * GROUP_ROW_WIDTH : (index + 1) * GROUP_ROW_WIDTH]
        content = (row[0], row[1])
        if content in stored:
            continue
        stored.add(content)
        inserted.append(index)
        rows.append((first_id + index, now, *row))
    conn.executemany(GROUP_MESSAGE_INSERT_ONE, rows)
    keys.remember_rows((row[4], row[0]) for row in rows)
    return None if len(inserted) == n else inserted
