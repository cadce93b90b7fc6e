"""How the client reaches the node: one ``grpc.aio`` channel over one or several node addresses, directly or
through a proxy (SOCKS5, Tor included, or HTTP CONNECT).

:func:`make_channel` takes the node's addresses (``host:port``; ``http://host:port``, plaintext;
``https://host:port``, TLS against the system's roots unless ``credentials`` say otherwise; several as a list or
one comma-separated string) and an optional proxy URL (``socks5h://[user:pass@]host:port``: the proxy resolves
the node's name, ``socks5://``: we resolve it, ``http://``: an HTTP CONNECT proxy), and returns a
:class:`Transport`: the channel and what must be closed with it.

Without a proxy, gRPC does everything: one name is resolved by gRPC's DNS resolver, several IP addresses become
gRPC's ``ipv4:``/``ipv6:`` multi-address target, and gRPC's ``round_robin`` policy spreads calls over every
address that answers and reconnects to those that fall away; read calls that fail UNAVAILABLE are retried by gRPC
(:data:`RETRIED_METHODS`), on another node when one is down.

gRPC itself cannot speak SOCKS (grpc/grpc#7526; its ``grpc.http_proxy`` setting ignores a ``socks5h://`` URL and
connects directly), and its HTTP CONNECT support breaks on multi-address targets. So with a proxy, the channel
connects to a relay of ours instead: a Unix socket in a fresh owner-only directory (no other local user can
connect to it; a loopback TCP port where there are no Unix sockets), where every connection gRPC opens is
carried through one proxy connection (python-socks) to one of the node addresses. The relay tries the addresses
in turn from the one that last worked, so a dead node is skipped and gRPC's reconnection lands on a live one.
The channel keeps the node's name as its authority, so TLS still checks the node's certificate (and sends the
node's name as SNI, as a direct connection would) and the node sees the same ``:authority``.

What the node sees through a proxy: the proxy's address, never ours. What the local network sees: a connection to
the proxy only; with ``socks5h://`` no DNS query either (``socks5://`` resolves the node's name here). What stays
visible to the node: the gRPC user agent (grpc-python's version), as for every pyxmtp client.

Failures of the proxy (unreachable, refusing our credentials, unable to reach any node address) are kept by the
transport (:meth:`Transport.proxy_failure`) so that the failed call can say what went wrong; the password of a
proxy URL is never shown (:class:`ProxyUrl` prints ``***``) nor logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import random
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

import grpc
from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
from python_socks.async_.asyncio import Proxy

from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2

log = logging.getLogger("pyxmtp.client.transport")

#: At most this many node addresses in one channel.
MAX_ADDRESSES = 64
#: The relay carries at most this many connections at once (gRPC opens one per channel, a few while reconnecting).
MAX_RELAYED_CONNECTIONS = 16
_RELAY_CHUNK = 256 * 1024
#: What gRPC may send before a node answers, kept to send again to the next address (HTTP/2 flow control keeps
#: it near 64 KiB; a TLS hello is far less).
MAX_REPLAY_BYTES = 1024 * 1024
_GRPC_URI = re.compile(r"^(dns|ipv4|ipv6|unix|unix-abstract|vsock):(?!\d+$)")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")


def _method(service: object, name: str) -> dict[str, str]:
    return {"service": service.full_name, "method": name}  # type: ignore[attr-defined]


_MLS = mls_pb2.DESCRIPTOR.services_by_name["MlsApi"]
_IDENTITY = identity_pb2.DESCRIPTOR.services_by_name["IdentityApi"]
#: The calls gRPC may send again (to another node) when they fail UNAVAILABLE: reads only, since a write that failed
#: that way may have been stored all the same (the client publishes unpublished messages again on its own terms).
RETRIED_METHODS = (
    _method(_MLS, "QueryGroupMessages"),
    _method(_MLS, "QueryWelcomeMessages"),
    _method(_MLS, "FetchKeyPackages"),
    _method(_IDENTITY, "GetInboxIds"),
    _method(_IDENTITY, "GetIdentityUpdates"),
)
_RETRY_POLICY = {
    "maxAttempts": 3,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


class TransportConfigError(ValueError):
    """A node address or proxy URL that cannot be used (misuse by the caller); never shows a proxy password."""


# --- addresses ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NodeAddress:
    """One node address: ``host`` (a name or an IP address), ``port``, and ``tls`` (True for ``https://``, False
    for ``http://``, None when no scheme was given)."""

    host: str
    port: int
    tls: bool | None = None

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def ip_version(self) -> int | None:
        """4 or 6 for an IP address, None for a name."""
        try:
            return ipaddress.ip_address(self.host).version
        except ValueError:
            return None


def parse_address(text: str) -> NodeAddress:
    """``host:port``, ``[v6]:port``, ``http://host[:port]`` (port 80) or ``https://host[:port]`` (port 443)."""
    text = re.sub(
        r"^([^@/]*//)?[^@/]*@", r"\1***@", text.strip()
    )  # never echo credentials given here by mistake
    tls: bool | None = None
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise TransportConfigError(f"node address {text!r}: the scheme must be http:// or https://")
        tls = scheme.lower() == "https"
        text = rest.rstrip("/")
    try:
        parts = urlsplit("//" + text)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise TransportConfigError(f"node address {text!r}: {exc}") from None
    if parts.username is not None or parts.path or parts.query or parts.fragment:
        raise TransportConfigError(f"node address {text!r}: only host:port is expected")
    if port is None:
        if tls is None:
            raise TransportConfigError(f"node address {text!r}: host:port expected (the port is missing)")
        port = 443 if tls else 80
    if not host or not _valid_host(host):
        raise TransportConfigError(f"node address {text!r}: not a host name or IP address")
    return NodeAddress(host, port, tls)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_NAME.match(host)) and ".." not in host


