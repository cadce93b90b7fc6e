"""Where an agent's node is: a named XMTP network (``XMTP_ENV``) or a node URL of your own (``XMTP_NODE_URL``).

=============  ========================================  =====
``XMTP_ENV``   node                                      TLS
=============  ========================================  =====
``local``      ``127.0.0.1:5556`` (a pyxmtp node)        no
``dev``        ``grpc.dev.xmtp.network:443``             yes
``production`` ``grpc.production.xmtp.network:443``      yes
=============  ========================================  =====

(node-sdk's ``ApiUrls``: ``http://localhost:5556``, ``https://grpc.dev.xmtp.network:443``,
``https://grpc.production.xmtp.network:443``.) The decentralized networks (``testnet``, ``mainnet``, ...) are
not supported: their payer gateways speak another API.

A node URL is ``http://HOST[:PORT]`` (plaintext, port 80 by default), ``https://HOST[:PORT]`` (TLS, port 443 by
default) or ``HOST:PORT`` (plaintext, as ``Client.create`` takes it); several, comma-separated, are balanced by
gRPC (all plaintext or all TLS).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyxmtp.client.transport import TransportConfigError, node_url_target

from .errors import AgentConfigError

__all__ = ["NETWORKS", "NodeTarget", "get_test_url", "parse_node_url", "resolve_node"]


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """A node (or several) as the client takes it: ``address`` (``host:port``, comma-separated for several)
    and whether to reach it over TLS. ``env`` names the network (``"custom"`` for a URL of your own)."""

    address: str
    tls: bool
    env: str


#: The named networks (``XMTP_ENV``).
NETWORKS: dict[str, NodeTarget] = {
    "local": NodeTarget("127.0.0.1:5556", tls=False, env="local"),
    "dev": NodeTarget("grpc.dev.xmtp.network:443", tls=True, env="dev"),
    "production": NodeTarget("grpc.production.xmtp.network:443", tls=True, env="production"),
}

#: agent-sdk's other environment names: the decentralized networks, which this client cannot reach.
_DECENTRALIZED = ("testnet-staging", "testnet-dev", "testnet", "mainnet")


def _one_node(text: str, setting: str) -> tuple[str, bool]:
    try:
        return node_url_target(text)
    except TransportConfigError as exc:
        raise AgentConfigError(f"{setting} {text.strip()!r}: {exc}") from None


def parse_node_url(text: str, *, setting: str = "XMTP_NODE_URL") -> NodeTarget:
    """One node URL or several, comma-separated (see the module docstring). :class:`AgentConfigError` naming
    ``setting`` if it is malformed."""
    nodes = [_one_node(part, setting) for part in text.split(",") if part.strip()]
    if not nodes:
        raise AgentConfigError(f"{setting} {text!r}: no address")
    if len({tls for _, tls in nodes}) > 1:
        raise AgentConfigError(f"{setting} {text!r}: mixes plaintext and TLS nodes")
    return NodeTarget(",".join(address for address, _ in nodes), tls=nodes[0][1], env="custom")


def resolve_node(env: str | None = None, node_url: str | None = None) -> NodeTarget:
    """The node of ``node_url`` if given (it wins over ``env``; ``env`` then only names it), else of the network
    ``env`` (``local`` when None)."""
    name = (env or "local").strip().lower()
    if name in _DECENTRALIZED:
        raise AgentConfigError(f"XMTP_ENV {name!r}: the decentralized networks are not supported")
    if node_url is not None and node_url.strip():
        target = parse_node_url(node_url)
        return NodeTarget(target.address, target.tls, name if env else "custom")
    if name not in NETWORKS:
        raise AgentConfigError(f"XMTP_ENV {name!r}: one of {', '.join(NETWORKS)} (or set XMTP_NODE_URL)")
    return NETWORKS[name]


def get_test_url(address: str | None, env: str) -> str | None:
    """Where to talk to the agent of ``address`` from a browser (xmtp.chat, as agent-sdk's ``getTestUrl``):
    only for the ``dev`` and ``production`` networks (None otherwise)."""
    if address is None or env not in ("dev", "production"):
        return None
    return f"http://xmtp.chat/{env}/dm/{address}"
