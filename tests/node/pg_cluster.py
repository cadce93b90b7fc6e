"""A PostgreSQL primary and its streaming replica of the tests' own, made with the server binaries of the machine
(``pg_config --bindir``: initdb, pg_ctl, pg_basebackup) in a temporary directory, on free loopback ports, with
fast settings (fsync off, small buffers). The server refuses to run as root: as root, they run as the ``postgres``
system user (``runuser``). Without the binaries or that user the tests are skipped, saying why, unless
``PYXMTP_REQUIRE_POSTGRES=1`` makes that a failure."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

from .procs import free_port

SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockets}'
port = {port}
fsync = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 60
shared_preload_libraries = 'pg_stat_statements'
"""


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("PYXMTP_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        unavailable("no pg_config on PATH: the PostgreSQL server binaries are not installed")
    out = subprocess.run([str(pg_config), "--bindir"], capture_output=True, text=True, check=True).stdout
    bindir = Path(out.strip())
    for tool in ("initdb", "pg_ctl", "pg_basebackup", "postgres"):
        if not (bindir / tool).exists():
            unavailable(f"{bindir / tool} is missing (the PostgreSQL server package is not installed)")
    return bindir


def _as_user() -> tuple[list[str], int | None]:
    """The command prefix that runs a server binary as a user it accepts, and that user's uid (None: us)."""
    if os.geteuid() != 0:
        return [], None
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        unavailable("running as root, and there is no postgres system user to run the PostgreSQL server as")
    runuser = shutil.which("runuser")
    if runuser is None:
        unavailable("running as root, and there is no runuser to run the PostgreSQL server as postgres")
    return [runuser, "-u", "postgres", "--"], uid


class Server:
    def __init__(self, cluster: Replication, name: str) -> None:
        self.cluster = cluster
        self.data = cluster.root / name
        self.port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def configure(self) -> None:
        with open(
            self.data / "postgresql.conf", "a"
        ) as conf:  # later lines win over those copied from the primary
            conf.write(SETTINGS.format(sockets=self.cluster.root, port=self.port))

    def start(self) -> None:
        self.cluster.run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.data) + ".log", "-w", "-t", "60", "start"
        )

    def promote(self) -> None:
        """End recovery: the replica becomes a primary of its own."""
        self.cluster.run("pg_ctl", "-D", str(self.data), "-w", "promote")

    def stop(self) -> None:
        self.cluster.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)


class Replication:
    """``primary`` and ``replica`` (pg_basebackup -R: streaming from the primary), both started."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.prefix, uid = _as_user()
        self.root = Path(tempfile.mkdtemp(prefix="pyxmtp-pg-"))
        if uid is not None:
            os.chown(self.root, uid, -1)
        self.primary = Server(self, "primary")
        self.replica = Server(self, "replica")

    def run(self, tool: str, *args: str, check: bool = True) -> None:
        done = subprocess.run(
            [*self.prefix, str(self.bindir / tool), *args], capture_output=True, text=True, timeout=120
        )
        if check and done.returncode:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({done.returncode}): {done.stderr or done.stdout}"
            )

    def start(self) -> None:
        p, r = self.primary, self.replica
        self.run("initdb", "-D", str(p.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        p.configure()
        p.start()
        self.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(p.port), "-U", "postgres", "-D", str(r.data),
            "-R", "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip
        r.configure()
        r.start()

    def close(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def sql(self, server: Server, statement: str) -> None:
        """Run ``statement`` on ``server`` (psql, as the postgres role)."""
        done = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                server.dsn,
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode:
            raise RuntimeError(f"{statement!r} failed: {done.stderr}")

    async def pause_replay(self) -> None:
        """Stop the replica replaying the primary's WAL (it keeps receiving it); returns once it has stopped."""
        await self._replay("pg_wal_replay_pause", "paused")

    async def resume_replay(self) -> None:
        await self._replay("pg_wal_replay_resume", "not paused")

    async def _replay(self, function: str, state: str) -> None:
        import asyncpg

        from .waiting import until

        conn = await asyncpg.connect(self.replica.dsn)
        try:
            await conn.execute(f"SELECT {function}()")

            async def reached() -> bool:
                return bool(await conn.fetchval("SELECT pg_get_wal_replay_pause_state()") == state)

            await until(reached)
        finally:
            await conn.close()
