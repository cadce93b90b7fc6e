"""A conversation of the client: syncing it from the node, sending into it, reading its messages.

Every group message is processed in the node's id order. Each one's outcome (the group's new state, the
cursor, the message it carried) is written in one store transaction. A message that is bad (it does not
decrypt, a commit that breaks a rule) is logged and passed over: the group is unchanged and the cursor moves on,
as libxmtp does, so one bad message cannot wedge a conversation.

Our own messages come back from the node too: they are recognised by the SHA-256 of their bytes (recorded
when sent, since MLS does not let a sender decrypt its own message) and only marked as published, unless they
arrived too late for members to read them: then they are published again (:mod:`.delivery`). Before a message is
encrypted, the conversation syncs, so it is encrypted for the newest epoch the node has.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pyxmtp.conversations.content import (
    ContentDecodeError,
    EncodedContent,
    UnknownContent,
    decode_content,
    encode_text,
)
from pyxmtp.conversations.conversation import CommitMerged, Conversation, Received
from pyxmtp.conversations.key_packages import validate_xmtp_key_package
from pyxmtp.conversations.membership import Installation
from pyxmtp.conversations.welcome_send import welcome_inputs
from pyxmtp.mls.errors import MLSError, ValidationError
from pyxmtp.mls.group.errors import OwnMessageError
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .api import ApiCallError
from .delivery import (
    MAX_CONTENT_BYTES,
    PUBLISH_ROUNDS,
    InactiveConversation,
    MessageNotPublished,
    MessageTooLarge,
    epoch_of,
    publish_unpublished,
    readable_at,
    store_outgoing,
)
from .identity import IdentityNeeded
from .store import DeliveryStatus, MessageRecord, Outgoing

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("pyxmtp.client")
T = TypeVar("T")


#: How often a commit of ours that lost to another one for the same epoch is made again.
COMMIT_ATTEMPTS = 3
#: Before sending, the tree is held against the identity logs if it was not in the last 5 s (as libxmtp).
INSTALLATION_CHECK_INTERVAL_NS = 5 * 10**9


class MembershipUpdateError(Exception):
    """A membership change cannot be made (an inbox without identity log, no usable key package)."""


class CommitConflict(Exception):
    """Our commit lost to another one for the same epoch; the group moved on without it (try again)."""


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
    EncodedContent bytes; ``delivery_status`` says whether the node has it (our own may not yet)."""

    message_id: bytes
    sender_inbox_id: str
    sender_installation: bytes
    sent_ns: int
    content: object
    encoded: bytes
    delivery_status: DeliveryStatus

    @property
    def published(self) -> bool:
        return self.delivery_status is DeliveryStatus.PUBLISHED

    @property
    def failed(self) -> bool:
        return self.delivery_status is DeliveryStatus.FAILED


