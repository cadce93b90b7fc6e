"""Every content type through a real node between our client and a real libxmtp client (xmtp-bindings 0.1.8 =
libxmtp 1.10.0): libxmtp sends each (its own encoder's bytes) and we read the values; we send each and libxmtp's
decoders read the values; a remote attachment goes both ways through a local HTTPS store; libxmtp's own
transcript entries read as our GroupUpdated; our leave request is understood by libxmtp."""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import EnrichedReply, Group, MessageKind
from pyxmtp.client.attachments import HttpsDownloader, download_attachment, upload_attachment
from pyxmtp.conversations.content import (
    Action,
    Actions,
    ActionStyle,
    Attachment,
    GroupUpdated,
    Intent,
    LeaveRequest,
    Markdown,
    MultiRemoteAttachment,
    Reaction,
    ReadReceipt,
    RemoteAttachment,
    Reply,
    Text,
    TransactionMetadata,
    TransactionReference,
    WalletCall,
    WalletCallMetadata,
    WalletSendCalls,
    decode_content,
    encode_content,
    encode_for_sending,
)
from pyxmtp.node import Node
from tests.conversations.attachment_oracle import oracle_open, oracle_seal
from tests.conversations.libxmtp_content import libxmtp_decode, libxmtp_encode
from tests.interop.libxmtp import User, list_options, until, v

from .conftest import new_client
from .https_files import FileServer, Route, serve_files
from .test_libxmtp_interop import group_options, libxmtp_api

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[FileServer, ssl.SSLContext]]:
    with serve_files(tmp_path) as served:
        yield served


def values(sender: str) -> list[object]:
    """One of each content type node-sdk 6.0 sends (leave request last: it ends the sender's membership)."""
    return [
        Text(f"hello from {sender}"),
        Markdown(f"# {sender}\n*markdown*"),
        Reaction("0a0b0c", "added", "👍", "unicode", "someone"),
        Reply("0a0b0c", encode_content(Text(f"{sender} replies"))),
        ReadReceipt(),
        Attachment("text/plain", f"inline file from {sender}".encode(), "inline.txt"),
        TransactionReference(
            "8453", "0xfeed", "eip155", TransactionMetadata("transfer", "USDC", 2.5, 6, "0xfrom", "0xto")
        ),
        WalletSendCalls(
            "1.0",
            "0x2105",
            "0xfrom",
            (WalletCall("0xto", "0x", "0x10", None, WalletCallMetadata("Pay", "transfer", {"k": "v"})),),
        ),
        Actions("menu", "Pick", (Action("y", "Yes", style=ActionStyle.PRIMARY), Action("n", "No"))),
        Intent("menu", "y", {"from": sender}),
    ]


def _push(value: object) -> bool:
    return encode_for_sending(value)[1]


