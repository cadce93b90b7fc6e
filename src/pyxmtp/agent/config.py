"""An agent's settings from environment variables (agent-sdk's names), read by :meth:`Agent.from_env
<pyxmtp.agent.Agent.from_env>`:

==========================  =================================================================================
``XMTP_WALLET_KEY``         the agent's Ethereum private key: 64 hex digits, ``0x`` optional (required)
``XMTP_DB_ENCRYPTION_KEY``  a 32-byte key for the database, 64 hex digits, ``0x`` optional (optional; needs
                            the ``encrypted`` extra)
``XMTP_ENV``                ``local`` (default), ``dev`` or ``production`` (:mod:`.network`)
``XMTP_NODE_URL``           a node of your own (pyxmtp's addition): ``http://HOST[:PORT]``, ``https://...``
                            or ``HOST:PORT``, several comma-separated; wins over ``XMTP_ENV``'s node
``XMTP_DB_DIRECTORY``       where the database goes (created owner-only if missing); default: the current
                            directory. The file is ``xmtp-<env>-<inbox id>.db3``
``XMTP_FORCE_DEBUG_LEVEL``  ``off``, ``error``, ``warn``, ``info``, ``debug`` or ``trace``: the level of the
                            ``pyxmtp`` loggers (to stderr)
==========================  =================================================================================

``XMTP_GATEWAY_HOST`` (agent-sdk's decentralized-network gateway) is refused: this client speaks the XMTP v3
node API only. The two keys are removed from the environment once read, so that processes the agent starts do
not inherit them. Errors are :class:`~.errors.AgentConfigError` naming the variable, never its value.
:func:`load_env_file` reads a ``.env`` file into the environment first, if you keep them there.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AgentConfigError
from .network import NodeTarget, resolve_node

__all__ = ["AgentSettings", "load_env_file", "read_settings"]

log = logging.getLogger("pyxmtp.agent")

WALLET_KEY = "XMTP_WALLET_KEY"
DB_ENCRYPTION_KEY = "XMTP_DB_ENCRYPTION_KEY"
ENV = "XMTP_ENV"
NODE_URL = "XMTP_NODE_URL"
DB_DIRECTORY = "XMTP_DB_DIRECTORY"
DEBUG_LEVEL = "XMTP_FORCE_DEBUG_LEVEL"
GATEWAY_HOST = "XMTP_GATEWAY_HOST"

_HEX_KEY = re.compile(r"\A(?:0[xX])?([0-9a-fA-F]{64})\Z")
#: agent-sdk's log levels and the ``logging`` level each one sets.
LOG_LEVELS: dict[str, int] = {
    "off": logging.CRITICAL + 10,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """What the environment says (see the module docstring)."""

    wallet_key: bytes = field(repr=False)
    db_encryption_key: bytes | None = field(repr=False)
    node: NodeTarget
    db_directory: Path
    log_level: int | None = None


def _hex_key(environ: MutableMapping[str, str], name: str) -> bytes | None:
    text = environ.pop(name, None)
    if text is None or not text.strip():
        return None
    found = _HEX_KEY.match(text.strip())
    if found is None:
        raise AgentConfigError(f"${name} must be 64 hex digits (a 32-byte key), 0x optional")
    return bytes.fromhex(found.group(1))


def _log_level(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    level = LOG_LEVELS.get(text.strip().lower())
    if level is None:
        log.warning("$%s %r is not one of %s: warn is used", DEBUG_LEVEL, text, ", ".join(LOG_LEVELS))
        return logging.WARNING
    return level


def read_settings(environ: MutableMapping[str, str] | None = None) -> AgentSettings:
    """The agent's settings from ``environ`` (``os.environ`` by default); the keys are removed from it."""
    environ = os.environ if environ is None else environ
    if environ.get(GATEWAY_HOST, "").strip():
        raise AgentConfigError(f"${GATEWAY_HOST}: decentralized-network gateways are not supported")
    wallet_key = _hex_key(environ, WALLET_KEY)
    db_key = _hex_key(environ, DB_ENCRYPTION_KEY)
    if wallet_key is None:
        raise AgentConfigError(f"${WALLET_KEY} is not set (the agent's Ethereum private key, 64 hex digits)")
    node = resolve_node(environ.get(ENV) or None, environ.get(NODE_URL) or None)
    directory = environ.get(DB_DIRECTORY, "").strip()
    return AgentSettings(
        wallet_key=wallet_key,
        db_encryption_key=db_key,
        node=node,
        db_directory=Path(directory) if directory else Path.cwd(),
        log_level=_log_level(environ.get(DEBUG_LEVEL)),
    )


_LINE = re.compile(r"\A\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*\Z")


def load_env_file(path: str | Path = ".env", environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set the variables of a ``.env`` file (``NAME=value`` lines, ``#`` comments, values optionally in single
    or double quotes) that are not set already; the names set. A missing file sets nothing."""
    environ = os.environ if environ is None else environ
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    added = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = _LINE.match(line)
        if found is None:
            raise AgentConfigError(f"{path}, line {number}: not NAME=value")
        name, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if name not in environ:
            environ[name] = value
            added.append(name)
    return added
