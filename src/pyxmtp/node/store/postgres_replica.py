"""Reads from a PostgreSQL streaming replica (``--read-database-url``) without giving up read-your-writes.

What a read promises: it sees every write that any node process on the same primary had acknowledged before
the read began -- exactly what reading the primary promises. A client that writes through node A and then reads
through node B sees its write, whichever node it asks and whichever replica that node reads.

How: when a read begins, the node asks the primary for its WAL flush position (``pg_current_wal_flush_lsn()``);
every acknowledged commit ends at or before it (a commit is acknowledged once its WAL is flushed; a node with a
replica makes sure of that for its own writes even where the server's ``synchronous_commit`` is ``off``). One such
query answers every read that asked before it was sent (:class:`Coalesced`), so under load the primary answers a
few tiny queries per round trip instead of the reads. On a pooled replica connection the read then checks the
server's ``pg_last_wal_replay_lsn()``: once it has reached that position, any statement the server starts
afterwards takes a snapshot that holds all of those commits, and the read's statement runs there. The check needs
no round trip when a position at or past the target was asked for on the same server (one URL may lead to several
replicas) after this connection was opened: a server that restarts -- even after a crash of one of its processes,
when it may begin again from an earlier point -- ends every connection, so a statement that succeeds on that
connection ran on the same run of the server. A replica that lags is asked again, with a growing pause and holding
no connection meanwhile, for a short while (``wait``); after that the read goes to the primary, and until a read
finds the replica caught up again the reads do not wait (they ask once).

A replica that cannot be reached, that times out, or that is no replica of this primary (promoted, or another
database system) sends reads to the primary: logged once, then probed every ``retry`` seconds until it serves
again. A statement the replica cancels (a conflict with recovery) runs again on the primary. Without the
primary there is no position to compare with: reads fail, as they do without a replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg

from .base import StoreError
from .postgres_conn import CLIENT_ERRORS, Connection, ReadConnection, connection_lost, redacted

log = logging.getLogger("pyxmtp.node.store")

T = TypeVar("T")
V = TypeVar("V")

#: The primary's WAL flush position and the replica's replay position, as byte offsets.
FLUSH_LSN = "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint"
#: NULL once the replica is promoted (the replay position itself stays where recovery ended).
REPLAY_LSN = (
    "SELECT CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END"
)
#: Which database system a server belongs to (a replica shares its primary's); None where not permitted.
SYSTEM_ID = "SELECT system_identifier FROM pg_control_system()"

#: Connecting to the replica, or a statement on it, may take this long before the read goes to the primary.
REPLICA_TIMEOUT = 5.0
#: The first pause while waiting for a lagging replica (it doubles each time).
FIRST_PAUSE = 0.001


class NotAReplica(StoreError):
    """The read database is not a streaming replica of the primary (promoted, or another database system)."""


@dataclass(slots=True)
class ReplicaStats:
    """Where the reads meant for the replica went."""

    #: Served by the replica.
    replica: int = 0
    #: Served by the primary because the replica had not replayed the primary's position in time.
    lagging: int = 0
    #: Served by the primary because the replica was unreachable or no replica.
    unavailable: int = 0
    #: Served by the primary because the replica failed the statement (e.g. a conflict with recovery).
    failed: int = 0


async def system_id(conn: Connection) -> int | None:
    """The database system identifier of ``conn``'s server; None if the role may not read it."""
    try:
        value = await conn.fetchval(SYSTEM_ID)
    except asyncpg.InsufficientPrivilegeError:
        return None
    return int(value)


async def prepare_writer(conn: Connection) -> int | None:
    """Make the writing connection ``conn`` acknowledge a write only once its WAL is flushed (the position reads
    compare with), also where the server's ``synchronous_commit`` is ``off``; returns the primary's system id."""
    if await conn.fetchval("SHOW synchronous_commit") == "off":
        await conn.execute("SET synchronous_commit = local")
    return await system_id(conn)


