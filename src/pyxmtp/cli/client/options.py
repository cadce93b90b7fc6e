"""The options every ``pyxmtp client`` command takes, their defaults and environment variables, and the node
address forms accepted.

The common options (``--home``, ``--node``, ``--tls``, ``--ca-file``, ``--proxy``, ``--json``, ``--log-level``) work before
or after the command: they are declared on ``pyxmtp client`` with their defaults, and again on every command
with no default (``argparse.SUPPRESS``), so a value given after the command wins and one not given there does
not overwrite the value given before it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path

from pyxmtp.client.transport import TransportConfigError, node_url_target

from .errors import UsageError

#: The environment variables the client reads, and what each one sets.
ENVIRONMENT = (
    ("PYXMTP_HOME", "the home directory (--home)"),
    ("PYXMTP_NODE", "the node address (--node)"),
    ("PYXMTP_DB_KEY", "the key of an encrypted home database: 64 hex characters (needs the encrypted extra)"),
    ("PYXMTP_LOG_LEVEL", "the log level (--log-level)"),
)
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_NODE = "127.0.0.1:5556"

EXIT_CODES = """exit status:
  0    done
  1    failed (the reason is on stderr)
  2    usage error (a wrong option or argument)
  130  interrupted (Ctrl-C)
  141  the reader of the output went away (as `| head` does): stopped quietly"""


def default_home() -> Path:
    """``$PYXMTP_HOME``, else the platform's per-user data directory (``~/.local/share/pyxmtp/client`` on
    Linux): the same home from whatever directory the command is run."""
    env = os.environ.get("PYXMTP_HOME")
    return Path(env).expanduser() if env else user_data_path("pyxmtp") / "client"


def epilog() -> str:
    width = max(len(name) for name, _ in ENVIRONMENT)
    env = "\n".join(f"  {name:<{width}}  {what}" for name, what in ENVIRONMENT)
    return f"environment:\n{env}\n\n{EXIT_CODES}"


def add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The common options, with their defaults on ``pyxmtp client`` (``top``) and none on a command."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("common options (before or after the command)")
    group.add_argument(
        "--home",
        metavar="DIR",
        default=default(None),
        help=f"the client's state directory (default: $PYXMTP_HOME, else {default_home()})",
    )
    group.add_argument(
        "--node",
        metavar="ADDRESS",
        default=default(None),
        help=f"the node: HOST:PORT, http://HOST[:PORT] or https://HOST[:PORT] (TLS); several, comma-separated, "
        f"are balanced and a dead one skipped (default: $PYXMTP_NODE, else {DEFAULT_NODE})",
    )
    group.add_argument(
        "--tls",
        action="store_true",
        default=default(False),
        help="reach the node over TLS, its certificate checked against the system's roots",
    )
    group.add_argument(
        "--ca-file",
        metavar="PEM",
        default=default(None),
        help="reach the node over TLS, its certificate checked against this CA (or self-signed certificate)",
    )
    group.add_argument(
        "--proxy",
        metavar="URL",
        default=default(None),
        # no default shown: $PYXMTP_PROXY may hold a password
        help="reach the node through this proxy, so the node sees the proxy's address, not yours: "
        "socks5h://[USER:PASS@]HOST:PORT (Tor: socks5h://127.0.0.1:9050; the proxy resolves the node's name), "
        "socks5://, or http:// (CONNECT) (default: $PYXMTP_PROXY, else none)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print JSON: one object per line (ASCII, every string escaped)",
    )
    group.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=default(None),
        help="what the client logs on stderr (default: $PYXMTP_LOG_LEVEL, else warning)",
    )


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """Where the node is: ``target`` (``host:port``, as gRPC takes it) and whether to use TLS."""

    target: str
    tls: bool


def parse_nodes(text: str) -> NodeAddress:
    """One node address or several, comma-separated (see :func:`parse_node`; all plaintext or all TLS): the
    ``target`` is their ``host:port`` forms, comma-separated, as the SDK takes them."""
    nodes = [parse_node(part) for part in text.split(",") if part.strip()]
    if not nodes:
        raise UsageError(f"--node {text!r}: no address")
    if len({n.tls for n in nodes}) > 1:
        raise UsageError(f"--node {text!r}: mixes http:// and https:// nodes")
    return NodeAddress(",".join(n.target for n in nodes), tls=nodes[0].tls)


def parse_node(text: str) -> NodeAddress:
    """``HOST:PORT`` (TLS only if asked with ``--tls`` / ``--ca-file``), ``http://HOST[:PORT]`` (plaintext,
    port 80 by default) or ``https://HOST[:PORT]`` (TLS, port 443 by default); the scheme in any case, a
    trailing ``/`` allowed. Anything else (a path, a query, a missing port) is a :class:`UsageError`."""
    try:
        target, tls = node_url_target(text)
    except TransportConfigError as exc:
        raise UsageError(f"--node {text.strip()!r}: {exc}") from None
    return NodeAddress(target, tls=tls)


@dataclass(frozen=True, slots=True)
class Settings:
    """The common options resolved: the home, the node, how to reach it, the output form, the log level."""

    home: Path
    node: NodeAddress
    ca_file: Path | None
    proxy: str | None
    json: bool
    log_level: str


def settings(args: argparse.Namespace) -> Settings:
    """The common options of ``args``, with the environment's values and the defaults filled in."""
    node = parse_nodes(args.node or os.environ.get("PYXMTP_NODE") or DEFAULT_NODE)
    explicit_http = (args.node or os.environ.get("PYXMTP_NODE") or "").strip().lower().startswith("http://")
    if explicit_http and (args.tls or args.ca_file):
        raise UsageError("an http:// node is plaintext: drop --tls / --ca-file, or use https://")
    if args.tls or args.ca_file:
        node = NodeAddress(node.target, tls=True)
    level = (args.log_level or os.environ.get("PYXMTP_LOG_LEVEL") or "warning").lower()
    if level not in LOG_LEVELS:
        raise UsageError(f"$PYXMTP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    home = (Path(args.home).expanduser() if args.home else default_home()).absolute()
    return Settings(
        home=home,
        node=node,
        ca_file=Path(args.ca_file) if args.ca_file else None,
        proxy=args.proxy or os.environ.get("PYXMTP_PROXY") or None,
        json=bool(args.json),
        log_level=level,
    )