def parse_addresses(addresses: str | Sequence[str]) -> list[NodeAddress]:
    """Every address of a list, or of a comma-separated string (at most :data:`MAX_ADDRESSES`)."""
    items = addresses.split(",") if isinstance(addresses, str) else list(addresses)
    if not items or not all(isinstance(a, str) and a.strip() for a in items):
        raise TransportConfigError("no node address given (or an empty one in the list)")
    if len(items) > MAX_ADDRESSES:
        raise TransportConfigError(f"{len(items)} node addresses: at most {MAX_ADDRESSES}")
    return [parse_address(a) for a in items]


# --- proxy URLs -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProxyUrl:
    """A proxy: ``kind`` (``socks5h``: the proxy resolves node names, ``socks5``: we do, ``http``: CONNECT),
    ``host``, ``port`` and optional credentials. Printed without its password."""

    kind: Literal["socks5", "socks5h", "http"]
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> ProxyUrl:
        """``socks5h://[user:pass@]host:port``, ``socks5://...`` or ``http://...`` (the port is required)."""
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in ("socks5", "socks5h", "http"):
            raise TransportConfigError(
                "the proxy URL must start with socks5h:// (the proxy resolves names; Tor), socks5:// or http://"
            )
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            raise TransportConfigError(f"the {scheme} proxy URL is not host:port") from None
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise TransportConfigError(f"the {scheme} proxy URL must be {scheme}://[user:pass@]host:port")
        if not host or port is None or not _valid_host(host):
            raise TransportConfigError(
                f"the {scheme} proxy URL needs a host and a port ({scheme}://host:port)"
            )
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if username is not None or password is not None:
            if not username or not password:
                raise TransportConfigError(
                    f"the {scheme} proxy URL needs both a user name and a password, or neither"
                )
            for what, value in (("user name", username), ("password", password)):
                if not value.isascii() or len(value) > 255:
                    raise TransportConfigError(f"the proxy's {what} must be ASCII, at most 255 characters")
            if scheme == "http" and ":" in username:
                raise TransportConfigError("an HTTP proxy's user name may not contain ':'")
        kind: Literal["socks5", "socks5h", "http"] = scheme  # type: ignore[assignment]
        return cls(kind, host, port, username, password)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        credentials = "***@" if self.username is not None else ""
        return f"{self.kind}://{credentials}{host}:{self.port}"

    def scrub(self, text: str) -> str:
        """``text`` with the password (should a library ever echo it) replaced by ``***``."""
        return text.replace(self.password, "***") if self.password else text


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


