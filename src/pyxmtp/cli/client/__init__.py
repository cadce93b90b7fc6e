"""``pyxmtp client``: an XMTP client on the command line, one installation per home directory.

::

    pyxmtp client init [--wallet-key-file F | --wallet-key-env VAR]   # a new (or imported) wallet, registered
    pyxmtp client whoami                                # inbox id, address, installation id
    pyxmtp client dm 0xADDRESS|INBOX_ID                 # the DM with someone (found or created)
    pyxmtp client group NAME MEMBER [MEMBER...]         # a new group (members by address or inbox id)
    pyxmtp client send TARGET [TEXT | - | --file F]     # into a conversation (id prefix) or a person's DM
    pyxmtp client list                                  # conversations, after syncing (also: groups)
    pyxmtp client read CONVERSATION [--limit N] [--since 2h]
    pyxmtp client members|admins CONVERSATION
    pyxmtp client add|remove CONVERSATION MEMBER...     # rename CONVERSATION NAME
    pyxmtp client admin|super-admin add|remove CONVERSATION MEMBER...
    pyxmtp client leave CONVERSATION                    # a leave request: a super admin's client removes you
    pyxmtp client consent allow|deny CONVERSATION|ADDRESS|INBOX
    pyxmtp client react|reply CONVERSATION MESSAGE ...
    pyxmtp client listen                                # every new message, live, one line each
    pyxmtp client backup|restore FILE --key-file KEYFILE  # an encrypted archive (libxmtp's format)

Conversations and messages are named by their id or any unique prefix of it (at least 4 hex characters), as
``list`` and ``read`` show them. ``--json`` prints one JSON object per line. The common options (``--home``,
``--node``, ``--json``, ...) go before or after the command; :mod:`.options` lists them with their environment
variables. The home is described in :mod:`.home`; every call into the SDK is in :mod:`.sdk`.

Everything another person chose (messages, group names, inbox ids, errors quoting their bytes) is printed with
its control and format characters escaped (:mod:`pyxmtp.cli.terminal`); ``--json`` is ASCII-only JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

from pyxmtp.client import ClientStoreError, CommitConflict, MembershipUpdateError
from pyxmtp.conversations.content import ContentArgumentError
from pyxmtp.mls.errors import MLSError

from ..terminal import SafeFormatter, safe_text
from . import admin_cmds, backup_cmds, chat_cmds, identity_cmds, listen_cmd, member_cmds, sdk
from .errors import CliError, UsageError
from .options import Settings, add_common, epilog, settings
from .output import Output
from .session import unreachable_hint

Handler = Callable[[argparse.Namespace, Settings, Output], Awaitable[None]]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141
EXIT_TERMINATED = 143


def register(sub: Any) -> None:
    p = sub.add_parser(
        "client",
        help="an XMTP client: chat in DMs and groups from the command line",
        description="An XMTP client on the command line (one installation per --home).",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p, top=True)
    cmd = p.add_subparsers(dest="client_command", metavar="COMMAND", required=True)

    def command(
        name: str, *, help: str, aliases: list[str] | None = None, **kw: Any
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = cmd.add_parser(
            name,
            help=help,
            aliases=aliases or [],
            description=textwrap.fill(kw.pop("description", help[0].upper() + help[1:] + "."), 100),
            epilog=epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kw,
        )
        add_common(parser, top=False)
        return parser

    identity_cmds.register(command)
    chat_cmds.register(command)
    member_cmds.register(command)
    admin_cmds.register(command)
    listen_cmd.register(command)
    backup_cmds.register(command)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        resolved = settings(args)
    except UsageError as exc:
        print(f"pyxmtp client: {safe_text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    _log_safely(resolved.log_level)
    output = Output(resolved.json)
    try:
        asyncio.run(_main(args.handler, args, resolved, output))
        sys.stdout.flush()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except asyncio.CancelledError:  # SIGTERM
        return EXIT_TERMINATED
    except BrokenPipeError:  # `| head`: the reader has seen enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return EXIT_PIPE_CLOSED
    except UsageError as exc:
        print(f"pyxmtp client: {safe_text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except (
        CliError,
        sdk.ApiCallError,
        MLSError,
        MembershipUpdateError,
        CommitConflict,
        ClientStoreError,
        ContentArgumentError,
    ) as exc:
        print(f"pyxmtp client: {safe_text(str(exc))}{_hint(exc, resolved)}", file=sys.stderr)
        return EXIT_FAILED
    return 0


async def _main(handler: Handler, args: argparse.Namespace, resolved: Settings, output: Output) -> None:
    """Run the command; SIGTERM cancels it as Ctrl-C does (the database is closed, the lock released)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await handler(args, resolved, output)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _log_safely(level: str) -> None:
    """Log lines to stderr, escaped: they may quote what a peer sent."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        SafeFormatter("%(levelname)s %(name)s: %(message)s" if level == "debug" else "%(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())


def _hint(exc: Exception, resolved: Settings) -> str:
    if isinstance(exc, CliError) and exc.hint:
        return "\n" + exc.hint
    return "\n" + unreachable_hint(resolved) if sdk.is_unreachable(exc) else ""