class ClientConversation:
    """One conversation of a :class:`~pyxmtp.client.Client`."""

    def __init__(self, client: Client, conversation: Conversation, cursor: int) -> None:
        self.client = client
        self.conversation = conversation
        self.cursor = cursor
        self._installations_checked = 0  # when the tree was last held against the identity logs (ns)
        self._publish_due = False  # a message of ours came back too late to be read: publish it again
        # one operation at a time on this group (a stream, a sync and a send may run in different tasks)
        self._lock = asyncio.Lock()

    @property
    def group_id(self) -> bytes:
        return self.conversation.group_id

    @property
    def dm_peer(self) -> str | None:
        """In a DM, the other member's inbox id."""
        return self.conversation.dm_peer

    @property
    def is_active(self) -> bool:
        """False once a commit removed us: nothing more can be read or sent."""
        return self.conversation.is_active

    @property
    def name(self) -> str:
        return self.conversation.context.mutable.name

    def member_inbox_ids(self) -> list[str]:
        return self.conversation.member_inbox_ids()

    def __repr__(self) -> str:
        kind = self.conversation.conversation_type.name.lower()
        where = f"epoch {self.conversation.epoch}" if self.is_active else "left"
        return f"<ClientConversation {kind} {self.group_id.hex()} {where}>"

    # --- receiving ----------------------------------------------------------------------------------------
    async def sync(self) -> list[DecodedMessage]:
        """Process everything the node has after our cursor, then publish our messages it does not have yet
        (stored before a crash or a failed call, or arrived too late to be read) and read them back; the new
        messages, ours included, in order (none once we are removed: the group's later epochs are closed to us).
        Raises :class:`~.delivery.MessageNotPublished` if publishing fails (they stay stored)."""
        async with self._lock:
            return await self._flush()

    async def apply(self, v1: mls_pb2.GroupMessage.V1) -> DecodedMessage | None:
        """Process one message of this group from the node (the next in id order), and return the message it
        carried, if any. One at or below our cursor was processed already (by a sync, say): its stored message
        is returned, so a stream shows every message once whoever processed it."""
        async with self._lock:
            if v1.id <= self.cursor:
                return self.message_at(v1.id)
            decoded = await self._apply(v1)
            if self._publish_due:  # the messages this reads come through the stream too, after this one
                await self._flush()
            return decoded

    async def _flush(self) -> list[DecodedMessage]:
        """Sync to the node's end, then publish what of ours it does not have and read that back, up to
        :data:`~.delivery.PUBLISH_ROUNDS` times; the new messages, in order."""
        out = await self._sync()
        for _ in range(PUBLISH_ROUNDS):
            self._publish_due = False
            sent, _ = await publish_unpublished(self)
            if not sent:
                break
            out += await self._sync()
        return out

    async def _sync(self) -> list[DecodedMessage]:
        """Process the node's pages of messages; each page's outcome is written in one transaction (a page of
        100 costs one disk flush, not 100), cut short only where an identity log must be fetched first."""
        out: list[DecodedMessage] = []
        if not self.is_active:
            return out
        async for page in self.client.api.group_message_pages(self.group_id, self.cursor):
            pending = [m.v1 for m in page]
            fetched: set[str] = set()  # the identity logs fetched for pending[0]
            while pending:
                needed: IdentityNeeded | None = None
                # nothing awaits inside: no other task interleaves
                with self._consistent(), self.client.store.transaction():
                    while pending:
                        try:
                            decoded = self._apply_now(pending[0], fetched)
                        except IdentityNeeded as exc:
                            needed = exc
                            break
                        pending.pop(0)
                        fetched = set()
                        if decoded is not None:
                            out.append(decoded)
                    self._persist()
                if needed is not None:
                    fetched |= set(needed.wanted)
                    await self.client.identities.fetch(self.client.api, needed.wanted)
        if self.conversation.pending_commit is not None and self.is_active:
            # ours, stored before it was sent, and not on the node: the call failed before it got there, or the
            # process died first. Dropped, so that the next change can be made.
            log.info("group %s: our commit never reached the node; dropped", self.group_id.hex())
            self.conversation.discard_own_commit()
            with self.client.store.transaction():
                self._persist()
        return out

    async def _apply(self, v1: mls_pb2.GroupMessage.V1) -> DecodedMessage | None:
        """One message, in its own transaction (a stream's message, or one read while publishing a commit)."""
        fetched: set[str] = set()
        while True:  # each round fetches a log not fetched before, or gives up
            try:
                with self._consistent(), self.client.store.transaction():
                    decoded = self._apply_now(v1, fetched)
                    self._persist()
                return decoded
            except IdentityNeeded as needed:
                fetched |= set(needed.wanted)
                await self.client.identities.fetch(self.client.api, needed.wanted)

    def _apply_now(self, v1: mls_pb2.GroupMessage.V1, fetched: set[str]) -> DecodedMessage | None:
        """Process one message inside the caller's transaction (the group state is written by the caller).

        Raises only :class:`IdentityNeeded` naming a log not in ``fetched`` (those already fetched for this
        message): the caller fetches it and calls again. A message that needs a log the node does not have is
        passed over (or, if it removes us, merged on MLS's word: :meth:`_without_identities`), as is any bad
        message; the MLS layer leaves the group as it was (or with the message's key used up, which is what we
        want)."""
        if v1.id <= self.cursor or not self.is_active:
            return None
        store = self.client.store
        payload_hash = hashlib.sha256(v1.data).digest()
        if store.is_own_payload(payload_hash):
            return self._own_message_back(v1, payload_hash)
        now = self.client.clock_ns() // 10**9
        try:
            outcome = self.conversation.process(
                v1.data, now=now, states_for=self.client.identities.states_for
            )
        except IdentityNeeded as needed:
            if not set(needed.wanted) <= fetched:
                raise
            return self._without_identities(v1, needed, now)
        except MLSError as exc:
            # our own stale commits (a retried one lost its race) come back too: expected, not a warning
            level = logging.INFO if isinstance(exc, OwnMessageError) else logging.WARNING
            log.log(level, "group %s message %d passed over: %s", self.group_id.hex(), v1.id, exc)
            self.cursor = v1.id
            return None
        record = None
        if isinstance(outcome, Received):
            record = MessageRecord(
                outcome.message_id,
                self.group_id,
                v1.id,
                outcome.sender.inbox_id,
                outcome.sender.installation_key,
                v1.created_ns,
                outcome.encoded_content,
                DeliveryStatus.PUBLISHED,
            )
            if not store.add_message(record):
                record = None  # the same message id again (a resend): stored once
        elif isinstance(outcome, CommitMerged):
            log.info("group %s moved to epoch %d", self.group_id.hex(), outcome.epoch)
            if outcome.group_updated is not None and outcome.committer is not None:
                record = self._transcript_entry(v1, outcome.group_updated, outcome.committer)
        self.cursor = v1.id
        return None if record is None else self._decode(record)

    def _own_message_back(self, v1: mls_pb2.GroupMessage.V1, payload_hash: bytes) -> DecodedMessage | None:
        """Our own message, as the node has it: published, unless it came after so many commits that members
        cannot read it any more (its epoch is more than ``max_past_epochs`` behind theirs here): then it stays
        unpublished, and is encrypted for the current epoch and published again."""
        store = self.client.store
        own = store.message_by_payload(payload_hash)
        self.cursor = v1.id
        if (
            own is not None
            and own.delivery_status is not DeliveryStatus.PUBLISHED
            and not readable_at(
                v1.data, self.conversation.epoch, self.conversation.group.config.max_past_epochs
            )
        ):
            log.info(
                "group %s: our message %s (node id %d) came after its epoch had passed; publishing it again",
                self.group_id.hex(),
                own.message_id.hex(),
                v1.id,
            )
            self._publish_due = True
            return None
        store.mark_published(payload_hash, v1.id, v1.created_ns)
        own = store.message_by_payload(payload_hash)
        return None if own is None else self._decode(own)

    def _without_identities(
        self, v1: mls_pb2.GroupMessage.V1, needed: IdentityNeeded, now: int
    ) -> DecodedMessage | None:
        """A message whose checks need identity logs the node does not have (fetched already): passed over,
        unless it is a commit that removes us, which is merged on MLS's word (and the remove-member policy) so
        that the removal is noticed."""
        self.cursor = v1.id
        try:
            merged = self.conversation.merge_removal(v1.data, now=now)
        except MLSError as exc:
            log.warning("group %s message %d passed over: %s", self.group_id.hex(), v1.id, exc)
            return None
        if merged is None:
            log.warning(
                "group %s message %d passed over: the identity logs it needs are not on the node (%s)",
                self.group_id.hex(),
                v1.id,
                ", ".join(sorted(needed.wanted)),
            )
            return None
        log.warning(
            "group %s message %d removes us; merged without the checks that need identity logs the node lacks",
            self.group_id.hex(),
            v1.id,
        )
        if merged.group_updated is None or merged.committer is None:
            return None
        record = self._transcript_entry(v1, merged.group_updated, merged.committer)
        return None if record is None else self._decode(record)

    def _transcript_entry(
        self, v1: mls_pb2.GroupMessage.V1, content: bytes, committer: Installation
    ) -> MessageRecord | None:
        """Store a commit's "group updated" entry (local only: its id is made from the group and the node's id)."""
        entry_id = hashlib.sha256(b"group_updated\x00" + self.group_id + v1.id.to_bytes(8, "big")).digest()
        record = MessageRecord(
            entry_id,
            self.group_id,
            v1.id,
            committer.inbox_id,
            committer.installation_key,
            v1.created_ns,
            content,
            DeliveryStatus.PUBLISHED,
        )
        return record if self.client.store.add_message(record) else None

    def _save(self, cursor: int) -> None:
        self.cursor = max(self.cursor, cursor)
        self._persist()

    @contextlib.contextmanager
    def _consistent(self) -> Iterator[None]:
        """If the block fails (the store cannot write, or a bug), go back to the group state and cursor the
        database has: processing used up keys in memory that must not be persisted without their messages."""
        try:
            yield
        except BaseException:
            record = self.client.store.conversation(self.group_id)
            if record is not None:
                self.conversation = Conversation.from_bytes(record.state, self.client.inbox_id)
                self.cursor = record.cursor
            raise

    def _persist(self) -> None:
        """Write the group state and the cursor (inside the caller's transaction)."""
        self.client.store.update_conversation(self.group_id, self.conversation.to_bytes(), self.cursor)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A store transaction that ends by writing the group state and the cursor (see :meth:`_consistent`)."""
        with self._consistent(), self.client.store.transaction():
            yield
            self._persist()

    # --- membership ---------------------------------------------------------------------------------------
    async def add_members(self, inbox_ids: Sequence[str]) -> None:
        """Add these inboxes (every installation their identity logs list) in one commit, and welcome them."""
        async with self._lock:
            await self._update_membership(add=inbox_ids)

    async def remove_members(self, inbox_ids: Sequence[str]) -> None:
        """Remove these inboxes (all their installations) in one membership commit."""
        membership = self.conversation.context.membership
        gone = set(inbox_ids)
        if not gone <= set(membership.members):
            raise MembershipUpdateError(f"not members: {sorted(gone - set(membership.members))}")
        if self.client.inbox_id in gone:
            raise MembershipUpdateError("a member cannot remove itself with a commit")
        async with self._lock:
            await self._update_membership(remove=inbox_ids)

    async def update_installations(self) -> bool:
        """Bring the tree in line with the members' identity logs, as libxmtp does before sending: add their new
        installations, remove revoked ones. Whether a commit was needed."""
        async with self._lock:
            return await self._update_membership(only_if_changed=True)

    async def _update_membership(
        self, *, add: Sequence[str] = (), remove: Sequence[str] = (), only_if_changed: bool = False
    ) -> bool:
        """See :meth:`_try_update_membership`; a commit that lost to another one is made again on the new epoch
        (as libxmtp re-creates its intent), up to :data:`COMMIT_ATTEMPTS` times."""
        if self.conversation.pending_commit is not None:  # an earlier one whose fate is open: settle it first
            await self._sync()
        for _ in range(COMMIT_ATTEMPTS - 1):
            try:
                return await self._try_update_membership(
                    add=add, remove=remove, only_if_changed=only_if_changed
                )
            except CommitConflict as exc:
                log.info("group %s: %s; trying again", self.group_id.hex(), exc)
        return await self._try_update_membership(add=add, remove=remove, only_if_changed=only_if_changed)

    async def _try_update_membership(
        self, *, add: Sequence[str] = (), remove: Sequence[str] = (), only_if_changed: bool = False
    ) -> bool:
        """One membership commit (libxmtp's ``update_group_membership``, 6.3): the inboxes in ``add`` join, those
        in ``remove`` leave, every member's sequence id moves to its latest identity update, installations the
        logs added are added (welcomed) and revoked ones removed. Installations whose key package is missing or
        invalid are listed in ``failed_installations`` and not tried again."""
        client = self.client
        self._installations_checked = client.clock_ns()
        membership = self.conversation.context.membership
        gone = set(remove)
        everyone = sorted((set(membership.members) | set(add)) - gone)
        await client.identities.fetch(client.api, everyone)
        members: dict[str, int] = {}
        wanted: list[tuple[str, bytes]] = []
        leaves = self.conversation.installations()
        present = {leaf.installation_key for leaf in leaves}
        old_failed = set(membership.failed_installations)
        current: set[bytes] = set()
        for inbox_id in everyone:
            state = client.identities.state(inbox_id)
            if state is None:
                raise MembershipUpdateError(f"inbox {inbox_id} has no identity log on the node")
            members[inbox_id] = client.identities.last_sequence_id(inbox_id)
            keys = state.installations()
            current.update(keys)
            wanted += [(inbox_id, key) for key in keys if key not in present and key not in old_failed]
        removed = [
            leaf.leaf_index
            for leaf in leaves
            if leaf.inbox_id in gone or leaf.installation_key not in current
        ]
        if only_if_changed and not wanted and not removed:
            return False
        now = client.clock_ns() // 10**9
        key_packages = await client.api.fetch_key_packages([key for _, key in wanted]) if wanted else []
        new: list[KeyPackage] = []
        failed = sorted(k for k in old_failed if k in current and k not in present)
        for (inbox_id, key), data in zip(wanted, key_packages, strict=True):
            try:
                kp_inbox, kp_key, verified = validate_xmtp_key_package(data, now)
                if (kp_inbox, kp_key) != (inbox_id, key):
                    raise ValidationError(f"the key package of {key.hex()} names {kp_inbox} / {kp_key.hex()}")
            except MLSError as exc:
                log.warning("installation %s of %s cannot be added: %s", key.hex(), inbox_id, exc)
                failed.append(key)
                continue
            new.append(verified.key_package)
        if add and wanted and not new:
            raise MembershipUpdateError("none of the installations to add has a usable key package")
        staged = self.conversation.commit_membership(
            members, add=new, remove=removed, failed=failed, rng=client.rng, now=now
        )
        commit_id = await self._publish_own_commit(staged.message)
        if staged.welcome is not None and new:
            await self._send_welcomes(staged.welcome, new, commit_id)
        return True

    async def update_metadata(self, **attributes: str) -> None:
        """Set mutable-metadata attributes (``group_name``, ``description``, ``group_image_url_square``, ...)."""
        async with self._lock:
            await self._update_metadata(attributes)

    async def _update_metadata(self, attributes: Mapping[str, str]) -> None:
        if self.conversation.pending_commit is not None:  # an earlier one whose fate is open: settle it first
            await self._sync()
        for attempt in range(COMMIT_ATTEMPTS):
            now = self.client.clock_ns() // 10**9
            staged = self.conversation.commit_metadata(attributes, rng=self.client.rng, now=now)
            try:
                await self._publish_own_commit(staged.message)
                return
            except CommitConflict:
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise

    async def update_name(self, name: str) -> None:
        await self.update_metadata(group_name=name)

    async def _publish_own_commit(self, data: bytes | None) -> int:
        """Send our pending commit and read the group until it comes back; merge it then. If another commit of
        this epoch came first, ours is discarded (:class:`CommitConflict`) after theirs is applied.

        The pending commit is stored with the group state before it is sent: if the call fails or the process
        dies, the next sync merges it if the node has it (the MLS layer knows its bytes) and drops it if not, so
        we never stay behind the epoch our own commit started."""
        assert data is not None
        mine = hashlib.sha256(data).digest()
        with self.client.store.transaction():
            self._persist()
        await self.client.api.send_group_messages(
            [mls_pb2.GroupMessageInput(v1=mls_pb2.GroupMessageInput.V1(data=data, should_push=False))]
        )
        async for message in self.client.api.group_messages_after(self.group_id, self.cursor):
            v1 = message.v1
            if hashlib.sha256(v1.data).digest() == mine:
                entry = self.conversation.merge_own_commit()
                me = Installation(
                    self.conversation.group.own_leaf_index, self.client.inbox_id, self.client.installation_id
                )
                with self.client.store.transaction():
                    if entry is not None:
                        self._transcript_entry(v1, entry, me)
                    self._save(v1.id)
                return v1.id
            if v1.is_commit and epoch_of(v1.data) == self.conversation.epoch:  # theirs, for our epoch: it won
                self.conversation.discard_own_commit()
                await self._apply(v1)
                raise CommitConflict(
                    "another commit of this epoch reached the node first; ours was discarded"
                )
            await self._apply(v1)
        raise CommitConflict("the node does not return our commit")  # pragma: no cover - read-your-writes

    async def _send_welcomes(self, welcome: bytes, key_packages: Sequence[KeyPackage], cursor: int) -> None:
        """Welcome the new installations (V1 welcomes, or a pointee and pointers for a larger batch), naming the
        commit's id as where to read the group from."""
        inputs = welcome_inputs(welcome, cursor, key_packages, self.client.rng)
        await self.client.api.send_welcome_messages(inputs)

    # --- sending ------------------------------------------------------------------------------------------
    async def send_text(self, text: str) -> bytes:
        """Send a text message; its message id."""
        content, should_push = encode_text(text)
        return await self.send(content, should_push=should_push)

    async def send(self, encoded_content: bytes, *, should_push: bool = True) -> bytes:
        """Send EncodedContent bytes; returns the message id once the node has the message.

        The conversation syncs first, so the message is encrypted for the newest epoch the node has. It is then
        stored (unpublished, with its MLS bytes) together with the group state that encrypted it, and published.
        If publishing fails, :class:`~.delivery.MessageNotPublished` says whether the message is kept to be
        published by the next sync, start-up or stream reconnect (under the same id: do not send it again) or
        was refused for good. :class:`~.delivery.MessageTooLarge` and :class:`~.delivery.InactiveConversation`
        are raised before anything is stored."""
        if len(encoded_content) > MAX_CONTENT_BYTES:
            raise MessageTooLarge(
                f"{len(encoded_content)} bytes of content; a node takes at most {MAX_CONTENT_BYTES}"
            )
        async with self._lock:
            return await self._send(encoded_content, should_push=should_push)

    async def _send(self, encoded_content: bytes, *, should_push: bool) -> bytes:
        client = self.client
        await self._sync()  # the newest epoch the node has
        if not self.is_active:
            raise InactiveConversation(f"we were removed from conversation {self.group_id.hex()}")
        if client.clock_ns() - self._installations_checked > INSTALLATION_CHECK_INTERVAL_NS:
            await self._update_membership(only_if_changed=True)
        sent_ns = client.clock_ns()
        mid = store_outgoing(self, encoded_content, Outgoing(None, str(sent_ns), should_push), sent_ns)
        try:  # any earlier one still unpublished goes first
            _, refused = await publish_unpublished(self)
        except MessageNotPublished as exc:
            raise MessageNotPublished(mid, DeliveryStatus.UNPUBLISHED, exc) from exc
        if mid in refused:
            raise MessageNotPublished(mid, DeliveryStatus.FAILED, refused[mid])
        try:  # read our write back (its id and the node's time); publish again if commits overtook it
            await self._flush()
        except ApiCallError as exc:  # the node has it: the next sync reads it back
            log.info("group %s: message %s sent, not read back yet: %s", self.group_id.hex(), mid.hex(), exc)
        return mid

    # --- reading ------------------------------------------------------------------------------------------
    def message_at(self, server_id: int) -> DecodedMessage | None:
        """The stored message the node gave id ``server_id`` (None: not a message, or not processed yet)."""
        record = self.client.store.message_by_server_id(self.group_id, server_id)
        return None if record is None else self._decode(record)

    def messages(self) -> list[DecodedMessage]:
        """Every message stored for this conversation, in the order sent (disappeared ones deleted first)."""
        self.delete_disappeared()
        return [self._decode(r) for r in self.client.store.messages(self.group_id)]

    @property
    def disappearing(self) -> tuple[int, int] | None:
        """``(from_ns, in_ns)`` if messages in this conversation disappear (see :meth:`delete_disappeared`)."""
        return self.conversation.context.mutable.disappearing if self.is_active else None

    def delete_disappeared(self) -> int:
        """Delete the messages whose time is up: sent at or after ``from_ns`` and more than ``in_ns`` ago, as
        libxmtp does; the database overwrites them (``secure_delete``). How many went."""
        setting = self.disappearing
        if setting is None:
            return 0
        start, duration = setting
        with self.client.store.transaction():
            return self.client.store.delete_messages_sent_between(
                self.group_id, start, self.client.clock_ns() - duration + 1
            )

    async def set_disappearing(self, from_ns: int, in_ns: int) -> None:
        """Make messages sent from ``from_ns`` on disappear ``in_ns`` after sending (0, 0: off), for everyone."""
        await self.update_metadata(message_disappear_from_ns=str(from_ns), message_disappear_in_ns=str(in_ns))

    def _decode(self, r: MessageRecord) -> DecodedMessage:
        try:
            content: object = decode_content(r.content)
        except ContentDecodeError as exc:  # a peer's malformed content: shown as unknown, not fatal
            log.warning("message %s of group %s: %s", r.message_id.hex(), self.group_id.hex(), exc)
            content = UnknownContent(EncodedContent(None, content=r.content))
        return DecodedMessage(
            r.message_id,
            r.sender_inbox_id,
            r.sender_installation,
            r.sent_ns,
            content,
            r.content,
            r.delivery_status,
        )

    def texts(self) -> list[str]:
        """The text messages only, in order (a convenience for bots and tests)."""
        return [m.content for m in self.messages() if isinstance(m.content, str)]
