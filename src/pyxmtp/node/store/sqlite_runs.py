"""Group messages as *runs*: the rows of ``group_message_runs``, each holding consecutive messages of one group.

A request's messages to one group (a commit and its fan-out, a batch of application messages) get consecutive
ids, so the SQLite store keeps them in one row: the id of the first, how many, and four packed columns. One
B-tree entry per run instead of two per message is what makes a batched SendGroupMessages cheap for the writer
thread (measured under load: about 6 us of writer time per message instead of 12); the payload bytes cost the
same either way.

Columns, all little-endian, message ``i`` having id ``first_id + i``:

- ``sizes``: per message two unsigned 32-bit lengths, of its data and of its sender HMAC;
- ``flags``: per message one byte: :data:`SHOULD_PUSH` | :data:`IS_COMMIT`;
- ``dedupe_keys``: per message its signed 64-bit dedupe key (see :mod:`.sqlite_dedupe`);
- ``payload``: per message its data, then its sender HMAC.

A run holds at most :data:`MAX_RUN` messages, so that reading one page of a group never decodes much more.
Messages are described by flat parameter lists, :data:`ROW_WIDTH` values per message (``group_id, data,
dedupe_key, sender_hmac, should_push, is_commit``), which is what the event loop builds per request.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

from .base import RECORD_OVERHEAD, GroupMessageRecord

SHOULD_PUSH = 1
IS_COMMIT = 2
MAX_RUN = 256
#: Values per message in a flat parameter list: group_id, data, dedupe_key, sender_hmac, should_push, is_commit.
ROW_WIDTH = 6
_LITTLE = sys.byteorder == "little"

#: A run ready to insert, but for its position: ``(start, group_id, count, sizes, flags, dedupe_keys,
#: payload)``, ``start`` being the index of its first message in the request.
PackedRun = tuple[int, bytes, int, bytes, bytes, bytes, bytes]
RUN_COLUMNS = "first_id, group_id, count, created_ns, sizes, flags, dedupe_keys, payload"
READ_COLUMNS = "first_id, group_id, count, created_ns, sizes, flags, payload"


def _le(values: array[int]) -> bytes:
    if not _LITTLE:
        values.byteswap()
    return values.tobytes()


def _from_le(typecode: str, blob: bytes) -> array[int]:
    values = array(typecode)
    values.frombytes(blob)
    if not _LITTLE:
        values.byteswap()
    return values


def pack_run(flat: Sequence[Any], start: int, stop: int) -> PackedRun:
    """Messages ``start..stop-1`` of ``flat`` (one group, at most :data:`MAX_RUN`) as a run."""
    w = ROW_WIDTH
    lo, hi = start * w, stop * w
    datas, hmacs = flat[lo + 1 : hi : w], flat[lo + 3 : hi : w]
    count = stop - start
    sizes = array("I", bytes(8 * count))
    sizes[0::2] = array("I", map(len, datas))
    sizes[1::2] = array("I", map(len, hmacs))
    parts: list[bytes] = [b""] * (2 * count)
    parts[0::2] = datas
    parts[1::2] = hmacs
    flags = bytes(
        (SHOULD_PUSH if push else 0) | (IS_COMMIT if commit else 0)
        for push, commit in zip(flat[lo + 4 : hi : w], flat[lo + 5 : hi : w], strict=True)
    )
    keys = _le(array("q", flat[lo + 2 : hi : w]))
    return (start, flat[lo], count, _le(sizes), flags, keys, b"".join(parts))


def split_runs(flat: Sequence[Any], indices: Sequence[int]) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of the runs that store messages ``indices`` (ascending) of ``flat``: maximal stretches
    of consecutive indices with one group id, cut at :data:`MAX_RUN`."""
    if not indices:
        return
    w = ROW_WIDTH
    start = prev = indices[0]
    group = flat[start * w]
    for index in indices[1:]:
        g = flat[index * w]
        if index != prev + 1 or g != group or index - start == MAX_RUN:
            yield start, prev + 1
            start, group = index, g
        prev = index
    yield start, prev + 1


def pack_request(flat: Sequence[Any]) -> list[PackedRun]:
    """All the messages of one request as runs (on the event loop, before the writer assigns ids)."""
    n = len(flat) // ROW_WIDTH
    groups = flat[0::ROW_WIDTH]
    if n <= MAX_RUN and groups.count(groups[0]) == n:  # the usual case: one group
        return [pack_run(flat, 0, n)]
    return [pack_run(flat, a, b) for a, b in split_runs(flat, range(n))]


def dedupe_keys_of(blob: bytes) -> array[int]:
    """The ``dedupe_keys`` column of a run, as integers."""
    return _from_le("q", blob)


class Run:
    """A run read with :data:`READ_COLUMNS`, whose messages are built one at a time: a page takes only those it
    holds, and can tell what each would add to a reply before building it (see :meth:`record_bytes`)."""

    __slots__ = ("_ends", "_sizes", "count", "created_ns", "first_id", "flags", "group_id", "payload")

    def __init__(self, row: Sequence[Any]) -> None:
        self.first_id, self.group_id, self.count, self.created_ns, sizes_blob, self.flags, self.payload = row
        self._sizes = _from_le("I", sizes_blob)
        self._ends = list(accumulate(self._sizes))

    def record(self, i: int) -> GroupMessageRecord:
        """Message ``i`` of the run (id ``first_id + i``)."""
        ends = self._ends
        at = ends[2 * i - 1] if i else 0
        mid, end = ends[2 * i], ends[2 * i + 1]
        flag = self.flags[i]
        payload = self.payload
        return GroupMessageRecord(
            self.first_id + i,
            self.created_ns,
            self.group_id,
            payload[at:mid],
            payload[mid:end],
            bool(flag & SHOULD_PUSH),
            bool(flag & IS_COMMIT),
        )

    def record_bytes(self, i: int) -> int:
        """:func:`~.base.group_message_bytes` of message ``i``, without building it."""
        return RECORD_OVERHEAD + len(self.group_id) + self._sizes[2 * i] + self._sizes[2 * i + 1]


def records_of(row: Sequence[Any]) -> list[GroupMessageRecord]:
    """The messages of a run read with :data:`READ_COLUMNS`, oldest first."""
    run = Run(row)
    return [run.record(i) for i in range(run.count)]
