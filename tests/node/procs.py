"""Running ``pyxmtp node`` as a real subprocess (CLI, kill -9 and interop tests)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LISTENING = re.compile(r"listening on (\S+):(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeProcess:
    """``python -m pyxmtp node ...``; stderr goes to a file so the pipe can never fill up."""

    def __init__(self, data_dir: Path, port: int = 0, *extra: str, log: Path | None = None) -> None:
        self.log_path = log or data_dir.parent / f"node-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyxmtp",
                "node",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *(() if "--history-port" in extra else ("--no-history",)),  # not on the fixed port 5558
                *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.port = 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = LISTENING.search(self.log())
            if m:
                self.port = int(m.group(2))
                return self.port
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)  # a poll, with the deadline above
        raise TimeoutError(f"node did not start:\n{self.log()}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()


async def stop_all(procs: list[NodeProcess], timeout: float = 30.0) -> None:
    """SIGTERM every node, then wait for each (up to ``timeout`` s; one that does not stop is killed)."""
    for p in procs:
        p.signal(signal.SIGTERM)
    for p in procs:
        try:
            await asyncio.to_thread(p.wait, timeout)
        except Exception:
            p.kill()
