"""Archive benchmarks: importing (and writing) a client archive of 1 000, 5 000 and 10 000 messages, and how the
time grows with the size. Sans-IO apart from the disk: the archive is a real file, the client store a real SQLite
file in a temp directory with its own settings (WAL, ``synchronous=FULL``, ``secure_delete``), no node.

    python benchmarks/archive_bench.py            # about a minute; JSON on stdout
    python benchmarks/archive_bench.py --quick    # 1k and 5k, fewer rounds
    python benchmarks/archive_bench.py --sizes 1000,10000,50000

The JSON is also written to ``benchmarks/results/archive-<UTC timestamp>.json`` (git-ignored).

Per size (messages of 100 bytes of text spread over 20 groups, plus 20 consent records):

``import``
    :func:`pyxmtp.client.archive.import_archive_file` into a fresh store: read the file, zstd, AES-256-GCM per
    record, protobuf, the import rules (is the group held? restore it; message by id) and one transaction for it
    all. Floors, timed in the same round: ``read`` (the format alone: :func:`~pyxmtp.conversations.archive.
    read_archive` of the same bytes: decompress, decrypt, decode) and ``store`` (the same message rows written
    with ``ClientStore.add_message`` in one transaction into another fresh store: what the database costs with
    nothing of the archive).
``write``
    :func:`pyxmtp.client.archive.write_archive` of the imported store to a file (paged reads, records encrypted
    and compressed as they go). Floor: ``encode`` (:func:`~pyxmtp.conversations.archive.encode_archive` of the
    same records, already in memory).

``growth`` gives each figure at every size over the figure at the smallest size, beside the size ratio: linear
growth shows as equal numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from mls_bench import Series, machine, timed, write_report

from pyxmtp.client.archive import import_archive_file, write_archive
from pyxmtp.client.context import ClientContext
from pyxmtp.client.store import ClientStore, DeliveryStatus, MessageRecord
from pyxmtp.conversations.archive import (
    ArchiveElementKind,
    ArchiveMetadata,
    ArchiveRecord,
    ConsentEntityType,
    ConsentRecord,
    ConsentState,
    ConversationKind,
    GroupRecord,
    MembershipState,
    encode_archive,
    read_archive,
)
from pyxmtp.conversations.archive import MessageRecord as SavedMessage
from pyxmtp.conversations.content import Text, encode_content

KEY = bytes(range(32))
GROUPS = 20
OWN_INBOX = "aa" * 32
PEER = "bb" * 32


def make_records(messages: int) -> list[ArchiveRecord]:
    now = time.time_ns()
    group_ids = [os.urandom(16) for _ in range(GROUPS)]
    records: list[ArchiveRecord] = [
        GroupRecord(
            g,
            now - 10**12,
            ConversationKind.GROUP,
            MembershipState.ALLOWED,
            creator_inbox_id=PEER,
            attributes={"group_name": f"group {n}"},
        )
        for n, g in enumerate(group_ids)
    ]
    content = encode_content(Text("x" * 100)).to_bytes()
    records += [
        SavedMessage(
            os.urandom(32),
            group_ids[i % GROUPS],
            content,
            now - 10**9 + i,
            PEER,
            b"\x01" * 32,
            "text",
            sequence_id=i + 1,
            originator_id=10,
        )
        for i in range(messages)
    ]
    records += [
        ConsentRecord(ConsentEntityType.CONVERSATION_ID, ConsentState.ALLOWED, g.hex(), now)
        for g in group_ids
    ]
    return records


def context(store: ClientStore) -> ClientContext:
    """What the archive functions use of a client: its store, inbox, clock and randomness."""
    return cast(
        ClientContext,
        SimpleNamespace(store=store, inbox_id=OWN_INBOX, clock_ns=time.time_ns, rng=os.urandom),
    )


def _store_floor(directory: Path, records: list[ArchiveRecord], n: int) -> float:
    store = ClientStore(directory / f"floor-{n}.db")
    rows = [
        MessageRecord(
            r.id,
            r.group_id,
            None,
            r.sender_inbox_id,
            r.sender_installation_id,
            r.sent_at_ns,
            r.content,
            DeliveryStatus.PUBLISHED,
        )
        for r in records
        if isinstance(r, SavedMessage)
    ]

    def write() -> None:
        with store.transaction():
            for row in rows:
                store.add_message(row)

    try:
        return timed(write)
    finally:
        store.close()


def bench_size(messages: int, rounds: int, directory: Path) -> dict[str, Any]:
    records = make_records(messages)
    metadata = ArchiveMetadata((ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT), time.time_ns())
    data = b"".join(encode_archive(KEY, metadata, records, rng=os.urandom))
    path = directory / f"archive-{messages}.bin"
    path.write_bytes(data)
    imports = Series([], {"floor": [], "store": []})  # floor: reading the archive alone
    writes = Series([], {"floor": []})  # floor: encoding the records alone
    for n in range(rounds):
        store = ClientStore(directory / f"import-{messages}-{n}.db")
        ctx = context(store)
        summary = None

        def run_import(ctx: ClientContext = ctx) -> None:
            nonlocal summary
            summary = import_archive_file(ctx, path, KEY)

        imports.figure.append(timed(run_import))
        imports.floors["floor"].append(timed(lambda: read_archive(data, KEY)))
        imports.floors["store"].append(_store_floor(directory, records, n + 1000 * messages))
        assert summary is not None and summary.messages_imported == messages, summary

        out = directory / f"out-{messages}.bin"

        async def export(ctx: ClientContext = ctx, out: Path = out) -> None:
            with out.open("wb") as f:
                await write_archive(ctx, f, KEY)

        writes.figure.append(timed(lambda: asyncio.run(export())))
        writes.floors["floor"].append(
            timed(lambda: b"".join(encode_archive(KEY, metadata, records, rng=os.urandom)))
        )
        store.close()
        print(f"  {messages} messages, round {n + 1}/{rounds}", file=sys.stderr)
    result: dict[str, Any] = {"messages": messages, "archive_bytes": len(data)}
    for name, series in (("import", imports), ("write", writes)):
        summary_ = series.summary()
        summary_["per_message_us"] = summary_["seconds"] / messages * 1e6
        summary_["messages_per_second"] = messages / summary_["seconds"]
        result[name] = summary_
    return result


def growth(results: list[dict[str, Any]]) -> dict[str, Any]:
    base = results[0]
    out: dict[str, Any] = {}
    for r in results:
        out[str(r["messages"])] = {
            "size_ratio": r["messages"] / base["messages"],
            "import_ratio": r["import"]["seconds"] / base["import"]["seconds"],
            "write_ratio": r["write"]["seconds"] / base["write"]["seconds"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k and 5k messages, 2 rounds")
    parser.add_argument(
        "--sizes", default=None, help="comma-separated message counts (default 1000,5000,10000)"
    )
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--db-dir", type=Path, default=None, help="where the stores and archives go")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ("1000,5000" if args.quick else "1000,5000,10000")).split(",")]
    rounds = args.rounds or (2 if args.quick else 3)
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        results = [bench_size(n, rounds, Path(tmp)) for n in sizes]
    table = [
        {
            "messages": r["messages"],
            "import_seconds": round(r["import"]["seconds"], 4),
            "import_per_message_us": round(r["import"]["per_message_us"], 1),
            "read_floor_seconds": round(r["import"]["floor_seconds"], 4),
            "store_floor_seconds": round(r["import"]["store_floor_seconds"], 4),
            "write_seconds": round(r["write"]["seconds"], 4),
            "encode_floor_seconds": round(r["write"]["floor_seconds"], 4),
        }
        for r in results
    ]
    report = {
        "benchmark": "archive",
        "machine": machine(),
        "rounds": rounds,
        "sizes": results,
        "growth": growth(results),
        "table": table,
    }
    path = write_report(report, "archive", args.quick, args.out)
    for row in table:
        print("  ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr)
    print(
        f"written to {path}; median import of {sizes[-1]} messages: {results[-1]['import']['seconds']:.3f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
