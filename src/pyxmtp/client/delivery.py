"""Our own messages until the node has them: what a send promises, and the errors that say it could not keep it.

A message is stored (:attr:`~.store.DeliveryStatus.UNPUBLISHED`, with its MLS bytes) in the same transaction
as the group state that encrypted it, before it is published. Whatever happens next (the call fails, the process
dies), the next sync, start-up or stream reconnect publishes it again: the same bytes if the group is still in
their epoch (the node keeps one copy of identical bytes), else encrypted again for the current epoch with the
same idempotency key, so the message id stays the same and receivers (pyxmtp and libxmtp alike key messages by
id) keep one copy. It is :attr:`~.store.DeliveryStatus.PUBLISHED` once seen on the node in an epoch members can
still read (at most ``max_past_epochs`` behind the group's), and :attr:`~.store.DeliveryStatus.FAILED` if it
never can be (we were removed first, or the node refused it).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import grpc

from pyxmtp.conversations.content import build_plaintext_envelope, message_id, sender_hmac, sender_hmac_key
from pyxmtp.mls.errors import LocalMLSError
from pyxmtp.mls.framing.messages import parse_private_message
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .api import MAX_SEND_BYTES, ApiCallError
from .store import DeliveryStatus, MessageRecord, Outgoing

if TYPE_CHECKING:
    from .conversation import ClientConversation

log = logging.getLogger("pyxmtp.client")

#: How many times one sync publishes and reads back (a message is encrypted again each time commits overtook
#: it); what is still unpublished after that goes with the next sync.
PUBLISH_ROUNDS = 3
#: The largest EncodedContent a conversation sends: the node takes requests up to :data:`MAX_SEND_BYTES`, and
#: MLS framing, the envelope and the request need far less than the margin.
MAX_CONTENT_BYTES = MAX_SEND_BYTES - 64 * 1024
#: RPC failures that mean the node will never take a message (it is marked failed, not published again).
REFUSED = frozenset({grpc.StatusCode.INVALID_ARGUMENT})


class MessageNotPublished(ApiCallError):
    """Publishing a stored message of ours failed (``method``, ``code`` and ``details`` of the RPC).

    ``delivery_status`` says what follows: :attr:`~DeliveryStatus.UNPUBLISHED`, the message is kept and published
    by the next sync, start-up or stream reconnect under the same ``message_id`` (do not send it again);
    :attr:`~DeliveryStatus.FAILED`, the node refused it for good."""

    def __init__(self, message_id: bytes, delivery_status: DeliveryStatus, cause: ApiCallError) -> None:
        super().__init__(cause.method, cause.code, cause.details)
        self.message_id = message_id
        self.delivery_status = delivery_status

    def __str__(self) -> str:
        if self.delivery_status is DeliveryStatus.FAILED:
            return f"{super().__str__()}; message {self.message_id.hex()} is refused for good"
        return f"{super().__str__()}; message {self.message_id.hex()} is kept and sent again by the next sync"


class MessageTooLarge(ValueError):
    """The content is larger than a node takes (:data:`MAX_CONTENT_BYTES`); nothing was stored or sent."""


class InactiveConversation(LocalMLSError):
    """We were removed from the conversation: nothing can be sent into it any more."""


def epoch_of(data: bytes) -> int | None:
    """The epoch a group message was sent in (None if it is not a well-formed PrivateMessage)."""
    header = parse_private_message(data)
    return None if header is None else header.epoch


def readable_at(data: bytes, epoch: int, max_past_epochs: int) -> bool:
    """Whether members at ``epoch`` can still read the application message ``data`` (they keep the secrets of
    ``max_past_epochs`` epochs before theirs)."""
    sent_in = epoch_of(data)
    return sent_in is None or epoch - sent_in <= max_past_epochs


def store_outgoing(
    conversation: ClientConversation, content: bytes, outgoing: Outgoing, sent_ns: int
) -> bytes:
    """Encrypt a message of ours and store it, unpublished with its MLS bytes, in one transaction with the group
    state (its ratchet key is gone, whatever happens next); its message id. ``outgoing.payload`` is ignored."""
    client = conversation.client
    group_id = conversation.group_id
    envelope = build_plaintext_envelope(content, outgoing.idempotency_key)
    data = conversation.conversation.encrypt(envelope, rng=client.rng)
    mid = message_id(group_id, outgoing.idempotency_key, content)
    record = MessageRecord(
        mid,
        group_id,
        None,
        client.inbox_id,
        client.installation_id,
        sent_ns,
        content,
        DeliveryStatus.UNPUBLISHED,
    )
    kept = Outgoing(data, outgoing.idempotency_key, outgoing.should_push)
    with conversation._writing():
        client.store.add_message(record, payload_hash=hashlib.sha256(data).digest(), outgoing=kept)
    return mid


async def publish_unpublished(conversation: ClientConversation) -> tuple[bool, dict[bytes, ApiCallError]]:
    """Publish the conversation's messages of ours the node does not have, oldest first (called after a sync to
    the node's end: one not seen there is not there). One encrypted in a past epoch is encrypted again for the
    current one, with its idempotency key, so its message id stays the same; once we are removed they are marked
    failed. The caller holds the conversation's lock.

    ``(whether any was sent, the ones the node refused, marked failed)``. Any other failure of the call raises
    :class:`MessageNotPublished` (that one and the later ones stay unpublished)."""
    client = conversation.client
    store = client.store
    group_id = conversation.group_id
    sent = False
    refused: dict[bytes, ApiCallError] = {}
    for record, outgoing in store.unpublished(group_id):
        mid = record.message_id
        if not conversation.is_active:
            log.warning("group %s: message %s not published: we were removed", group_id.hex(), mid.hex())
            with store.transaction():
                store.mark_failed(mid)
            continue
        data = outgoing.payload
        if data is None or epoch_of(data) != conversation.conversation.epoch:
            data = _encrypt_again(conversation, record, outgoing)
        hmac_key = sender_hmac_key(client.hmac_key, group_id, client.clock_ns() // 10**9)
        message = mls_pb2.GroupMessageInput.V1(
            data=data, sender_hmac=sender_hmac(hmac_key, data), should_push=outgoing.should_push
        )
        try:
            await client.api.send_group_messages([mls_pb2.GroupMessageInput(v1=message)])
        except ApiCallError as exc:
            if exc.code not in REFUSED:
                raise MessageNotPublished(mid, DeliveryStatus.UNPUBLISHED, exc) from exc
            log.warning("group %s: the node refused message %s: %s", group_id.hex(), mid.hex(), exc)
            with store.transaction():
                store.mark_failed(mid)
            refused[mid] = exc
            continue
        sent = True
    return sent, refused


def _encrypt_again(conversation: ClientConversation, record: MessageRecord, outgoing: Outgoing) -> bytes:
    """A message of ours encrypted for the current epoch (same idempotency key, so the same message id), stored as
    the bytes to publish, with the group state, in one transaction."""
    envelope = build_plaintext_envelope(record.content, outgoing.idempotency_key)
    data = conversation.conversation.encrypt(envelope, rng=conversation.client.rng)
    with conversation._writing():
        conversation.client.store.replace_payload(record.message_id, data, hashlib.sha256(data).digest())
    return data
