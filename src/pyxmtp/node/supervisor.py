"""``pyxmtp node --workers N``: N node processes serving one port, supervised by this one.

Each worker is a whole node (``pyxmtp node --worker I``) on the shared PostgreSQL schema, listening on the same
port with SO_REUSEPORT, so that the kernel spreads incoming connections over them; a connection, and every call
on it, stays with the worker that accepted it. Only worker 0 serves the history server (its uploads are files
in one directory). The supervisor serves nothing itself:

- a worker that exits, whatever the reason (a crash, ``kill -9``), is started again -- at once the first time,
  then after a wait that doubles while it keeps exiting within :data:`STEADY` seconds of its start, up to
  :data:`MAX_BACKOFF`;
- a worker that fails its very first start (exit status 1: the database is unreachable, the port is taken) stops
  the whole node with that status, since every other one would fail the same way;
- SIGTERM or SIGINT is passed on to every worker, which drains as a single node does (its streams end, calls in
  flight get the grace period), and the supervisor exits once all have; one still running
  :data:`STOP_MARGIN` seconds past the grace period is killed.

With port 0 the supervisor picks a free port first and holds it (bound, not listening, with SO_REUSEPORT) so
that a restarted worker finds it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Mapping

log = logging.getLogger("pyxmtp.node.supervisor")

#: A worker that ran this long before exiting is restarted at once.
STEADY = 10.0
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
#: Seconds past the grace period that a stopping worker gets before it is killed.
STOP_MARGIN = 10.0
#: The exit status with which ``pyxmtp node`` reports that it could not start.
CANNOT_START = 1


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """A socket bound to ``host:port`` (port 0: a free one) with SO_REUSEPORT, not listening, and its port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock, int(sock.getsockname()[1])


class Supervisor:
    """Runs ``workers`` processes of ``command(index)`` with ``env`` until stopped (see the module docstring)."""

    def __init__(
        self,
        workers: int,
        command: Callable[[int], list[str]],
        env: Mapping[str, str],
        grace: float,
    ) -> None:
        self.workers = workers
        self.command = command
        self.env = dict(env)
        self.grace = grace
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.starts = 0
        self._stop = asyncio.Event()
        self._status = 0

    def stop(self, status: int = 0) -> None:
        if not self._stop.is_set():
            self._status = status
            self._stop.set()

    async def _keep(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.0
        first = True
        while not self._stop.is_set():
            started = loop.time()
            proc = await asyncio.create_subprocess_exec(*self.command(index), env=self.env)
            self.procs[index] = proc
            self.starts += 1
            log.info("worker %d started (pid %d)", index, proc.pid)
            code = await proc.wait()
            if self._stop.is_set():
                return
            if first and code == CANNOT_START:
                log.error("worker %d could not start; stopping the node", index)
                self.stop(CANNOT_START)
                return
            first = False
            if loop.time() - started >= STEADY:
                backoff = 0.0
            log.error("worker %d (pid %d) exited with status %s; restarting it", index, proc.pid, code)
            if backoff:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
            backoff = min(max(backoff * 2, FIRST_BACKOFF), MAX_BACKOFF)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        keepers = [loop.create_task(self._keep(i), name=f"pyxmtp-worker-{i}") for i in range(self.workers)]
        await self._stop.wait()
        log.info("stopping %d workers", self.workers)
        running = [p for p in self.procs.values() if p.returncode is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        waiting = [loop.create_task(p.wait()) for p in running]
        if waiting:
            _done, late = await asyncio.wait(waiting, timeout=self.grace + STOP_MARGIN)
            if late:
                log.error("%d workers did not stop in time; killing them", len(late))
                for proc in running:
                    if proc.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            proc.kill()
                await asyncio.wait(waiting)
        for task in keepers:
            task.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        log.info("pyxmtp node stopped (%d workers)", self.workers)
        return self._status


def worker_command(argv: list[str]) -> Callable[[int], list[str]]:
    """The command line of worker ``index``: ``pyxmtp node ARGV --worker INDEX`` with this interpreter."""
    return lambda index: [sys.executable, "-m", "pyxmtp", "node", *argv, "--worker", str(index)]