class Coalesced(Generic[V]):
    """A value fetched by one query at a time: a caller waits for the first query sent after it asked, which
    answers every caller that asked before it was sent (so the answer is no older than the question)."""

    def __init__(self, fetch: Callable[[], Awaitable[V]]) -> None:
        self._fetch = fetch
        self._next: asyncio.Future[V] | None = None
        self._task: asyncio.Task[None] | None = None

    async def now(self) -> V:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run(), name="pyxmtp-coalesced")
        return await asyncio.shield(self._next)

    async def _run(self) -> None:
        while self._next is not None:
            waiting, self._next = self._next, None  # whoever asks from now on waits for the next query
            try:
                value = await self._fetch()
            except asyncio.CancelledError:
                waiting.cancel()
                raise
            except Exception as exc:
                waiting.set_exception(exc)
                waiting.exception()  # retrieved: nobody may be waiting any more
            else:
                waiting.set_result(value)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class ReplicaConnection(ReadConnection):
    """A pooled replica connection that knows its server and when it was opened."""

    __slots__ = ("opened", "server")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The event loop's clock once the connection was made: a replay position asked for on its server after
        #: that holds for a statement that succeeds on it (the server has not restarted in between, or the
        #: connection would be gone).
        self.opened = float("inf")
        #: Which server (address, port, start time): one URL may lead to several replicas, each at its own point.
        self.server: tuple[str, ...] = ()


