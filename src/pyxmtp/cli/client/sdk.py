"""Every call ``pyxmtp client`` makes into the client SDK (:mod:`pyxmtp.client`), in one place.

The commands use these functions only, so a change of the SDK's API touches this module alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import grpc

from pyxmtp.client import (
    ApiCallError,
    Client,
    Consent,
    ConsentEntityType,
    ConsentState,
    Conversation,
    DecodedMessage,
    Dm,
    Group,
)
from pyxmtp.client.archive import DEFAULT_ELEMENTS, ImportSummary
from pyxmtp.client.restored import RestoredConversation
from pyxmtp.client.streams import RETRIED
from pyxmtp.conversations.archive import ArchiveElementKind, ArchiveMetadata
from pyxmtp.conversations.content import GroupUpdated
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.members import is_valid_address, sanitize_address
from pyxmtp.mls.errors import MLSError

from .errors import CliError

__all__ = [
    "RETRIED",
    "ApiCallError",
    "Client",
    "ClientConversation",
    "DecodedMessage",
    "is_transcript",
    "is_unreachable",
]

#: A conversation as the commands handle it (a :class:`~pyxmtp.client.Group` or a :class:`~pyxmtp.client.Dm`).
ClientConversation = Conversation

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
    """The home's client, opened without calling the node (``init`` registers; ``whoami`` needs no node)."""
    return await Client.create(
        node,
        wallet,
        db_path=db_path,
        db_encryption_key=db_key,
        credentials=credentials,
        proxy=proxy,
        register=False,
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
    """Every conversation this home holds, oldest first: denied ones and every DM with the same peer included
    (libxmtp's device-sync groups left out)."""
    return client.conversations.list(consent_states=list(ConsentState), include_duplicate_dms=True)


async def sync_welcomes(client: Client) -> list[ClientConversation]:
    return await client.conversations.sync()


async def sync(conversation: ClientConversation) -> list[DecodedMessage]:
    """Process what the node has for ``conversation``."""
    return await conversation.sync()


def is_dm(conversation: ClientConversation) -> bool:
    return isinstance(conversation, Dm)


def dm_peer(conversation: ClientConversation) -> str | None:
    """The other member's inbox id of a DM; None for a group."""
    return conversation.peer_inbox_id if isinstance(conversation, Dm) else None


def group_name(conversation: ClientConversation) -> str:
    """A group's name ("" for a DM or a group without one)."""
    return conversation.name if isinstance(conversation, Group) else ""


def messages(conversation: ClientConversation) -> list[DecodedMessage]:
    """Every stored message, in the order sent: reactions, read receipts and "group updated" entries included."""
    return conversation.messages(exclude_content_types=())


def stored_count(conversation: ClientConversation) -> int:
    """How many messages the home holds for ``conversation`` (cheap enough to poll for a progress bar)."""
    return conversation.count_messages(exclude_content_types=())


def is_transcript(message: DecodedMessage) -> bool:
    """A local "group updated" entry (made from a commit, never sent): not counted as a message."""
    return isinstance(message.content, GroupUpdated)


async def stream(client: Client) -> AsyncIterator[tuple[ClientConversation, DecodedMessage]]:
    """Every new message of the conversations not denied, live, until the connection fails
    (:class:`ApiCallError`): the caller reconnects and says so."""
    async with client.conversations.stream_all_messages(reconnect=False) as live:
        async for message in live:
            conversation = client.conversations.get_conversation_by_id(message.group_id)
            if conversation is not None:
                yield conversation, message


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
        inbox_id = await client.fetch_inbox_id_by_identifier(address)
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
        await client.ctx.fetch_identities(wanted)
    out: dict[str, list[str]] = {}
    for inbox_id in wanted:
        state = client.identities.state(inbox_id)
        out[inbox_id] = [] if state is None else state.ethereum_addresses()
    return out


def own_inbox(client: Client) -> str:
    return client.inbox_id


# --- changes ------------------------------------------------------------------------------------------------
def find_dm(client: Client, inbox_id: str) -> ClientConversation | None:
    return client.conversations.get_dm_by_inbox_id(inbox_id)


async def find_or_create_dm(client: Client, inbox_id: str) -> ClientConversation:
    return await client.conversations.create_dm(inbox_id)


async def create_group(client: Client, inbox_ids: Sequence[str], name: str) -> ClientConversation:
    return await client.conversations.create_group(inbox_ids, name=name)


async def send_text(conversation: ClientConversation, text: str) -> bytes:
    """Send a text; its message id."""
    return await conversation.send_text(text)


async def send_value(conversation: ClientConversation, value: object) -> bytes:
    """Send any content value the standard codecs encode (a Reply, a Reaction); its message id."""
    return await conversation.send(value)


def _group(conversation: ClientConversation) -> Group:
    if not isinstance(conversation, Group):
        raise CliError("this is a DM: only a group has admins and members to change")
    return conversation


async def add_members(conversation: ClientConversation, inbox_ids: Sequence[str]) -> None:
    await _group(conversation).add_members(inbox_ids)


async def remove_members(conversation: ClientConversation, inbox_ids: Sequence[str]) -> None:
    await _group(conversation).remove_members(inbox_ids)


async def rename(conversation: ClientConversation, name: str) -> None:
    await _group(conversation).update_name(name)


def admins(conversation: ClientConversation) -> tuple[list[str], list[str]]:
    """``(super admins, admins)`` of a group, by inbox id, as its current metadata lists them."""
    group = _group(conversation)
    return group.list_super_admins(), group.list_admins()


async def change_admin(
    conversation: ClientConversation, inbox_id: str, *, super_admin: bool, add: bool
) -> None:
    """Make ``inbox_id`` an admin (or a super admin), or no longer one."""
    group = _group(conversation)
    if super_admin:
        await (group.add_super_admin(inbox_id) if add else group.remove_super_admin(inbox_id))
    else:
        await (group.add_admin(inbox_id) if add else group.remove_admin(inbox_id))


async def leave(conversation: ClientConversation) -> None:
    """Ask the group to remove us (a leave request a super admin's client carries out)."""
    await _group(conversation).request_removal()


def is_pending_removal(conversation: ClientConversation) -> bool:
    """Whether we asked to leave ``conversation`` and are waiting to be removed (or were)."""
    return isinstance(conversation, Group) and conversation.is_pending_removal()


# --- consent ------------------------------------------------------------------------------------------------
def _state(allowed: bool) -> ConsentState:
    return ConsentState.ALLOWED if allowed else ConsentState.DENIED


def consent_name(state: ConsentState) -> str:
    return state.name.lower()


def conversation_consent(conversation: ClientConversation) -> str:
    """Our decision about a conversation: ``allowed``, ``denied`` or ``unknown``."""
    return consent_name(conversation.consent_state())


def set_conversation_consent(conversation: ClientConversation, allowed: bool) -> None:
    """Allow or deny a conversation (a denied one is left out of ``listen``)."""
    conversation.update_consent_state(_state(allowed))


def inbox_consent(client: Client, inbox_id: str) -> str:
    """Our decision about an inbox: ``allowed``, ``denied`` or ``unknown``."""
    return consent_name(client.preferences.get_consent_state(ConsentEntityType.INBOX, inbox_id))


def set_inbox_consent(client: Client, inbox_id: str, allowed: bool) -> None:
    """Allow or deny an inbox (recorded for the inbox; each conversation keeps its own decision)."""
    client.preferences.set_consent_states([Consent(ConsentEntityType.INBOX, inbox_id, _state(allowed))])


async def create_archive(
    client: Client, path: Path, key: bytes, start_ns: int | None, consent_only: bool
) -> ArchiveMetadata:
    """Write the home's archive to ``path`` (owner-only)."""
    elements = (ArchiveElementKind.CONSENT,) if consent_only else DEFAULT_ELEMENTS
    return await client.create_archive(path, key, elements, start_ns)


async def import_archive(client: Client, path: Path, key: bytes) -> ImportSummary:
    """Import the archive at ``path``: all of it or nothing."""
    return await client.import_archive(path, key)


def restored_conversations(client: Client) -> list[RestoredConversation]:
    """The conversations known from archives only (read-only), every consent state."""
    return client.conversations.list_restored(consent_states=list(ConsentState))
