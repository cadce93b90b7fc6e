"""One command's session: the home locked, the wallet and the client open, conversations found by what the
user typed (a short id prefix, as git names commits, or an address or inbox id for a DM)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from pyxmtp.identity.eth import LocalWalletSigner

from . import home as homes
from . import sdk
from .errors import CliError, UsageError
from .options import Settings
from .output import Output, safe_text
from .render import Names, conversation_label, short_ids

#: The shortest conversation or message id prefix accepted.
MIN_PREFIX = 4


def credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS credentials for the node (``--ca-file``, or the system's roots for ``--tls`` / ``https://``);
    None: plaintext."""
    if settings.ca_file is not None:
        try:
            pem = settings.ca_file.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read the CA file {settings.ca_file}: {exc.strerror}") from None
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            raise CliError(f"{settings.ca_file} holds no PEM certificate")
        return grpc.ssl_channel_credentials(root_certificates=pem)
    if settings.node.tls:
        return grpc.ssl_channel_credentials()
    return None


def unreachable_hint(settings: Settings) -> str:
    """What to check when the node cannot be reached."""
    node = settings.node.target
    if settings.node.tls:
        return f"(is {node} up, serving TLS, with a certificate --ca-file or the system's roots vouch for?)"
    return f"(is {node} up? if it serves TLS, add --tls or --ca-file, or give the node as https://...)"


@dataclass
class Session:
    settings: Settings
    output: Output
    wallet: LocalWalletSigner
    client: sdk.Client

    @property
    def me(self) -> str:
        return sdk.own_inbox(self.client)

    async def names(self, inbox_ids: list[str] | None = None) -> Names:
        return await Names.load(self.client, inbox_ids or [])

    async def sync_welcomes(self) -> None:
        """Join the conversations others made since the last time."""
        await sdk.sync_welcomes(self.client)

    async def conversation(self, text: str, *, synced: bool = False) -> sdk.ClientConversation:
        """The conversation whose id starts with ``text`` (hex, any case, at least :data:`MIN_PREFIX`
        characters); the welcomes are synced first unless ``synced``."""
        found = await self._find(text, synced=synced, people=False)
        assert found is not None
        return found

    async def target(self, text: str, *, create: bool = True) -> sdk.ClientConversation:
        """A conversation by id prefix, or the DM with an address or an inbox id (made if there is none and
        ``create``)."""
        if not sdk.looks_like_address(text):
            found = await self._find(text, synced=False, people=True)
            if found is not None:
                return found
        else:
            await self.sync_welcomes()
        return await self.dm(await sdk.inbox_of(self.client, text), create=create)

    async def conversation_or_inbox(self, text: str) -> tuple[sdk.ClientConversation | None, str | None]:
        """A conversation by id prefix, else the inbox of an address or an inbox id: ``(conversation, None)``
        or ``(None, inbox id)``."""
        if not sdk.looks_like_address(text):
            found = await self._find(text, synced=False, people=True)
            if found is not None:
                return found, None
        return None, await sdk.inbox_of(self.client, text)

    async def dm(self, inbox_id: str, *, create: bool = True) -> sdk.ClientConversation:
        """The DM with ``inbox_id``: the one this home has, else (``create``) a new one."""
        if inbox_id == self.me:
            raise CliError("that is your own inbox: a DM is with someone else")
        if create:
            return await sdk.find_or_create_dm(self.client, inbox_id)
        found = sdk.find_dm(self.client, inbox_id)
        if found is None:
            raise CliError(f"no DM with {inbox_id} in this home yet (send or dm starts one)")
        return found

    async def _find(self, text: str, *, synced: bool, people: bool) -> sdk.ClientConversation | None:
        prefix = sdk.normalise_id(text)
        what = "a conversation id" + (", an 0x address or an inbox id" if people else "")
        if not sdk.is_hex(prefix) or len(prefix) < MIN_PREFIX:
            raise CliError(
                f"{safe_text(repr(text))} is not {what} (hex, at least {MIN_PREFIX} characters of the id)"
            )
        matches = self._matching(prefix)
        if not matches and not synced:
            await self.sync_welcomes()
            matches = self._matching(prefix)
        if len(matches) > 1:
            shorts = short_ids(c.group_id for c in sdk.conversations(self.client))
            names = await self.names()
            choices = "; ".join(f"{shorts[c.group_id]} {conversation_label(c, names)}" for c in matches)
            raise UsageError(f"{safe_text(text)} names {len(matches)} conversations: {choices}")
        if matches:
            return matches[0]
        if people and len(prefix) == 64:
            return None  # an inbox id
        raise CliError(f"no conversation {safe_text(text)} in this home (pyxmtp client list shows them)")

    def _matching(self, prefix: str) -> list[sdk.ClientConversation]:
        return [c for c in sdk.conversations(self.client) if c.group_id.hex().startswith(prefix)]

    def label_and_short(self, conversation: sdk.ClientConversation, names: Names) -> tuple[str, str]:
        shorts = short_ids(c.group_id for c in sdk.conversations(self.client))
        return conversation_label(conversation, names), shorts.get(
            conversation.group_id, conversation.group_id.hex()
        )


@contextlib.asynccontextmanager
async def open_session(
    settings: Settings,
    output: Output,
    command: str,
    *,
    imported: LocalWalletSigner | None = None,
    init: bool = False,
) -> AsyncIterator[Session]:
    """Lock the home (see :mod:`.home`), load (or, for ``init``, create or import) the wallet and open the
    client. Mistakes in the options are reported before anything is made."""
    home: Path = settings.home
    creds, db_key = credentials(settings), homes.database_key()
    if init:
        homes.make_home(home)
    elif not (home / homes.WALLET_FILE).exists():
        homes.load_wallet(home)  # raises, saying to run init
    lock = (
        contextlib.nullcontext()
        if command == "whoami" and (home / homes.DATABASE_FILE).exists()
        else homes.locked(home, command)
    )
    with lock:
        wallet = homes.init_wallet(home, imported) if init else homes.load_wallet(home)
        client = await sdk.open_client(
            settings.node.target,
            wallet,
            home / homes.DATABASE_FILE,
            db_key=db_key,
            credentials=creds,
            proxy=settings.proxy,
        )
        try:
            yield Session(settings, output, wallet, client)
        finally:
            await client.close()


def read_message_text(text: str | None, file: str | None) -> str:
    """The text to send: TEXT, or stdin with ``-`` (or with no TEXT when stdin is not a terminal), or the
    file ``--file`` names. One trailing newline of stdin or a file is dropped (``echo hi |`` sends ``hi``)."""
    if text is not None and file is not None:
        raise UsageError("give the text or --file, not both")
    if file is not None:
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {file}: {exc.strerror}") from None
        return _decoded(data, file)
    if text == "-" or (text is None and not sys.stdin.isatty()):
        return _decoded(sys.stdin.buffer.read(), "stdin")
    if text is None:
        raise UsageError("no text: give TEXT, - to read stdin, or --file FILE")
    if not text:
        raise CliError("the message is empty")
    return text


def _decoded(data: bytes, where: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{where} is not UTF-8 text (byte {exc.start})") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise CliError(f"{where} is empty: nothing to send")
    return text