# --- the relay ------------------------------------------------------------------------------------------------
class _Relay:
    """Listens where only this user can connect; carries each accepted connection through one proxy connection to
    a node address (see the module docstring). Needs the running event loop."""

    def __init__(self, proxy: ProxyUrl, addresses: Sequence[NodeAddress], connect_timeout: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise TransportConfigError(
                "a proxied channel is made inside the running asyncio event loop"
            ) from None
        self.proxy = proxy
        self.addresses = list(addresses)
        self.connect_timeout = connect_timeout
        self._client = Proxy(
            ProxyType.HTTP if proxy.kind == "http" else ProxyType.SOCKS5,
            proxy.host,
            proxy.port,
            username=proxy.username,
            password=proxy.password,
            rdns=proxy.kind != "socks5",  # socks5h and CONNECT: the proxy resolves the node's name
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


# --- the channel ----------------------------------------------------------------------------------------------
class Transport:
    """A channel to the node (:attr:`channel`) and, with a proxy, the relay that closes with it."""

    def __init__(self, channel: grpc.aio.Channel, description: str, relay: _Relay | None = None) -> None:
        self.channel = channel
        self.description = description
        self._relay = relay

    @property
    def relay_target(self) -> str | None:
        """Where the relay listens for the channel (``unix:/tmp/pyxmtp-proxy-.../s``); None without a proxy."""
        return self._relay.target if self._relay is not None else None

    def proxy_failure(self) -> ProxyFailure | None:
        """Why the last connection through the proxy failed, if it did (None once one succeeds; always None
        without a proxy)."""
        return self._relay.failure if self._relay is not None else None

    async def close(self) -> None:
        await self.channel.close()
        if self._relay is not None:
            await self._relay.close()


def make_channel(
    addresses: str | Sequence[str],
    *,
    credentials: grpc.ChannelCredentials | None = None,
    proxy: str | ProxyUrl | None = None,
    options: Sequence[tuple[str, object]] = (),
    connect_timeout: float = 30.0,
) -> Transport:
    """A channel to the node at ``addresses`` (see the module docstring), through ``proxy`` if given.

    TLS is used when ``credentials`` are given or the addresses say ``https://`` (then with the system's roots
    unless ``credentials`` are given). All of one channel's addresses are checked against the first one's host
    name, as gRPC checks every connection of a channel against one name. ``connect_timeout`` bounds each
    connection through the proxy. Raises :class:`TransportConfigError` for unusable addresses or proxy URLs.
    """
    options = list(options)
    if isinstance(addresses, str) and _GRPC_URI.match(addresses.strip()):
        if proxy is not None:
            raise TransportConfigError(
                "a gRPC target URI cannot go through a proxy: give the node as host:port"
            )
        return _channel(addresses.strip(), credentials, options, addresses.strip(), balanced=True)
    nodes = parse_addresses(addresses)
    schemes = {a.tls for a in nodes if a.tls is not None}
    if len(schemes) > 1:
        raise TransportConfigError("the node addresses mix http:// and https://")
    if credentials is not None and schemes == {False}:
        raise TransportConfigError("TLS credentials were given for http:// (plaintext) node addresses")
    if credentials is None and schemes == {True}:
        credentials = grpc.ssl_channel_credentials()
    first = nodes[0]
    names = ", ".join(map(str, nodes))
    if proxy is not None or len(nodes) > 1:  # the channel's target is not the node's name: name it
        options.append(("grpc.default_authority", str(first)))
        if credentials is not None:
            options.append(("grpc.ssl_target_name_override", first.host))
    if proxy is None:
        _warn_ignored_socks_environment()
        if len(nodes) == 1:
            return _channel(str(first), credentials, options, names, balanced=True)
        versions = {a.ip_version for a in nodes}
        if versions == {4}:
            target = "ipv4:" + ",".join(map(str, nodes))
        elif versions == {6}:
            target = "ipv6:" + ",".join(map(str, nodes))
        else:
            raise TransportConfigError(
                "several node addresses must all be IPv4 or all IPv6 addresses (gRPC balances over IP addresses); "
                "give one DNS name with several records instead, or go through a proxy"
            )
        return _channel(target, credentials, options, names, balanced=True)
    proxy_url = proxy if isinstance(proxy, ProxyUrl) else ProxyUrl.parse(proxy)
    relay = _Relay(proxy_url, nodes, connect_timeout)
    options.append(("grpc.enable_http_proxy", 0))  # never gRPC's own proxy (http_proxy in the environment)
    return _channel(
        relay.target, credentials, options, f"{names} via {proxy_url}", balanced=False, relay=relay
    )


def _warn_ignored_socks_environment() -> None:
    """gRPC takes an HTTP CONNECT proxy from these variables but ignores a SOCKS one and connects directly: say so,
    as whoever set it expects to be hidden."""
    for name in ("grpc_proxy", "https_proxy", "http_proxy"):
        value = os.environ.get(name) or os.environ.get(name.upper()) or ""
        if value.lower().startswith("socks"):
            log.warning(
                "gRPC ignores the SOCKS proxy in $%s and connects directly: pass the proxy explicitly", name
            )
            return


def _channel(
    target: str,
    credentials: grpc.ChannelCredentials | None,
    options: list[tuple[str, object]],
    description: str,
    *,
    balanced: bool,
    relay: _Relay | None = None,
) -> Transport:
    config: dict[str, object] = {
        "methodConfig": [{"name": list(RETRIED_METHODS), "retryPolicy": _RETRY_POLICY}]
    }
    if balanced:
        config["loadBalancingConfig"] = [{"round_robin": {}}]
    options = [*options, ("grpc.service_config", json.dumps(config))]
    if credentials is None:
        channel = grpc.aio.insecure_channel(target, options=options)
    else:
        channel = grpc.aio.secure_channel(target, credentials, options=options)
    return Transport(channel, description, relay)
