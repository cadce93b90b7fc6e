"""A conversation of the client: syncing it from the node, sending into it, reading its messages.

Every group message is processed in the node's id order. Each one's outcome (the group's new state, the
cursor, the message it carried) is written in one store transaction. A message that is bad (it does not
decrypt, a commit that breaks a rule) is logged and passed over: the group is unchanged and the cursor moves on,
as libxmtp does, so one bad message cannot wedge a conversation.

Our own messages come back from the node too: they are recognised by the SHA-256 of their bytes (recorded
when sent, since MLS does not let a sender decrypt its own message) and only marked as published.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pyxmtp.conversations.content import (
    ContentDecodeError,
    EncodedContent,
    UnknownContent,
    build_plaintext_envelope,
    decode_content,
    encode_text,
    message_id,
    sender_hmac,
    sender_hmac_key,
)
from pyxmtp.conversations.conversation import CommitMerged, Conversation, Received
from pyxmtp.mls.errors import MLSError
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .identity import IdentityNeeded
from .store import MessageRecord

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("pyxmtp.client")
T = TypeVar("T")


async def retry_with_identities(client: Client, attempt: Callable[[], T], rounds: int = 3) -> T:
    """Run ``attempt``; while it raises :class:`IdentityNeeded`, fetch those identity logs and run it again."""
    for _ in range(rounds):
        try:
            return attempt()
        except IdentityNeeded as needed:
            await client.identities.fetch(client.api, needed.wanted)
    return attempt()


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    """A conversation message: ``content`` is the decoded value (a ``str`` for text), ``encoded`` the raw
    EncodedContent bytes."""

    message_id: bytes
    sender_inbox_id: str
    sender_installation: bytes
    sent_ns: int
    content: object
    encoded: bytes
    published: bool


class ClientConversation:
    """One conversation of a :class:`~pyxmtp.client.Client`."""

    def __init__(self, client: Client, conversation: Conversation, cursor: int) -> None:
        self.client = client
        self.conversation = conversation
        self.cursor = cursor

    @property
    def group_id(self) -> bytes:
        return self.conversation.group_id

    @property
    def dm_peer(self) -> str | None:
        return self.conversation.dm_peer

    def __repr__(self) -> str:
        kind = self.conversation.conversation_type.name.lower()
        return f"<ClientConversation {kind} {self.group_id.hex()} epoch {self.conversation.epoch}>"

    # --- receiving ----------------------------------------------------------------------------------------
    async def sync(self) -> int:
        """Process everything the node has after our cursor; how many messages were processed."""
        count = 0
        async for message in self.client.api.group_messages_after(self.group_id, self.cursor):
            await self._apply(message.v1)
            count += 1
        return count

    async def _apply(self, v1: mls_pb2.GroupMessage.V1) -> None:
        store = self.client.store
        payload_hash = hashlib.sha256(v1.data).digest()
        if store.is_own_payload(payload_hash):
            with store.transaction():
                store.mark_published(payload_hash, v1.id, v1.created_ns)
                self._save(v1.id)
            return
        now = self.client.clock_ns() // 10**9
        before = self.conversation.to_bytes()

        def process() -> object:
            return self.conversation.process(v1.data, now=now, states_for=self.client.identities.states_for)

        try:
            outcome = await retry_with_identities(self.client, process)
        except MLSError as exc:
            log.warning("group %s message %d passed over: %s", self.group_id.hex(), v1.id, exc)
            self.conversation = Conversation.from_bytes(before, self.client.inbox_id)  # nothing of it stays
            with store.transaction():
                self._save(v1.id)
            return
        with store.transaction():
            if isinstance(outcome, Received):
                store.add_message(
                    MessageRecord(
                        outcome.message_id,
                        self.group_id,
                        v1.id,
                        outcome.sender.inbox_id,
                        outcome.sender.installation_key,
                        v1.created_ns,
                        outcome.encoded_content,
                        True,
                    )
                )
            elif isinstance(outcome, CommitMerged):
                log.info("group %s moved to epoch %d", self.group_id.hex(), outcome.epoch)
            self._save(v1.id)

    def _save(self, cursor: int) -> None:
        self.cursor = max(self.cursor, cursor)
        self.client.store.update_conversation(self.group_id, self.conversation.to_bytes(), self.cursor)

    # --- sending ------------------------------------------------------------------------------------------
    async def send_text(self, text: str) -> bytes:
        """Send a text message; its message id."""
        content, should_push = encode_text(text)
        return await self.send(content, should_push=should_push)

    async def send(self, encoded_content: bytes, *, should_push: bool = True) -> bytes:
        """Send EncodedContent bytes; returns the message id. The message is stored (unpublished) before it is
        sent, and the group state with it: its ratchet key is gone, whatever happens to the call."""
        client = self.client
        sent_ns = client.clock_ns()
        idempotency_key = str(sent_ns)
        envelope = build_plaintext_envelope(encoded_content, idempotency_key)
        data = self.conversation.encrypt(envelope, rng=client.rng)
        mid = message_id(self.group_id, idempotency_key, encoded_content)
        record = MessageRecord(
            mid, self.group_id, None, client.inbox_id, client.installation_id, sent_ns, encoded_content, False
        )
        with client.store.transaction():
            client.store.add_message(record, payload_hash=hashlib.sha256(data).digest())
            self._save(self.cursor)
        hmac_key = sender_hmac_key(client.hmac_key, self.group_id, sent_ns // 10**9)
        await client.api.send_group_messages(
            [
                mls_pb2.GroupMessageInput(
                    v1=mls_pb2.GroupMessageInput.V1(
                        data=data, sender_hmac=sender_hmac(hmac_key, data), should_push=should_push
                    )
                )
            ]
        )
        await self.sync()  # read our write back: its id and the node's time
        return mid

    # --- reading ------------------------------------------------------------------------------------------
    def messages(self) -> list[DecodedMessage]:
        """Every message stored for this conversation, in the order sent."""
        out = []
        for r in self.client.store.messages(self.group_id):
            try:
                content: object = decode_content(r.content)
            except ContentDecodeError as exc:  # a peer's malformed content: shown as unknown, not fatal
                log.warning("message %s of group %s: %s", r.message_id.hex(), self.group_id.hex(), exc)
                content = UnknownContent(EncodedContent(None, content=r.content))
            out.append(
                DecodedMessage(
                    r.message_id,
                    r.sender_inbox_id,
                    r.sender_installation,
                    r.sent_ns,
                    content,
                    r.content,
                    r.published,
                )
            )
        return out

    def texts(self) -> list[str]:
        """The text messages only, in order (a convenience for bots and tests)."""
        return [m.content for m in self.messages() if isinstance(m.content, str)]
