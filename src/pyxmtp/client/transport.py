"""How the client reaches the node: one ``grpc.aio`` channel over one or several node addresses, directly or
through a proxy (SOCKS5, Tor included, or HTTP CONNECT).

:func:`make_channel` takes the node's addresses (``host:port``; ``http://host:port``, plaintext;
``https://host:port``, TLS against the system's roots unless ``credentials`` say otherwise; several as a list or
one comma-separated string) and an optional proxy URL (``socks5h://[user:pass@]host:port``: the proxy resolves
the node's name, ``socks5://``: we resolve it, ``http://``: an HTTP CONNECT proxy), and returns a
:class:`Transport`: the channel and what must be closed with it.

Without a proxy, gRPC does everything. One ``host:port`` keeps gRPC's default policy (pick_first: the first of the
name's addresses that answers, the next one when it fails; a channel left idle while its node restarts connects
again at once on its next call). Several IP addresses become gRPC's ``ipv4:``/``ipv6:`` multi-address target under
gRPC's ``round_robin`` policy, which spreads calls over every address that answers and reconnects to those that
fall away; so does a gRPC target URI given as it is (``dns:///name:port`` balances over all the records of a
name). Read calls that fail UNAVAILABLE are retried by gRPC (:data:`RETRIED_METHODS`), on another node when one
is down.

An HTTP CONNECT proxy is gRPC's own ``grpc.http_proxy`` (one node address; refused while ``no_proxy`` is set,
as gRPC would then connect directly to the names it lists). gRPC cannot speak SOCKS (grpc/grpc#7526; its
``grpc.http_proxy`` ignores a ``socks5h://`` URL and connects directly), so with a SOCKS5 proxy the channel
connects to our relay (:mod:`.socks_relay`), which carries each connection through the proxy to the first node
address that answers. The channel keeps the node's name as its authority, so TLS still checks the node's
certificate (and sends the node's name as SNI, as a direct connection would) and the node sees the same
``:authority``.

What the node sees through a proxy: the proxy's address, never ours. What the local network sees: a connection to
the proxy only; with ``socks5h://`` no DNS query either (``socks5://`` resolves the node's name here). What stays
visible to the node: the gRPC user agent (grpc-python's version), as for every pyxmtp client.

Failures of the proxy (unreachable, refusing our credentials, unable to reach any node address) are kept by the
transport (:meth:`Transport.proxy_failure`) so that the failed call can say what went wrong; the password of a
proxy URL is never shown (:class:`ProxyUrl` prints ``***``) nor logged.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

import grpc

from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .socks_relay import ProxyFailure, SocksRelay

__all__ = [
    "NodeAddress",
    "ProxyFailure",
    "ProxyUrl",
    "Transport",
    "TransportConfigError",
    "make_channel",
    "node_url_target",
    "parse_address",
    "parse_addresses",
]

log = logging.getLogger("pyxmtp.client.transport")

#: At most this many node addresses in one channel.
MAX_ADDRESSES = 64
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


def node_url_target(text: str) -> tuple[str, bool]:
    """A node URL as a user gives it (``HOST:PORT``, plaintext; ``http://HOST[:PORT]``, port 80;
    ``https://HOST[:PORT]``, TLS, port 443; the scheme in any case, a trailing ``/`` allowed), as gRPC's
    ``host:port`` target and whether it asks for TLS. :class:`TransportConfigError` saying what is wrong (the
    caller names the setting and the text)."""
    text = text.strip()
    if "://" not in text:
        host, sep, digits = text.rpartition(":")
        if not sep or not host or not digits.isdigit():
            raise TransportConfigError("give HOST:PORT, http://HOST[:PORT] or https://HOST[:PORT]")
        _check_url_port(int(digits))
        return text, False
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise TransportConfigError(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TransportConfigError("the scheme must be http:// or https://")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise TransportConfigError("only a scheme, a host and a port")
    if not parts.hostname:
        raise TransportConfigError("no host")
    tls = scheme == "https"
    number = port if port is not None else (443 if tls else 80)
    _check_url_port(number)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{number}", tls


def _check_url_port(port: int) -> None:
    if not 0 < port < 65536:
        raise TransportConfigError(f"port {port} is out of range")


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


# --- the channel ----------------------------------------------------------------------------------------------
class Transport:
    """A channel to the node (:attr:`channel`) and, with a SOCKS5 proxy, the relay that closes with it."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        description: str,
        *,
        relay: SocksRelay | None = None,
        connect_proxy: tuple[ProxyUrl, NodeAddress] | None = None,
    ) -> None:
        self.channel = channel
        self.description = description
        self._relay = relay
        self._connect_proxy = connect_proxy  # an HTTP CONNECT proxy, gRPC's own, and the node behind it

    @property
    def relay_target(self) -> str | None:
        """Where the relay listens for the channel (``unix:/tmp/pyxmtp-proxy-.../s``); None without a proxy."""
        return self._relay.target if self._relay is not None else None

    def proxy_failure(self, details: str = "") -> ProxyFailure | None:
        """Why the last connection through the proxy failed, if it did (None once one succeeds; always None
        without a proxy). For gRPC's own HTTP CONNECT, ``details`` of the failed call say why when the channel
        cannot connect."""
        if self._relay is not None:
            return self._relay.failure
        if self._connect_proxy is None:
            return None
        if self.channel.get_state() != grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            return None  # connected: an UNAVAILABLE status is the node's own
        proxy, address = self._connect_proxy
        return ProxyFailure(
            str(proxy), str(address), proxy.scrub(f"no connection through the proxy ({details})")
        )

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
            return _channel(str(first), credentials, options, names, balanced=False)
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
    if proxy_url.kind == "http":
        return _connect_channel(proxy_url, nodes, credentials, options, f"{names} via {proxy_url}")
    try:
        relay = SocksRelay(proxy_url, nodes, connect_timeout)
    except RuntimeError:  # no running event loop
        raise TransportConfigError(
            "a proxied channel is made inside the running asyncio event loop"
        ) from None
    options.append(("grpc.enable_http_proxy", 0))  # never gRPC's own proxy (http_proxy in the environment)
    return _channel(
        relay.target, credentials, options, f"{names} via {proxy_url}", balanced=False, relay=relay
    )


