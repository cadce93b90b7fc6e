"""``pyxmtp client``: an XMTP client on the command line, one installation per home directory.

::

    pyxmtp client --home ~/.pyxmtp init                 # a new wallet key and installation, registered
    pyxmtp client whoami                                # inbox id, address, installation id
    pyxmtp client send 0xADDRESS|INBOX_ID "hello"       # a DM (found or created)
    pyxmtp client group NAME MEMBER [MEMBER...]         # a new group (members by address or inbox id)
    pyxmtp client list                                  # conversations, after syncing
    pyxmtp client read CONVERSATION_ID                  # its messages
    pyxmtp client listen [--json]                       # every new message, live, one line each

The home directory (made 0700) holds ``wallet.key`` (the Ethereum private key, hex, mode 0600: whoever has it owns
the inbox) and ``client.db`` (the installation and its conversations, 0600; encrypted with SQLCipher when
``$PYXMTP_DB_KEY`` holds a 32-byte key in hex, which needs the ``encrypted`` extra). ``$PYXMTP_HOME`` and
``$PYXMTP_NODE`` set the defaults.

The node is reached in plaintext (a node on localhost), or over TLS with ``--tls`` (the certificate checked
against the system's roots) or ``--ca-file PEM`` (against that CA, or a self-signed node certificate).

Everything another person chose (messages, group names, inbox ids, errors quoting their bytes) is printed with
its control and format characters escaped (:mod:`pyxmtp.cli.terminal`); ``--json`` is ASCII-only JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

import grpc

from pyxmtp.client import (
    Client,
    ClientConversation,
    CommitConflict,
    DecodedMessage,
    Dm,
    Group,
    MembershipUpdateError,
)
from pyxmtp.client.api import ApiCallError
from pyxmtp.client.store import ClientStoreError
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.members import is_valid_address, sanitize_address
from pyxmtp.mls.errors import MLSError

from .terminal import SafeFormatter, safe_text


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
    p.add_argument(
        "--tls", action="store_true", help="reach the node over TLS (checked against the system's roots)"
    )
    p.add_argument(
        "--ca-file", metavar="PEM", help="reach the node over TLS, its certificate checked against this CA"
    )
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
    _log_safely()
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except (CliError, ApiCallError, MLSError, MembershipUpdateError, CommitConflict, ClientStoreError) as exc:
        print(f"pyxmtp client: {safe_text(str(exc))}{_hint(exc, args)}", file=sys.stderr)
        return 1
    return 0


def _log_safely() -> None:
    """Warnings to stderr (as Python would print them), escaped: they may quote what a peer sent."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def _hint(exc: Exception, args: argparse.Namespace) -> str:
    if not isinstance(exc, ApiCallError) or exc.code is not grpc.StatusCode.UNAVAILABLE:
        return ""
    if args.tls or args.ca_file:
        return f"\n(is {args.node} up, serving TLS, with a certificate --ca-file or the system's roots vouch for?)"
    return f"\n(is {args.node} up? if it serves TLS, add --tls or --ca-file)"


def _credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    """TLS credentials from ``--tls`` / ``--ca-file``; None: plaintext."""
    if args.ca_file:
        try:
            pem = Path(args.ca_file).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read the CA file {args.ca_file}: {exc.strerror}") from None
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            raise CliError(f"{args.ca_file} holds no PEM certificate")
        return grpc.ssl_channel_credentials(root_certificates=pem)
    if args.tls:
        return grpc.ssl_channel_credentials()
    return None


def _wallet_path(home: Path) -> Path:
    return home / "wallet.key"


def _load_wallet(home: Path) -> LocalWalletSigner:
    path = _wallet_path(home)
    if not path.is_file():
        raise CliError(f"no wallet in {home}: run `pyxmtp client --home {home} init` first")
    return LocalWalletSigner(bytes.fromhex(path.read_text().strip()))


def _make_home(home: Path) -> None:
    """The home directory, made 0700 whatever the umask; an existing one that others can enter is left as it
    is, with a warning (it may be a directory the user shares on purpose)."""
    if not home.exists():
        home.mkdir(parents=True, mode=0o700)
        home.chmod(0o700)  # mkdir's mode goes through the umask
    elif stat.S_IMODE(home.stat().st_mode) & 0o077:
        print(
            f"pyxmtp client: warning: others can read {safe_text(str(home))}: chmod 700 it", file=sys.stderr
        )


def _new_wallet(home: Path) -> LocalWalletSigner:
    """A new wallet key in ``home`` (an existing one is kept: ``init`` can be run again to finish registering)."""
    _make_home(home)
    path = _wallet_path(home)
    if path.exists():
        return _load_wallet(home)
    wallet = LocalWalletSigner.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
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
    credentials, db_key = _credentials(args), _db_key()  # mistakes in the options before anything is made
    if args.client_command == "init":
        wallet = _new_wallet(home)
    else:
        wallet = _load_wallet(home)
    client = await Client.create(
        args.node,
        wallet,
        db_path=home / "client.db",
        db_encryption_key=db_key,
        credentials=credentials,
        register=False,  # init registers
    )
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
    await client.conversations.sync()
    dm = await client.conversations.create_dm(peer)
    await dm.sync()
    await dm.send_text(args.text)
    print(dm.group_id.hex())


async def _group(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    members = [await _inbox_of(client, m) for m in args.members]
    group = await client.conversations.create_group(members, name=args.name)
    if args.text:
        await group.send_text(args.text)
    print(group.group_id.hex())


def _title(conversation: ClientConversation) -> str:
    if isinstance(conversation, Dm):
        return f"dm with {safe_text(conversation.peer_inbox_id)}"
    name = conversation.name if isinstance(conversation, Group) else ""
    return f"group '{safe_text(name)}' ({len(conversation.member_inbox_ids())} members)"


async def _list(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    await client.conversations.sync()
    for conversation in client.conversations.list():
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
            },
            ensure_ascii=True,  # every control, format and non-ASCII character as a \u escape
        )
    return f"{message.sent_ns}  {safe_text(message.sender_inbox_id[:12])}  {safe_text(content)}"


async def _read(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    try:
        group_id = bytes.fromhex(args.conversation)
    except ValueError:
        raise CliError(f"{args.conversation!r} is not a conversation id (hex)") from None
    await client.conversations.sync()
    conversation = client.conversations.get_conversation_by_id(group_id)
    if conversation is None:
        raise CliError(f"no conversation {args.conversation} in this installation")
    await conversation.sync()
    for message in conversation.messages():
        print(_line(conversation, message, False))


async def _listen(client: Client, wallet: LocalWalletSigner, args: argparse.Namespace) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        async for message in client.conversations.stream_all_messages():
            conversation = client.conversations.get_conversation_by_id(message.group_id)
            if conversation is not None:
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
