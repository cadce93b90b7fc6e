"""Live delivery across node processes on one PostgreSQL schema: what any process commits reaches the live
subscriptions of every process, per key in id order, without gaps or duplicates.

How (PostgreSQL's own machinery, no protocol of ours between the nodes):

- Every write that stores group messages or welcomes sends a notification on the schema's channel naming the
  keys (group ids, installation keys) it wrote; PostgreSQL delivers it at commit, to every connection that
  LISTENs on the channel. Each process keeps one such *listening* connection.
- A process reads back only the keys its live subscriptions watch (:meth:`Feed.watch`). For each it keeps the
  id up to which it has delivered; on a notification naming the key (or a local commit to it), it reads the
  key's rows above that id and hands them to the store's listeners (which publish them to the subscriptions).
- No gaps: ids are drawn, and become visible, in commit order within a key (the writers' transaction-level
  locks, see :mod:`.postgres`), so reading ``id > delivered`` after a commit's notification finds that commit and
  everything before it in that key -- whatever the gaps between ids (ON CONFLICT and rollbacks consume ids).
  A key's starting point is its newest id, read before the subscription is registered: what is committed before
  registration the subscription replays from its own cursor, what comes after, the feed delivers.
- No duplicates: the delivered id only grows, and each subscription drops what it has already sent.
- A lost listening connection (server restart, an administrator's ``pg_terminate_backend``, a network that
  drops it silently, which a periodic check notices) is re-established, and then every watched key is read
  again from its delivered id: whatever was committed meanwhile is caught up, nothing skipped.
- Reads are bounded: at most :data:`PER_KEY` rows per key and :data:`READ_BYTES` per read, continued while
  there is more; while a read runs, further notifications only mark their keys for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import FailureLog, StoreError
from .postgres_conn import CLIENT_ERRORS, GROUP_KEY, WELCOME_KEY, Connection, parse_note

if TYPE_CHECKING:
    from .postgres import PostgresStore

log = logging.getLogger("pyxmtp.node.store")

KINDS = (GROUP_KEY, WELCOME_KEY)
#: Rows read per key per read, and keys per read.
PER_KEY = 100
KEYS_PER_READ = 256
#: A read returns at most this many bytes of rows (but at least one row).
READ_BYTES = 4 * 1024 * 1024
#: How often the listening connection is checked when it has been silent, and how long the check may take.
LIVENESS_INTERVAL = 10.0
LIVENESS_TIMEOUT = 5.0
#: Waits between attempts to re-establish the listening connection, or to read again after a failed read.
RETRY_FIRST = 0.05
RETRY_MAX = 5.0


@dataclass(slots=True)
class _Watch:
    refs: int
    delivered: int


class Feed:
    """See the module docstring. ``own_pid()``: the server process id of this store's writing connection,
    whose notifications the feed skips (the store tells it of its own commits directly, sooner)."""

    def __init__(
        self,
        store: PostgresStore,
        channel: str,
        connect: Callable[[], Awaitable[Connection]],
        own_pid: Callable[[], int | None],
    ) -> None:
        self._store = store
        self._channel = channel
        self._connect = connect
        self._own_pid = own_pid
        self._watched: dict[bytes, dict[bytes, _Watch]] = {kind: {} for kind in KINDS}
        self._dirty: dict[bytes, set[bytes]] = {kind: set() for kind in KINDS}
        self._wake = asyncio.Event()
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._listen_failures = FailureLog("listening for other node processes' commits")
        self._read_failures = FailureLog("reading other node processes' commits")
        #: The listening connection's server process id (None while it is being re-established), and how many
        #: times it has been established: for operators' logs and for tests.
        self.listen_pid: int | None = None
        self.connections = 0

    async def start(self) -> None:
        """Establish the listening connection (failing if it cannot be), then run in the background."""
        conn = await self._listen()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._keep_listening(conn), name="pyxmtp-postgres-listen"),
            loop.create_task(self._deliver(), name="pyxmtp-postgres-feed"),
        ]

    # --- what is watched -----------------------------------------------------------------------------------
    async def watch(self, kind: bytes, keys: Sequence[bytes]) -> None:
        watched = self._watched[kind]
        while True:
            new = list(dict.fromkeys(k for k in keys if k not in watched))
            if not new:
                break
            newest = await self._store.newest_ids(kind, new)
            for key, top in zip(new, newest, strict=True):
                if key not in watched:  # a concurrent watch of the same key may have come first
                    watched[key] = _Watch(0, top)
            # while the newest ids were read, the last unwatch of a key watched before may have come: again
        for key in keys:
            watched[key].refs += 1

    def unwatch(self, kind: bytes, keys: Sequence[bytes]) -> None:
        watched = self._watched[kind]
        for key in keys:
            entry = watched.get(key)
            if entry is None:
                continue
            entry.refs -= 1
            if entry.refs <= 0:
                del watched[key]

    def watching(self, kind: bytes) -> int:
        return len(self._watched[kind])

    def poke(self, kind: bytes, keys: Iterable[bytes]) -> None:
        """Rows of ``keys`` were committed: read the watched ones."""
        watched = self._watched[kind]
        marked = [k for k in keys if k in watched]
        if marked:
            self._dirty[kind].update(marked)
            self._wake.set()

    def _poke_all(self) -> None:
        for kind in KINDS:
            self._dirty[kind].update(self._watched[kind])
        self._wake.set()

    def _on_note(self, conn: Connection, pid: int, channel: str, payload: str) -> None:
        if pid == self._own_pid():
            return
        note = parse_note(payload)
        if note is not None:
            self.poke(*note)

    # --- the listening connection ----------------------------------------------------------------------------
    async def _listen(self) -> Connection:
        conn = await self._connect()
        try:
            await conn.add_listener(self._channel, self._on_note)
        except BaseException:
            conn.terminate()
            raise
        self.listen_pid = conn.get_server_pid()
        self.connections += 1
        return conn

    async def _keep_listening(self, conn: Connection) -> None:
        retry = RETRY_FIRST
        while True:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            if conn.is_closed():
                lost.set()
            # Commits made before LISTEN took effect were not notified: read every watched key again.
            self._poke_all()
            try:
                await self._while_alive(conn, lost)
            finally:
                self.listen_pid = None
                conn.terminate()
            log.warning(
                "the connection listening for other node processes' commits was lost; re-establishing it"
            )
            while True:
                await asyncio.sleep(retry)
                try:
                    conn = await self._listen()
                except (StoreError, *CLIENT_ERRORS, TimeoutError) as exc:
                    self._listen_failures.failed(exc)
                    retry = min(retry * 2, RETRY_MAX)
                    continue
                self._listen_failures.succeeded()
                retry = RETRY_FIRST
                break

    @staticmethod
    async def _while_alive(conn: Connection, lost: asyncio.Event) -> None:
        """Return once the connection is lost, or fails a liveness check after a silent interval."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), LIVENESS_INTERVAL)
                return
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), LIVENESS_TIMEOUT)
            except (*CLIENT_ERRORS, TimeoutError):
                return

    # --- delivery ----------------------------------------------------------------------------------------------
    async def _deliver(self) -> None:
        retry = RETRY_FIRST
        while True:
            await self._wake.wait()
            self._wake.clear()
            for kind in KINDS:
                dirty, self._dirty[kind] = self._dirty[kind], set()
                try:
                    await self._read(kind, [k for k in dirty if k in self._watched[kind]])
                except Exception as exc:  # StoreError: the database; anything else is logged as a bug
                    if isinstance(exc, StoreError):
                        self._read_failures.failed(exc)
                    else:
                        log.exception("delivering other node processes' commits failed")
                    self._dirty[kind] |= dirty  # read them again (the delivered ids did not move)
                    await asyncio.sleep(retry)
                    retry = min(retry * 2, RETRY_MAX)
                    self._wake.set()
                    break
            else:
                self._read_failures.succeeded()
                retry = RETRY_FIRST

    async def _read(self, kind: bytes, keys: list[bytes]) -> None:
        watched = self._watched[kind]
        while keys:
            chunk, keys = keys[:KEYS_PER_READ], keys[KEYS_PER_READ:]
            entries = {k: watched[k] for k in chunk if k in watched}
            if not entries:
                continue
            chunk = list(entries)
            try:
                records, cut = await self._store.read_after(
                    kind, chunk, [e.delivered for e in entries.values()], PER_KEY, READ_BYTES
                )
            except BaseException:
                self._dirty[kind].update(chunk + keys)
                raise
            counts: dict[bytes, int] = {}
            for r in records:
                key = r[2]  # group_id / installation_key
                counts[key] = counts.get(key, 0) + 1
                entry = watched.get(key)
                if entry is not None and r[0] > entry.delivered:
                    entry.delivered = r[0]
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "feed read %s: %d keys from %s: %d rows up to %s%s",
                    kind.decode(),
                    len(chunk),
                    min(e.delivered for e in entries.values()),
                    len(records),
                    records[-1][0] if records else "-",
                    " (cut)" if cut else "",
                )
            if records:
                self._store._tell_listeners(kind, records)
            keys += [k for k in chunk if cut or counts.get(k, 0) >= PER_KEY]

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