async def test_every_content_type_both_ways_through_a_node(
    node: Node, tmp_path: Path, files: tuple[FileServer, ssl.SSLContext]
) -> None:
    server, trusted = files
    fetch = HttpsDownloader(verify=trusted, trust_env=False)
    api = await libxmtp_api(node)
    alice = await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")

    group = await alice.client.conversations().create_group([bob.inbox_id], group_options("content"))
    [bob_group] = await bob.conversations.sync()

    # --- libxmtp sends, we read ---------------------------------------------------------------------------
    theirs = values("alice")
    for value in theirs:
        await group.send(libxmtp_encode(v, value), v.FfiSendMessageOpts(should_push=_push(value)))

    # a remote attachment sealed as libxmtp seals it (its attachment encoding, HKDF-SHA256 + AES-256-GCM), and
    # a multi remote attachment of two
    sealed: list[tuple[Attachment, RemoteAttachment]] = []
    for i in range(3):
        attachment = Attachment("image/png", os.urandom(50_000 + i), f"alice-{i}.png")
        secret, salt, nonce = os.urandom(32), os.urandom(32), os.urandom(12)
        payload = oracle_seal(libxmtp_encode(v, attachment), secret, salt, nonce)
        digest = hashlib.sha256(payload).hexdigest()
        server.routes[f"/alice/{i}"] = Route(body=payload)
        remote = RemoteAttachment(
            server.url(f"/alice/{i}"),
            digest,
            secret,
            salt,
            nonce,
            "https://",
            len(payload),
            attachment.filename,
        )
        sealed.append((attachment, remote))
    await group.send(libxmtp_encode(v, sealed[0][1]), v.FfiSendMessageOpts(should_push=True))
    multi = MultiRemoteAttachment((sealed[1][1], sealed[2][1]))
    await group.send(libxmtp_encode(v, multi), v.FfiSendMessageOpts(should_push=True))

    await bob_group.sync()
    every = bob_group.messages(exclude_content_types=())  # reactions and read receipts too
    received = [decode_content(m.encoded) for m in every if m.kind is MessageKind.APPLICATION]
    assert received == [*theirs, sealed[0][1], multi]
    # as node-sdk lists them: the reaction and the read receipt left out, the reply enriched
    listed = [m.content for m in bob_group.messages(kind=MessageKind.APPLICATION)]
    reply = listed[2]
    assert (
        isinstance(reply, EnrichedReply) and reply.content == "alice replies" and reply.reference == "0a0b0c"
    )
    assert listed[:2] + listed[3:] == [*theirs[:2], *theirs[5:], sealed[0][1], multi]
    assert await download_attachment(sealed[0][1], fetch) == sealed[0][0]
    assert [await download_attachment(r, fetch) for r in multi.attachments] == [a for a, _ in sealed[1:]]

    # --- we send, libxmtp reads ---------------------------------------------------------------------------
    ours = values("bob")
    for value in ours:
        await send_typed(bob_group, value)
    attachment = Attachment("application/pdf", os.urandom(70_000), "bob.pdf")
    remote = await upload_attachment(attachment, server.upload, rng=os.urandom)
    await bob_group.send_remote_attachment(remote)
    await bob_group.send(LeaveRequest())

    expected = [*ours, remote, LeaveRequest()]

    async def alice_has_all() -> bool:
        await group.sync()
        return len(await _from(group, bob.inbox_id)) >= len(expected)

    await until(alice_has_all, "libxmtp to read everything we sent")
    messages = await _from(group, bob.inbox_id)
    assert [libxmtp_decode(v, bytes(m.content)) for m in messages] == expected

    # alice's app fetches our payload with the URL and keys libxmtp decoded, and opens it independently
    got = libxmtp_decode(v, bytes(messages[len(ours)].content))
    assert isinstance(got, RemoteAttachment)
    payload = await fetch(got.url, 10**6)
    plaintext = oracle_open(payload, got.secret, got.salt, got.nonce)
    assert libxmtp_decode(v, plaintext) == attachment  # libxmtp's attachment decoder reads the plaintext

    # libxmtp's own transcript entries read as our GroupUpdated
    [entry] = await _transcript(group)
    update = decode_content(bytes(entry.content))
    assert update == GroupUpdated(alice.inbox_id, added_inboxes=(bob.inbox_id,))
    assert update == libxmtp_decode(v, bytes(entry.content))

    # libxmtp, a super admin, takes our leave request: it removes us
    async def bob_was_removed() -> bool:
        await group.sync()
        members = {m.inbox_id for m in await group.list_members()}
        return bob.inbox_id not in members

    await until(bob_was_removed, "libxmtp to act on our leave request")
    await bob_group.sync()
    assert not bob_group.is_active
    # libxmtp's entry for it names us as having left (left_inboxes), which we read
    last = (await _transcript(group))[-1]
    assert decode_content(bytes(last.content)) == GroupUpdated(alice.inbox_id, left_inboxes=(bob.inbox_id,))
    await bob.close()


async def send_typed(conversation: Group, value: object) -> bytes:
    """``value`` sent with the conversation's method for its type (node-sdk's ``send*``)."""
    sends: dict[type, Callable[[Any], Awaitable[bytes]]] = {
        Text: conversation.send_text,
        Markdown: conversation.send_markdown,
        Reaction: conversation.send_reaction,
        Reply: conversation.send_reply,
        ReadReceipt: lambda _: conversation.send_read_receipt(),
        Attachment: conversation.send_attachment,
        TransactionReference: conversation.send_transaction_reference,
        WalletSendCalls: conversation.send_wallet_send_calls,
        Actions: conversation.send_actions,
        Intent: conversation.send_intent,
    }
    return await sends[type(value)](value)


async def _from(conversation: Any, inbox_id: str) -> list[Any]:
    return [
        m
        for m in await conversation.find_messages(list_options())
        if m.kind == v.FfiConversationMessageKind.APPLICATION and m.sender_inbox_id == inbox_id
    ]


async def _transcript(conversation: Any) -> list[Any]:
    return [
        m
        for m in await conversation.find_messages(list_options())
        if m.kind == v.FfiConversationMessageKind.MEMBERSHIP_CHANGE
    ]
