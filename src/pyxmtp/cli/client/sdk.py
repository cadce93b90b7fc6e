"""Every call ``pyxmtp client`` makes into the client SDK (:mod:`pyxmtp.client`), in one place.

The commands use these functions only, so a change of the SDK's API touches this module alone. Three commands
wait for SDK methods that do not exist yet; each has one adapter here that raises :class:`NotSupportedYet`
(``leave``: a leave request, ``consent``: consent states) or reads what the group state already has
(``admins``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import grpc

from pyxmtp.client import Client, ClientConversation, DecodedMessage
from pyxmtp.client.api import ApiCallError
from pyxmtp.client.stream import RETRIED
from pyxmtp.conversations.content import GroupUpdated, encode_for_sending
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.members import is_valid_address, sanitize_address
from pyxmtp.mls.errors import MLSError

from .errors import CliError, NotSupportedYet

__all__ = [
    "RETRIED",
    "ApiCallError",
    "Client",
    "ClientConversation",
    "DecodedMessage",
    "is_transcript",
    "is_unreachable",
]

_HEX = frozenset("0123456789abcdef")


async def open_client(
    node: str,
    wallet: LocalWalletSigner,
    db_path: Path,
    *,
    db_key: bytes | None,
    credentials: grpc.ChannelCredentials | None,
    proxy: str | None = None,
) -> Client:
    return await Client.create(
        node, wallet, db_path=db_path, db_encryption_key=db_key, credentials=credentials, proxy=proxy
    )


async def register(client: Client, wallet: LocalWalletSigner) -> None:
    await client.register(wallet)


def is_unreachable(exc: BaseException) -> bool:
    """The node could not be reached (down, restarting, a TLS mismatch)."""
    return isinstance(exc, ApiCallError) and exc.code is grpc.StatusCode.UNAVAILABLE


def is_retried(exc: ApiCallError) -> bool:
    """A failure a live stream reconnects after (the SDK's own list)."""
    return exc.code in RETRIED


# --- conversations ------------------------------------------------------------------------------------------
def conversations(client: Client) -> list[ClientConversation]:
    """The conversations this home holds, oldest first (libxmtp's device-sync groups left out)."""
    return client.conversations()


async def sync_welcomes(client: Client) -> list[ClientConversation]:
    return await client.sync_welcomes()


async def sync(conversation: ClientConversation) -> list[DecodedMessage]:
    """Process what the node has for ``conversation``."""
    return await conversation.sync()


def is_dm(conversation: ClientConversation) -> bool:
    return conversation.conversation.conversation_type is ConversationType.DM


def messages(conversation: ClientConversation) -> list[DecodedMessage]:
    return conversation.messages()


def stored_count(client: Client, conversation: ClientConversation) -> int:
    """How many messages the home holds for ``conversation`` (cheap enough to poll for a progress bar)."""
    return len(client.store.messages(conversation.group_id))


def is_transcript(message: DecodedMessage) -> bool:
    """A local "group updated" entry (made from a commit, never sent): not counted as a message."""
    return isinstance(message.content, GroupUpdated)


def stream(client: Client) -> AsyncIterator[tuple[ClientConversation, DecodedMessage]]:
    """Every new message, live, until the connection fails (:class:`ApiCallError`): the caller reconnects and
    says so."""
    return client.stream_all_messages(reconnect=False)


# --- people -------------------------------------------------------------------------------------------------
def normalise_id(text: str) -> str:
    """An inbox, conversation or message id as typed: lowercased, white space and a ``0x`` prefix dropped."""
    text = text.strip().lower()
    return text[2:] if text.startswith("0x") else text


def looks_like_address(text: str) -> bool:
    text = text.strip()
    return len(text) == 42 and text[:2] in ("0x", "0X") and is_valid_address("0x" + text[2:])


def is_hex(text: str) -> bool:
    return bool(text) and set(text) <= _HEX


async def inbox_of(client: Client, who: str) -> str:
    """An inbox id from an inbox id (64 hex, any case) or an Ethereum address (0x + 40 hex, any case; looked
    up on the node)."""
    if looks_like_address(who):
        address = sanitize_address("0x" + who.strip()[2:])
        inbox_id = (await client.inbox_ids_of([address]))[address]
        if inbox_id is None:
            raise CliError(f"{address} has no XMTP inbox on this node")
        return inbox_id
    text = normalise_id(who)
    if len(text) == 64 and is_hex(text):
        return text
    raise CliError(f"{who!r} is neither an inbox id (64 hex) nor an Ethereum address (0x + 40 hex)")


async def addresses(client: Client, inbox_ids: Iterable[str]) -> dict[str, list[str]]:
    """The Ethereum addresses of each inbox, from its identity log (verified as the SDK verifies every log);
    an inbox whose log cannot be had maps to ``[]``."""
    wanted = sorted(set(inbox_ids))
    if not wanted:
        return {}
    # what could be fetched is in the cache; the rest is shown by inbox id
    with contextlib.suppress(ApiCallError, MLSError):
        await client.identities.fetch(client.api, wanted)
    out: dict[str, list[str]] = {}
    for inbox_id in wanted:
        state = client.identities.state(inbox_id)
        out[inbox_id] = [] if state is None else state.ethereum_addresses()
    return out


def own_inbox(client: Client) -> str:
    return client.inbox_id


# --- changes ------------------------------------------------------------------------------------------------
def find_dm(client: Client, inbox_id: str) -> ClientConversation | None:
    return client.dm_with(inbox_id)


async def find_or_create_dm(client: Client, inbox_id: str) -> ClientConversation:
    return await client.find_or_create_dm(inbox_id)


async def create_group(client: Client, inbox_ids: Sequence[str], name: str) -> ClientConversation:
    return await client.create_group(inbox_ids, name=name)


async def send_text(conversation: ClientConversation, text: str) -> bytes:
    """Send a text; its message id."""
    return await conversation.send_text(text)


async def send_value(conversation: ClientConversation, value: object) -> bytes:
    """Send any content value the standard codecs encode (a Reply, a Reaction); its message id."""
    encoded, should_push = encode_for_sending(value)
    return await conversation.send(encoded, should_push=should_push)


async def add_members(conversation: ClientConversation, inbox_ids: Sequence[str]) -> None:
    await conversation.add_members(inbox_ids)


async def remove_members(conversation: ClientConversation, inbox_ids: Sequence[str]) -> None:
    await conversation.remove_members(inbox_ids)


async def rename(conversation: ClientConversation, name: str) -> None:
    await conversation.update_name(name)


def admins(conversation: ClientConversation) -> tuple[list[str], list[str]]:
    """``(super admins, admins)`` of a group, by inbox id, as its current metadata lists them."""
    mutable = conversation.conversation.context.mutable
    return list(mutable.super_admins), list(mutable.admins)


async def leave(conversation: ClientConversation) -> None:
    """Ask the group to remove us (a leave request an admin's client carries out). Not in the SDK yet."""
    raise NotSupportedYet("leave is not supported yet: the SDK cannot send a leave request")


async def set_consent(conversation: ClientConversation, allowed: bool) -> None:
    """Record that this inbox allows (or denies) a conversation. Not in the SDK yet."""
    raise NotSupportedYet("consent is not supported yet: the SDK keeps no consent states")
