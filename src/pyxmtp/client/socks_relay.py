"""The relay between a gRPC channel and a SOCKS5 proxy (Tor included): gRPC cannot speak SOCKS itself.

The relay listens on a Unix socket in a fresh owner-only directory (no other local user can connect to it; a
loopback TCP port where there are no Unix sockets). Every connection gRPC opens there is carried through one
connection of the proxy (python-socks; ``socks5h``: the proxy resolves the node's name, so no DNS query leaves
from here) to one of the node addresses, tried in turn from the one that last worked. A connection counts once
its node has answered: a proxy may report success and then close (pproxy does), a node may die; what gRPC sent
until then goes again to the next address (no node read it: a gRPC node speaks first, and answers a TLS hello
before it reads a request). Why the last attempt failed is kept (:attr:`SocksRelay.failure`) for the failed call
to say; the proxy's password is never shown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
from python_socks.async_.asyncio import Proxy

if TYPE_CHECKING:
    from .transport import NodeAddress, ProxyUrl

log = logging.getLogger("pyxmtp.client.transport")

#: The relay carries at most this many connections at once (gRPC opens one per channel, a few while reconnecting).
MAX_RELAYED_CONNECTIONS = 16
_RELAY_CHUNK = 256 * 1024
#: What gRPC may send before a node answers, kept to send again to the next address (HTTP/2 flow control keeps
#: it near 64 KiB; a TLS hello is far less).
MAX_REPLAY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProxyFailure:
    """Why the last connection through the proxy failed: ``proxy`` (printed without password), the node
    ``address`` tried last, and the ``reason``."""

    proxy: str
    address: str
    reason: str

    def __str__(self) -> str:
        return f"through the proxy {self.proxy} to {self.address}: {self.reason}"


_Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class SocksRelay:
    """Listens at :attr:`target` where only this user can connect; carries each accepted connection through one
    connection of the SOCKS5 ``proxy`` to one of the node ``addresses`` (see the module docstring). Made inside
    the running event loop; :meth:`close` it."""

    def __init__(self, proxy: ProxyUrl, addresses: Sequence[NodeAddress], connect_timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self.proxy = proxy
        self.addresses = list(addresses)
        self.connect_timeout = connect_timeout
        self._client = Proxy(
            ProxyType.SOCKS5,
            proxy.host,
            proxy.port,
            username=proxy.username,
            password=proxy.password,
            rdns=proxy.kind == "socks5h",  # the proxy resolves the node's name; socks5: we do
            loop=loop,
        )
        self._preferred = random.randrange(len(self.addresses))  # spread many clients' first connections
        self._failure: ProxyFailure | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._dir: str | None = None
        sock = self._listen()
        self._server_start = loop.create_task(self._start(sock))

    def _listen(self) -> socket.socket:
        if hasattr(socket, "AF_UNIX") and sys.platform != "win32":
            self._dir = tempfile.mkdtemp(prefix="pyxmtp-proxy-")  # mode 0700: only this user connects
            path = os.path.join(self._dir, "s")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(path)
            except OSError:
                sock.close()
                shutil.rmtree(self._dir, ignore_errors=True)
                raise
            self.target = f"unix:{path}"
        else:  # no Unix sockets: loopback TCP (other local users could connect to the port)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            self.target = f"ipv4:127.0.0.1:{sock.getsockname()[1]}"
        sock.listen(MAX_RELAYED_CONNECTIONS)
        sock.setblocking(False)
        return sock

    async def _start(self, sock: socket.socket) -> asyncio.Server:
        if sock.family == socket.AF_INET:
            return await asyncio.start_server(self._accepted, sock=sock)
        return await asyncio.start_unix_server(self._accepted, sock=sock)

    @property
    def failure(self) -> ProxyFailure | None:
        return self._failure

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self._closed or len(self._tasks) > MAX_RELAYED_CONNECTIONS:
                return
            upstream = await self._reach_node(reader, writer)
            if upstream is None:
                return
            try:
                await _splice((reader, writer), upstream)
            finally:
                upstream[1].close()
        except OSError as exc:
            log.debug("a relayed connection through %s ended: %s", self.proxy, self.proxy.scrub(str(exc)))
        except asyncio.CancelledError:
            if not self._closed:
                raise
            # closed by close(): end quietly (asyncio's server logs a callback task that ends cancelled)
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _reach_node(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _Pair | None:
        """A proxy connection to the first node address whose node answers, trying them in turn from the one that
        last worked. A connection counts once the node has sent its first bytes (its HTTP/2 settings, or its TLS
        hello): a proxy may say it connected and then close (pproxy does), a node may die. What gRPC sent until
        then goes again to the next address: no node read it, as a node speaks (or answers the TLS hello) before
        it reads a request."""
        sent = bytearray()
        count = len(self.addresses)
        for step in range(count):
            index = (self._preferred + step) % count
            address = self.addresses[index]
            try:
                sock = await self._client.connect(address.host, address.port, timeout=self.connect_timeout)
            except ProxyTimeoutError:  # the proxy is slow, or its way to this node is (Tor)
                self._fail(address, f"no connection through the proxy within {self.connect_timeout:g} s")
                continue
            except ProxyConnectionError as exc:
                cause = exc.__cause__
                why = cause.strerror if isinstance(cause, OSError) and cause.strerror else "no connection"
                self._fail(address, f"the proxy is unreachable ({why})")
                return None  # the proxy itself is away: other addresses would not fare better
            except ProxyError as exc:  # the proxy answered: it refused us, or could not reach this node
                self._fail(address, f"the proxy refused: {exc or 'it closed the connection'}")
                continue
            except socket.gaierror as exc:  # socks5://: our resolver does not know the name
                self._fail(
                    address, f"cannot resolve {address.host} here ({exc}); socks5h:// has the proxy do it"
                )
                continue
            except OSError as exc:  # the proxy reset the connection during its handshake
                self._fail(address, f"the connection to the proxy failed ({exc.strerror or exc})")
                return None
            try:
                upstream = await asyncio.open_connection(sock=sock, limit=_RELAY_CHUNK)
            except OSError:
                sock.close()
                raise
            upstream[1].write(bytes(sent))
            answer = await self._first_answer(reader, upstream, sent)
            if answer:
                writer.write(answer)
                self._preferred = index
                self._failure = None
                log.debug("connected to %s through %s", address, self.proxy)
                return upstream
            upstream[1].close()
            if answer is None:  # gRPC closed its side, or sent more than can be kept for another address
                return None
            self._fail(address, "the connection through the proxy closed before the node answered")
        return None

    async def _first_answer(
        self, reader: asyncio.StreamReader, upstream: _Pair, sent: bytearray
    ) -> bytes | None:
        """The node's first bytes (b"" if the connection to it fails, or it stays silent for the connect timeout),
        passing on what gRPC sends meanwhile and keeping it in ``sent``; None if gRPC closed first (or sent more
        than :data:`MAX_REPLAY_BYTES`: that could not go to another address)."""

        async def forward() -> None:
            while data := await reader.read(_RELAY_CHUNK):
                if len(sent) + len(data) > MAX_REPLAY_BYTES:
                    return
                sent.extend(data)
                upstream[1].write(data)
                await upstream[1].drain()  # an error here is the node's side failing

        forwarding = asyncio.ensure_future(forward())
        answering = asyncio.ensure_future(upstream[0].read(_RELAY_CHUNK))
        try:
            await asyncio.wait(
                (forwarding, answering), timeout=self.connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if answering.done():
                return b"" if answering.exception() is not None else answering.result()
            if forwarding.done():
                return b"" if forwarding.exception() is not None else None
            return b""
        finally:
            for task in (forwarding, answering):
                task.cancel()
            await asyncio.gather(forwarding, answering, return_exceptions=True)

    def _fail(self, address: NodeAddress, reason: str) -> None:
        self._failure = ProxyFailure(str(self.proxy), str(address), self.proxy.scrub(reason))
        log.info("cannot reach the node %s", self._failure)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            server: asyncio.Server | None = await self._server_start
        except OSError:
            server = None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


async def _splice(a: _Pair, b: _Pair) -> None:
    """Copy bytes both ways until either side ends (an HTTP/2 connection is over when one side closes)."""

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(_RELAY_CHUNK):
            writer.write(data)
            await writer.drain()

    tasks = [asyncio.ensure_future(pump(a[0], b[1])), asyncio.ensure_future(pump(b[0], a[1]))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
