"""A real SOCKS5 (and HTTP CONNECT) proxy for the tests: pproxy (PyPI, the dev extra) in its own process.

Run as a script, it is pproxy's command line with two additions made inside the proxy's process only: names given
with ``--map NAME=IP`` resolve to that IP there (a host name that only the proxy can resolve, as an .onion name
only Tor can), and the event loop is set up before pproxy looks for one. Outgoing connections leave from the
``/@IP`` of the listening URI (pproxy's local bind), so the node sees the proxy at an address of its own.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.node.procs import free_port

#: The source address of the proxy's connections to the node (loopback, but not 127.0.0.1 where clients are).
PROXY_SOURCE = "127.0.0.2"


def can_bind(address: str) -> bool:
    """Whether this host lets a socket bind ``address`` (Linux: all of 127.0.0.0/8 is loopback)."""
    with socket.socket() as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


class SocksProxy:
    """pproxy serving SOCKS5 and HTTP CONNECT on 127.0.0.1:``port`` (``user:password`` required if given), its
    connections to nodes leaving from :data:`PROXY_SOURCE`; ``mapped`` names resolve only in its process."""

    def __init__(
        self,
        log: Path,
        *,
        user: str | None = None,
        password: str | None = None,
        mapped: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.user, self.password = user, password
        auth = f"#{user}:{password}" if user else ""
        maps = [arg for name, ip in (mapped or {}).items() for arg in ("--map", f"{name}={ip}")]
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.client.socks_proxy",
                *maps,
                "-l",
                f"http+socks5://127.0.0.1:{self.port}/@{PROXY_SOURCE}{auth}",
                "--auth",
                "0",  # pproxy would otherwise let an address that authenticated once in without credentials
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )

    def url(self, scheme: str = "socks5h", *, password: str | None = None) -> str:
        credentials = f"{self.user}:{password or self.password}@" if self.user else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"

    def wait_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if "Serving on" in text:
                return
            if "failed" in text or self.proc.poll() is not None:
                raise RuntimeError(f"the SOCKS proxy did not start:\n{text}")
            time.sleep(0.02)  # a poll, with the deadline above
        raise TimeoutError("the SOCKS proxy did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(20)
        finally:
            self._log.close()


def _main(argv: list[str]) -> None:
    mapped: dict[str, str] = {}
    while argv[:1] == ["--map"]:
        name, _, ip = argv[1].partition("=")
        mapped[name] = ip
        argv = argv[2:]
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        return real(mapped.get(host, host), *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    asyncio.set_event_loop(asyncio.new_event_loop())
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    from pproxy.server import main

    main(argv)


if __name__ == "__main__":
    _main(sys.argv[1:])