class ReplicaReads:
    """Runs reads on the replica at ``dsn`` when it has caught up, else through ``primary`` (see the module
    docstring). ``primary_id``: the primary's system identifier (None: not checked). Create with :meth:`open`."""

    def __init__(
        self,
        dsn: str,
        primary: Callable[[Callable[[Connection], Awaitable[Any]]], Awaitable[Any]],
        primary_id: int | None,
        wait: float,
        retry: float,
    ) -> None:
        self._dsn = dsn
        self._primary = primary
        self._primary_id = primary_id
        self.wait = wait
        self.retry = retry
        self.stats = ReplicaStats()
        #: The primary's flush position, asked after a read began.
        self._flushed: Coalesced[int] = Coalesced(lambda: primary(lambda c: c.fetchval(FLUSH_LSN)))
        #: Per replica server, the latest replay position asked for and when (the event loop's clock).
        self._seen: dict[tuple[str, ...], tuple[float, int]] = {}
        #: The last read found the replica behind, and did not wait long enough for it.
        self._behind = False
        self._pool: Any = None
        self._down = False
        self._probe: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        settings: dict[str, str],
        connections: int,
        primary: Callable[[Callable[[Connection], Awaitable[Any]]], Awaitable[Any]],
        primary_id: int | None,
        wait: float,
        retry: float,
    ) -> ReplicaReads:
        """Make the pool (no connection yet) and try the replica once: if it does not serve, the node starts
        anyway, reading the primary until it does."""
        if "application_name" not in dsn:  # named in pg_stat_activity, unless the URI names the connections
            settings = {
                **settings,
                "application_name": f"{settings.get('application_name', 'pyxmtp')} (replica)",
            }
        reads = cls(dsn, primary, primary_id, wait, retry)
        reads._pool = asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=connections,
            server_settings=settings,
            init=reads._check_replica,
            connection_class=ReplicaConnection,
            timeout=REPLICA_TIMEOUT,
            command_timeout=REPLICA_TIMEOUT,
        )
        await reads._pool
        failure = await reads._try()
        if failure is None:
            log.info("reading from the replica at %s", redacted(dsn))
        else:
            reads._went_down(failure)
        return reads

    @property
    def available(self) -> bool:
        """Whether reads are tried on the replica (false while it is down, until a probe finds it back)."""
        return not self._down

    async def _check_replica(self, conn: ReplicaConnection) -> None:
        """Each new replica connection: a server in recovery, of the primary's database system."""
        recovering, *server = await conn.fetchrow(
            "SELECT pg_is_in_recovery(), coalesce(inet_server_addr()::text, ''), "
            "coalesce(inet_server_port()::text, ''), pg_postmaster_start_time()::text"
        )
        if not recovering:
            raise NotAReplica(f"{redacted(self._dsn)} is not in recovery: no streaming replica")
        if self._primary_id is not None:
            mine = await system_id(conn)
            if mine is not None and mine != self._primary_id:
                raise NotAReplica(f"{redacted(self._dsn)} is a replica of another database system")
        conn.server = tuple(server)
        conn.opened = asyncio.get_running_loop().time()

    async def _caught_up(self, conn: Connection, target: int) -> bool:
        """Whether ``conn``'s server has replayed ``target``: known from a position asked for there since
        ``conn`` was opened, else asked on ``conn`` (and remembered)."""
        seen = self._seen.get(conn.server)
        if seen is not None and seen[0] > conn.opened and seen[1] >= target:
            return True
        asked = asyncio.get_running_loop().time()
        replayed = await conn.fetchval(REPLAY_LSN)
        if replayed is None:
            raise NotAReplica(f"{redacted(self._dsn)} is no longer in recovery (promoted?)")
        if seen is None or asked > seen[0]:
            self._seen[conn.server] = (asked, replayed)
        return bool(replayed >= target)

    async def read(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """``fn``'s result on the replica if it has replayed what the primary had flushed when this read began,
        else on the primary."""
        if self._down:
            self.stats.unavailable += 1
            result: T = await self._primary(fn)
            return result
        target = await self._flushed.now()
        loop = asyncio.get_running_loop()
        # While the replica is behind (the last read found it so), reads do not wait: they ask once.
        deadline = loop.time() + (0.0 if self._behind else self.wait)
        pause = FIRST_PAUSE
        try:
            while True:
                async with self._pool.acquire(timeout=REPLICA_TIMEOUT) as conn:
                    if await self._caught_up(conn, target):
                        result = await fn(conn)
                        self.stats.replica += 1
                        self._behind = False
                        return result
                left = deadline - loop.time()
                if left <= 0:
                    break
                # the replica replays on its own time: ask again shortly, holding no connection meanwhile
                await asyncio.sleep(min(pause, left))
                pause *= 2
            self._behind = True
            self.stats.lagging += 1
        except (*CLIENT_ERRORS, TimeoutError, StoreError) as exc:
            pool = self._pool
            if (
                isinstance(exc, TimeoutError)
                and pool.get_idle_size() == 0
                and pool.get_size() >= pool.get_max_size()
            ):
                self.stats.failed += 1  # every connection busy: the replica is slow, or merely much asked
            elif isinstance(exc, (NotAReplica, TimeoutError)) or connection_lost(exc):
                # one lost connection (an administrator ended it, say) is not yet a lost replica: try a new one
                failure = exc if self._down or not connection_lost(exc) else await self._try()
                if failure is not None:
                    self._went_down(failure)
                self.stats.unavailable += 1
            else:  # the replica refused this statement (e.g. it conflicted with recovery): the primary will not
                log.debug("the read replica failed a read (%s); reading the primary", exc)
                self.stats.failed += 1
        result = await self._primary(fn)
        return result

    def _went_down(self, exc: BaseException) -> None:
        if self._down:
            return
        log.warning(
            "the read replica %s is not serving (%s); reading the primary until it is back",
            redacted(self._dsn),
            exc,
        )
        self._down = True
        self._seen.clear()
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(
                self._probe_loop(), name="pyxmtp-replica-probe"
            )

    async def _try(self) -> BaseException | None:
        """Why a new replica connection does not serve; None if it does (the pooled connections are replaced
        first: after a failure they are likely dead)."""
        try:
            await self._pool.expire_connections()
            async with self._pool.acquire(timeout=REPLICA_TIMEOUT) as conn:
                await self._caught_up(conn, 0)
        except (*CLIENT_ERRORS, TimeoutError, StoreError) as exc:
            return exc
        return None

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retry)  # a retry interval, not a wait for an event
            if await self._try() is None:
                self._down = False
                log.info("the read replica %s serves again", redacted(self._dsn))
                return

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self._flushed.close()
        if self._pool is not None:
            await self._pool.close()
