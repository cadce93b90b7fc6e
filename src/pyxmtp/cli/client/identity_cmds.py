"""``init`` (a new or imported wallet key, an installation, registered) and ``whoami``."""

from __future__ import annotations

import argparse
from typing import Any

from . import home as homes
from . import sdk
from .errors import UsageError
from .options import Settings
from .output import Output, safe_text
from .session import Session, open_session

_FIELDS = ("inbox_id", "address", "installation_id", "home", "node")


def register(command: Any) -> None:
    init = command(
        "init",
        help="create (or import) a wallet key and an installation, and register them",
        description="Create the home, a wallet key (or import one) and an installation, and register them "
        "on the node. Run it again to finish an interrupted registration: the home keeps its key.",
    )
    key = init.add_mutually_exclusive_group()
    key.add_argument(
        "--wallet-key-file",
        metavar="FILE",
        help="import the Ethereum private key in FILE (hex, 0x optional; - reads stdin)",
    )
    key.add_argument(
        "--wallet-key-env",
        metavar="VAR",
        help="import the Ethereum private key in the environment variable VAR",
    )
    init.set_defaults(handler=_init)
    whoami = command(
        "whoami",
        help="print the inbox id, wallet address and installation id",
        description="Print the inbox id, wallet address and installation id of this home (no node needed). "
        "With FIELD, only that value: BOB=$(pyxmtp client --home bob whoami address)",
    )
    whoami.add_argument("field", nargs="?", choices=_FIELDS, metavar="FIELD", help=" | ".join(_FIELDS))
    whoami.set_defaults(handler=_whoami)


async def _init(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    if settings.home.exists() and not settings.home.is_dir():
        raise UsageError(f"{settings.home} is not a directory")
    imported = homes.imported_wallet(args.wallet_key_file, args.wallet_key_env)
    async with open_session(settings, output, "init", imported=imported, init=True) as session:
        await sdk.register(session.client, session.wallet)
        _print_identity(session)


async def _whoami(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "whoami") as session:
        _print_identity(session, args.field)


def _print_identity(session: Session, field: str | None = None) -> None:
    client = session.client
    obj = {
        "inbox_id": client.inbox_id,
        "address": session.wallet.address,
        "installation_id": client.installation_id.hex(),
        "home": str(session.settings.home),
        "node": session.settings.node.target,
    }
    if field is not None:
        session.output.record({field: obj[field]}, safe_text(obj[field]))
        return
    text = "\n".join(f"{key}: {safe_text(value)}" for key, value in obj.items())
    session.output.record(obj, text)
