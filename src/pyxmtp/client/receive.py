"""Processing a conversation's group messages from the node into the database.

Every group message is processed in the node's id order. Each one's outcome (the group's new state, the
cursor, the message it carried) is written in one store transaction. A message that is bad (it does not
decrypt, a commit that breaks a rule) is logged and passed over: the group is unchanged and the cursor moves on,
as libxmtp does, so one bad message cannot wedge a conversation.

Our own messages come back from the node too: they are recognised by the SHA-256 of their bytes (recorded
when sent, since MLS does not let a sender decrypt its own message) and only marked as published, unless they
arrived too late for members to read them: then the session is marked to publish them again (:mod:`.delivery`).

The functions here take a :class:`~.session.GroupSession` whose lock the caller holds, and return the stored
records of the messages they added; decoding them is the caller's business.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

from pyxmtp.conversations.content import (
    LEAVE_REQUEST,
    ContentDecodeError,
    EncodedContent,
    GroupUpdatedCodec,
)
from pyxmtp.conversations.conversation import CommitMerged, Received
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.conversations.membership import Installation
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.framing.messages import parse_private_message
from pyxmtp.mls.group.errors import OwnMessageError
from pyxmtp.proto.mls.api.v1 import mls_pb2

from . import own_welcomes
from .content_fields import MessageKind, content_fields, transcript_entry_id
from .identity import IdentityNeeded
from .session import GroupSession
from .store import DeliveryStatus, MessageRecord

log = logging.getLogger("pyxmtp.client")


def epoch_of(data: bytes) -> int | None:
    """The epoch a group message was sent in (None if it is not a well-formed PrivateMessage)."""
    header = parse_private_message(data)
    return None if header is None else header.epoch


def readable_at(data: bytes, epoch: int, max_past_epochs: int) -> bool:
    """Whether members at ``epoch`` can still read the application message ``data`` (they keep the secrets of
    ``max_past_epochs`` epochs before theirs)."""
    sent_in = epoch_of(data)
    return sent_in is None or epoch - sent_in <= max_past_epochs


async def sync(session: GroupSession) -> list[MessageRecord]:
    """Process the node's pages of messages after the cursor; each page's outcome is written in one transaction
    (a page of 100 costs one disk flush, not 100), cut short only where an identity log must be fetched first.
    The messages stored, in order (none once we are removed: the group's later epochs are closed to us)."""
    ctx = session.ctx
    out: list[MessageRecord] = []
    if not session.is_active:
        return out
    async for page in ctx.api.group_message_pages(session.group_id, session.cursor):
        pending = [m.v1 for m in page]
        fetched: set[str] = set()  # the identity logs fetched for pending[0]
        while pending:
            needed: IdentityNeeded | None = None
            # nothing awaits inside: no other task interleaves
            with session.consistent(), ctx.store.transaction():
                while pending:
                    try:
                        record = apply_now(session, pending[0], fetched)
                    except IdentityNeeded as exc:
                        needed = exc
                        break
                    pending.pop(0)
                    fetched = set()
                    if record is not None:
                        out.append(record)
                session.persist()
            if needed is not None:
                fetched |= set(needed.wanted)
                await ctx.fetch_identities(needed.wanted)
    if session.core.pending_commit is not None and session.is_active:
        # ours, stored before it was sent, and not on the node: the call failed before it got there, or the
        # process died first. Dropped, so that the next change can be made.
        log.info("group %s: our commit never reached the node; dropped", session.group_id.hex())
        session.core.discard_own_commit()
        with ctx.store.transaction():
            own_welcomes.forget_unmerged(session)
            session.persist()
    if own_welcomes.owes(session):  # a commit of ours merged, its welcomes not sent (a crash, a failed call)
        await own_welcomes.send_owed_quietly(session)
    return out


async def apply(session: GroupSession, v1: mls_pb2.GroupMessage.V1) -> MessageRecord | None:
    """One message, in its own transaction (a stream's message, or one read while publishing a commit)."""
    fetched: set[str] = set()
    while True:  # each round fetches a log not fetched before, or gives up
        try:
            with session.writing():
                return apply_now(session, v1, fetched)
        except IdentityNeeded as needed:
            fetched |= set(needed.wanted)
            await session.ctx.fetch_identities(needed.wanted)


def apply_now(session: GroupSession, v1: mls_pb2.GroupMessage.V1, fetched: set[str]) -> MessageRecord | None:
    """Process one message inside the caller's transaction (the group state is written by the caller).

    Raises only :class:`IdentityNeeded` naming a log not in ``fetched`` (those already fetched for this
    message): the caller fetches it and calls again. A message that needs a log the node does not have is
    passed over (or, if it removes us, merged on MLS's word: :func:`_without_identities`), as is any bad
    message; the MLS layer leaves the group as it was (or with the message's key used up, which is what we
    want)."""
    if v1.id <= session.cursor or not session.is_active:
        return None
    ctx = session.ctx
    store = ctx.store
    payload_hash = hashlib.sha256(v1.data).digest()
    if store.is_own_payload(payload_hash):
        return _own_message_back(session, v1, payload_hash)
    now = ctx.now_s()
    try:
        outcome = session.core.process(v1.data, now=now, states_for=ctx.identities.states_for)
    except IdentityNeeded as needed:
        if not set(needed.wanted) <= fetched:
            raise
        return _without_identities(session, v1, needed, now)
    except MLSError as exc:
        # our own stale commits (a retried one lost its race) come back too: expected, not a warning
        level = logging.INFO if isinstance(exc, OwnMessageError) else logging.WARNING
        log.log(level, "group %s message %d passed over: %s", session.group_id.hex(), v1.id, exc)
        session.cursor = v1.id
        return None
    record = None
    if isinstance(outcome, Received):
        record = MessageRecord(
            outcome.message_id,
            session.group_id,
            v1.id,
            outcome.sender.inbox_id,
            outcome.sender.installation_key,
            v1.created_ns,
            outcome.encoded_content,
            DeliveryStatus.PUBLISHED,
            inserted_ns=ctx.clock_ns(),
        )
        # as stored (its reply's or reaction's reference read from the content): what a stream hands out equals
        # what messages() lists; None for the same message id again (a resend), stored once
        record = store.insert_message(record)
        if record is not None:
            _note_leave_request(session, record)
    elif isinstance(outcome, CommitMerged):
        log.info("group %s moved to epoch %d", session.group_id.hex(), outcome.epoch)
        if outcome.group_updated is not None and outcome.committer is not None:
            record = transcript_entry(session, v1, outcome.group_updated, outcome.committer)
        own_welcomes.on_merged(session, payload_hash, v1.id)  # ours, merged after a crash or failed call
    session.cursor = v1.id
    return record


def _own_message_back(
    session: GroupSession, v1: mls_pb2.GroupMessage.V1, payload_hash: bytes
) -> MessageRecord | None:
    """Our own message, as the node has it: published, unless it came after so many commits that members
    cannot read it any more (its epoch is more than ``max_past_epochs`` behind theirs here): then it stays
    unpublished, and is encrypted for the current epoch and published again."""
    store = session.ctx.store
    own = store.message_by_payload(payload_hash)
    session.cursor = v1.id
    core = session.core
    if (
        own is not None
        and own.delivery_status is not DeliveryStatus.PUBLISHED
        and not readable_at(v1.data, core.epoch, core.group.config.max_past_epochs)
    ):
        log.info(
            "group %s: our message %s (node id %d) came after its epoch had passed; publishing it again",
            session.group_id.hex(),
            own.message_id.hex(),
            v1.id,
        )
        session.publish_due = True
        return None
    store.mark_published(payload_hash, v1.id, v1.created_ns)
    return store.message_by_payload(payload_hash)


def _without_identities(
    session: GroupSession, v1: mls_pb2.GroupMessage.V1, needed: IdentityNeeded, now: int
) -> MessageRecord | None:
    """A message whose checks need identity logs the node does not have (fetched already): passed over,
    unless it is a commit that removes us, which is merged on MLS's word (and the remove-member policy) so
    that the removal is noticed."""
    session.cursor = v1.id
    group = session.group_id.hex()
    try:
        merged = session.core.merge_removal(v1.data, now=now)
    except MLSError as exc:
        log.warning("group %s message %d passed over: %s", group, v1.id, exc)
        return None
    if merged is None:
        log.warning(
            "group %s message %d passed over: the identity logs it needs are not on the node (%s)",
            group,
            v1.id,
            ", ".join(sorted(needed.wanted)),
        )
        return None
    log.warning(
        "group %s message %d removes us; merged without the checks that need identity logs the node lacks",
        group,
        v1.id,
    )
    if merged.group_updated is None or merged.committer is None:
        return None
    return transcript_entry(session, v1, merged.group_updated, merged.committer)


def _note_leave_request(session: GroupSession, record: MessageRecord) -> None:
    """A member's leave request (``xmtp.org/leave_request``): every member records it (libxmtp's
    ``pending_remove`` table), so that the commit removing the member shows it as left, and a super admin's
    client carries it out (:mod:`.leave`). Decision: one in a DM is only a message (a DM cannot be left)."""
    content_type = content_fields(record.content).content_type
    if content_type is None or not content_type.same_type(LEAVE_REQUEST):
        return
    if session.conversation_type is not ConversationType.GROUP:
        return
    store = session.ctx.store
    store.add_pending_removal(session.group_id, record.sender_inbox_id, record.message_id)
    if record.sender_inbox_id == session.ctx.inbox_id:  # sent by another installation of ours
        store.set_leave_requested(session.group_id, record.message_id, record.sent_ns)


def _with_left(session: GroupSession, content: bytes) -> bytes:
    """A commit's entry with the removed inboxes that had asked to leave moved to ``left_inboxes`` (as libxmtp
    builds it), and those inboxes' leave requests forgotten: they are out."""
    store = session.ctx.store
    pending = set(store.pending_removals(session.group_id))
    if not pending:
        return content
    codec = GroupUpdatedCodec()
    try:
        update = codec.decode(EncodedContent.from_bytes(content))
    except ContentDecodeError:  # pragma: no cover - made by this client
        return content
    store.delete_pending_removals(session.group_id, update.removed_inboxes)
    left = tuple(i for i in update.removed_inboxes if i in pending)
    if not left:
        return content
    update = replace(
        update,
        removed_inboxes=tuple(i for i in update.removed_inboxes if i not in pending),
        left_inboxes=tuple(sorted({*update.left_inboxes, *left})),
    )
    return codec.encode(update).to_bytes()


def transcript_entry(
    session: GroupSession, v1: mls_pb2.GroupMessage.V1, content: bytes, committer: Installation
) -> MessageRecord | None:
    """Store a commit's "group updated" entry (local only: its id is made from the group and the node's id)."""
    group_id = session.group_id
    content = _with_left(session, content)
    record = MessageRecord(
        transcript_entry_id(group_id, v1.id),
        group_id,
        v1.id,
        committer.inbox_id,
        committer.installation_key,
        v1.created_ns,
        content,
        DeliveryStatus.PUBLISHED,
        MessageKind.MEMBERSHIP_CHANGE,
        inserted_ns=session.ctx.clock_ns(),
    )
    return session.ctx.store.insert_message(record)
