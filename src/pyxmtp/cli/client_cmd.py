"""``pyxmtp client``: an XMTP client on the command line, one installation per home directory.

::

    pyxmtp client --home ~/.pyxmtp init                 # a new wallet key and installation, registered
    pyxmtp client whoami                                # inbox id, address, installation id
    pyxmtp client send 0xADDRESS|INBOX_ID "hello"       # a DM (found or created)
    pyxmtp client group NAME MEMBER [MEMBER...]         # a new group (members by address or inbox id)
    pyxmtp client list                                  # conversations, after syncing
    pyxmtp client read CONVERSATION_ID                  # its messages
    pyxmtp client listen [--json]                       # every new message, live, one line each

The home directory holds ``wallet.key`` (the Ethereum private key, hex, mode 0600: whoever has it owns the inbox)
and ``client.db`` (the installation and its conversations; encrypted with SQLCipher when ``$PYXMTP_DB_KEY`` holds
a 32-byte key in hex, which needs the ``encrypted`` extra). ``$PYXMTP_HOME`` and ``$PYXMTP_NODE`` set the
defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from pyxmtp.client import Client, ClientConversation
from pyxmtp.client.api import ApiCallError
from pyxmtp.client.conversation import CommitConflict, DecodedMessage, MembershipUpdateError
from pyxmtp.client.store import ClientStoreError
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.members import is_valid_address, sanitize_address
from pyxmtp.mls.errors import MLSError


class CliError(Exception):
    """Something the user asked for cannot be done; the message says why."""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "client",
        help="an XMTP client: register, send, read and listen",
        description="An XMTP client on the command line (one installation per --home).",
    )
    p.add_argument("--home", default=os.environ.get("PYXMTP_HOME", "./pyxmtp-client"), help="state directory")
    p.add_argument("--node", default=os.environ.get("PYXMTP_NODE", "127.0.0.1:5556"), help="node host:port")
    cmd = p.add_subparsers(dest="client_command", metavar="COMMAND", required=True)
    cmd.add_parser("init", help="create a wallet key and an installation, and register them")
    cmd.add_parser("whoami", help="print the inbox id, wallet address and installation id")
    send = cmd.add_parser("send", help="send a text in the DM with TO (an 0x address or an inbox id)")
    send.add_argument("to")
    send.add_argument("text")
    group = cmd.add_parser("group", help="create a group with the MEMBERS (addresses or inbox ids)")
    group.add_argument("name")
    group.add_argument("members", nargs="+")
    group.add_argument("--text", help="a first message")
    cmd.add_parser("list", help="sync, then list the conversations")
    read = cmd.add_parser("read", help="sync a conversation and print its messages")
    read.add_argument("conversation", help="conversation id (hex)")
    listen = cmd.add_parser("listen", help="print every new message as it arrives")
    listen.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except (CliError, ApiCallError, MLSError, MembershipUpdateError, CommitConflict, ClientStoreError) as exc:
        print(f"pyxmtp client: {exc}", file=sys.stderr)
        return 1
    return 0


def _wallet_path(home: Path) -> Path:
    return home / "wallet.key"


def _load_wallet(home: Path) -> LocalWalletSigner:
    path = _wallet_path(home)
    if not path.is_file():
        raise CliError(f"no wallet in {home}: run `pyxmtp client --home {home} init` first")
    return LocalWalletSigner(bytes.fromhex(path.read_text().strip()))


def _new_wallet(home: Path) -> LocalWalletSigner:
    """A new wallet key in ``home`` (an existing one is kept: ``init`` can be run again to finish registering)."""
    home.mkdir(parents=True, exist_ok=True)
    path = _wallet_path(home)
    if path.exists():
        return _load_wallet(home)
    wallet = LocalWalletSigner.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(wallet.private_key.hex() + "\n")
    return wallet


def _db_key() -> bytes | None:
    text = os.environ.get("PYXMTP_DB_KEY")
    if not text:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise CliError("$PYXMTP_DB_KEY must be 64 hex characters (a 32-byte key)") from None
    if len(key) != 32:
        raise CliError("$PYXMTP_DB_KEY must be 64 hex characters (a 32-byte key)")
    return key


async def _run(args: argparse.Namespace) -> None:
    home = Path(args.home)
    if args.client_command == "init":
        wallet = _new_wallet(home)
    else:
        wallet = _load_wallet(home)
    client = await Client.create(args.node, wallet, db_path=home / "client.db", db_encryption_key=_db_key())
    try:
        await COMMANDS[args.client_command](client, wallet, args)
    finally:
        await client.close()


async def _init(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    await client.register(wallet)
    await _whoami(client, wallet, args)


async def _whoami(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    print(f"inbox_id: {client.inbox_id}")
    print(f"address: {wallet.address}")
    print(f"installation_id: {client.installation_id.hex()}")


async def _inbox_of(client: Client, who: str) -> str:
    """An inbox id from an inbox id or an Ethereum address (looked up on the node)."""
    if len(who) == 64 and all(c in "0123456789abcdef" for c in who):
        return who
    if not is_valid_address(who):
        raise CliError(f"{who!r} is neither an inbox id (64 hex) nor an Ethereum address (0x + 40 hex)")
    address = sanitize_address(who)
    inbox_id = (await client.inbox_ids_of([address]))[address]
    if inbox_id is None:
        raise CliError(f"{address} has no XMTP inbox on this node")
    return inbox_id


async def _send(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    peer = await _inbox_of(client, args.to)
    await client.sync_welcomes()
    dm = await client.find_or_create_dm(peer)
    await dm.sync()
    await dm.send_text(args.text)
    print(dm.group_id.hex())


async def _group(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    members = [await _inbox_of(client, m) for m in args.members]
    group = await client.create_group(members, name=args.name)
    if args.text:
        await group.send_text(args.text)
    print(group.group_id.hex())


def _title(conversation: ClientConversation) -> str:
    if conversation.dm_peer is not None:
        return f"dm with {conversation.dm_peer}"
    return f"group {conversation.name!r} ({len(conversation.member_inbox_ids())} members)"


async def _list(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    await client.sync_welcomes()
    for conversation in client.conversations():
        await conversation.sync()
        state = "" if conversation.is_active else " [left]"
        print(
            f"{conversation.group_id.hex()}  {_title(conversation)}{state}  {len(conversation.messages())} messages"
        )


def _line(conversation: ClientConversation, message: DecodedMessage, as_json: bool) -> str:
    content = message.content if isinstance(message.content, str) else f"<{type(message.content).__name__}>"
    if as_json:
        return json.dumps(
            {
                "conversation": conversation.group_id.hex(),
                "message_id": message.message_id.hex(),
                "sender": message.sender_inbox_id,
                "sent_ns": message.sent_ns,
                "content": content,
            }
        )
    return f"{message.sent_ns}  {message.sender_inbox_id[:12]}  {content}"


async def _read(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    try:
        group_id = bytes.fromhex(args.conversation)
    except ValueError:
        raise CliError(f"{args.conversation!r} is not a conversation id (hex)") from None
    await client.sync_welcomes()
    conversation = client.conversation(group_id)
    if conversation is None:
        raise CliError(f"no conversation {args.conversation} in this installation")
    await conversation.sync()
    for message in conversation.messages():
        print(_line(conversation, message, False))


async def _listen(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        async for conversation, message in client.stream_all_messages():
            print(_line(conversation, message, args.json), flush=True)


COMMANDS = {
    "init": _init,
    "whoami": _whoami,
    "send": _send,
    "group": _group,
    "list": _list,
    "read": _read,
    "listen": _listen,
}