def _connect_channel(
    proxy: ProxyUrl,
    nodes: list[NodeAddress],
    credentials: grpc.ChannelCredentials | None,
    options: list[tuple[str, object]],
    description: str,
) -> Transport:
    """gRPC's own HTTP CONNECT support: it keeps the bytes a node sends right behind the proxy's answer (a gRPC
    node speaks first), which python-socks's CONNECT may read away with the answer. gRPC sends the node's name
    to the proxy (no DNS query here) and takes one node address."""
    if len(nodes) > 1:
        raise TransportConfigError(
            "an HTTP CONNECT proxy takes one node address; several go through socks5h://"
        )
    for name in ("no_grpc_proxy", "no_proxy", "NO_PROXY"):
        if os.environ.get(name):
            raise TransportConfigError(
                f"${name} is set: gRPC would connect directly to the names it lists, around the HTTP proxy "
                "(unset it, or use socks5h://)"
            )
    credentials_part = ""
    if proxy.username is not None and proxy.password is not None:
        credentials_part = f"{quote(proxy.username, safe='')}:{quote(proxy.password, safe='')}@"
    host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    options.append(("grpc.http_proxy", f"http://{credentials_part}{host}:{proxy.port}"))
    return _channel(
        str(nodes[0]), credentials, options, description, balanced=False, connect_proxy=(proxy, nodes[0])
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
    relay: SocksRelay | None = None,
    connect_proxy: tuple[ProxyUrl, NodeAddress] | None = None,
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
    return Transport(channel, description, relay=relay, connect_proxy=connect_proxy)
