"""Our own messages until the node has them: what a send promises, and how it keeps it.

A message is stored (:attr:`~.store.DeliveryStatus.UNPUBLISHED`, with its MLS bytes) in the same transaction
as the group state that encrypted it, before it is published. Whatever happens next (the call fails, the process
dies), the next sync, start-up or stream reconnect publishes it again: the same bytes if the group is still in
their epoch (the node keeps one copy of identical bytes), else encrypted again for the current epoch with the
same idempotency key, so the message id stays the same and receivers (pyxmtp and libxmtp alike key messages by
id) keep one copy. It is :attr:`~.store.DeliveryStatus.PUBLISHED` once seen on the node in an epoch members can
still read (at most ``max_past_epochs`` behind the group's), and :attr:`~.store.DeliveryStatus.FAILED` if it
never can be (we were removed first, or the node refused it).

The functions here take a :class:`~.session.GroupSession` whose lock the caller holds.
"""

from __future__ import annotations

import hashlib
import logging

import grpc

from pyxmtp.conversations.content import build_plaintext_envelope, message_id, sender_hmac, sender_hmac_key
from pyxmtp.proto.mls.api.v1 import mls_pb2

from . import receive
from .api import MAX_SEND_BYTES, ApiCallError
from .errors import InactiveConversation, MessageNotPublished, MessageTooLarge
from .receive import epoch_of, readable_at
from .session import GroupSession
from .store import DeliveryStatus, MessageRecord, Outgoing

__all__ = [
    "MAX_CONTENT_BYTES",
    "PUBLISH_ROUNDS",
    "REFUSED",
    "InactiveConversation",
    "MessageNotPublished",
    "MessageTooLarge",
    "epoch_of",
    "flush",
    "publish_unpublished",
    "readable_at",
    "store_outgoing",
]

log = logging.getLogger("pyxmtp.client")

#: How many times one sync publishes and reads back (a message is encrypted again each time commits overtook
#: it); what is still unpublished after that goes with the next sync.
PUBLISH_ROUNDS = 3
#: The largest EncodedContent a conversation sends: the node takes requests up to :data:`MAX_SEND_BYTES`, and
#: MLS framing, the envelope and the request need far less than the margin.
MAX_CONTENT_BYTES = MAX_SEND_BYTES - 64 * 1024
#: RPC failures that mean the node will never take a message (it is marked failed, not published again).
REFUSED = frozenset({grpc.StatusCode.INVALID_ARGUMENT})


def store_outgoing(session: GroupSession, content: bytes, outgoing: Outgoing, sent_ns: int) -> bytes:
    """Encrypt a message of ours and store it, unpublished with its MLS bytes, in one transaction with the group
    state (its ratchet key is gone, whatever happens next); its message id. ``outgoing.payload`` is ignored."""
    ctx = session.ctx
    group_id = session.group_id
    envelope = build_plaintext_envelope(content, outgoing.idempotency_key)
    data = session.core.encrypt(envelope, rng=ctx.rng)
    mid = message_id(group_id, outgoing.idempotency_key, content)
    record = MessageRecord(
        mid,
        group_id,
        None,
        ctx.inbox_id,
        ctx.installation_id,
        sent_ns,
        content,
        DeliveryStatus.UNPUBLISHED,
    )
    kept = Outgoing(data, outgoing.idempotency_key, outgoing.should_push)
    with session.writing():
        ctx.store.add_message(record, payload_hash=hashlib.sha256(data).digest(), outgoing=kept)
    return mid


async def publish_unpublished(session: GroupSession) -> tuple[bool, dict[bytes, ApiCallError]]:
    """Publish the conversation's messages of ours the node does not have, oldest first (called after a sync to
    the node's end: one not seen there is not there). One encrypted in a past epoch is encrypted again for the
    current one, with its idempotency key, so its message id stays the same; once we are removed they are marked
    failed.

    ``(whether any was sent, the ones the node refused, marked failed)``. Any other failure of the call raises
    :class:`MessageNotPublished` (that one and the later ones stay unpublished)."""
    ctx = session.ctx
    store = ctx.store
    group_id = session.group_id
    sent = False
    refused: dict[bytes, ApiCallError] = {}
    for record, outgoing in store.unpublished(group_id):
        mid = record.message_id
        if not session.is_active:
            log.warning("group %s: message %s not published: we were removed", group_id.hex(), mid.hex())
            with store.transaction():
                store.mark_failed(mid)
            continue
        data = outgoing.payload
        if data is None or epoch_of(data) != session.core.epoch:
            data = _encrypt_again(session, record, outgoing)
        hmac_key = sender_hmac_key(ctx.hmac_key, group_id, ctx.now_s())
        message = mls_pb2.GroupMessageInput.V1(
            data=data, sender_hmac=sender_hmac(hmac_key, data), should_push=outgoing.should_push
        )
        try:
            await ctx.api.send_group_messages([mls_pb2.GroupMessageInput(v1=message)])
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


def _encrypt_again(session: GroupSession, record: MessageRecord, outgoing: Outgoing) -> bytes:
    """A message of ours encrypted for the current epoch (same idempotency key, so the same message id), stored as
    the bytes to publish, with the group state, in one transaction."""
    envelope = build_plaintext_envelope(record.content, outgoing.idempotency_key)
    data = session.core.encrypt(envelope, rng=session.ctx.rng)
    with session.writing():
        session.ctx.store.replace_payload(record.message_id, data, hashlib.sha256(data).digest())
    return data


async def flush(session: GroupSession) -> list[MessageRecord]:
    """Sync to the node's end, then publish what of ours it does not have and read that back, up to
    :data:`PUBLISH_ROUNDS` times; the messages stored, in order."""
    out = await receive.sync(session)
    for _ in range(PUBLISH_ROUNDS):
        session.publish_due = False
        sent, _ = await publish_unpublished(session)
        if not sent:
            break
        out += await receive.sync(session)
    return out
