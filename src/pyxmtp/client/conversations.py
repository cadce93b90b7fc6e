"""A client's conversations (node-sdk's ``Conversations``): syncing, listing, finding, creating, streaming.

Lists and streams leave out libxmtp's device-sync groups (an inbox's private channel between its
installations), and by default the conversations we denied (:mod:`.consent`). A conversation is created (a DM
or a group) only once its members are added and welcomed: a creation that fails leaves nothing behind; an
optimistic group (:meth:`Conversations.create_group_optimistic`) is only stored, and reaches the node with its
first change of members.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType, parse_mutable_metadata
from pyxmtp.conversations.key_packages import GROUP_MUTABLE_METADATA
from pyxmtp.conversations.new_group import (
    ADMIN_ONLY_POLICIES,
    DEFAULT_POLICIES,
    dm_extensions,
    group_extensions,
    mutable_metadata_extension,
    with_extension,
)
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.messages.extensions import Extension, find_extension
from pyxmtp.proto.mls.message_contents import group_permissions_pb2

from . import commits, consent, streams
from .api import ApiCallError
from .consent import ConsentState
from .context import ClientContext
from .conversation import Conversation, DisappearingSettings, HmacKey
from .dm import Dm
from .errors import MembershipUpdateError
from .group import Group
from .handover import Handover
from .hub import ConversationHub
from .members import Identifier, inbox_ids_for
from .messages import DecodedMessage
from .records import DeliveryStatus
from .restored import RestoredConversation
from .session import GroupSession
from .streams import Stream

log = logging.getLogger("pyxmtp.client")


class ListOrder(Enum):
    """How :meth:`Conversations.list` orders: oldest created first, or most recently active first."""

    CREATED_AT = "created_at"
    LAST_ACTIVITY = "last_activity"


class GroupPermissionsPreset(StrEnum):
    """libxmtp's permission presets for a new group."""

    DEFAULT = (
        "default"  # anyone adds, admins remove, metadata open, super admins change admins and permissions
    )
    ADMIN_ONLY = "admin_only"  # admins add, remove and edit metadata


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """What :meth:`Conversations.sync_all` did: how many conversations it was to sync, how many it synced."""

    eligible: int
    synced: int


def _handle(hub: ConversationHub, session: GroupSession) -> Conversation:
    if session.conversation_type is ConversationType.DM:
        return Dm(hub, session)
    return Group(hub, session)


def _conversation_id(conversation_id: str | bytes) -> bytes | None:
    if isinstance(conversation_id, bytes):
        return conversation_id
    try:
        return bytes.fromhex(conversation_id)
    except ValueError:
        return None


def _with_attributes(extensions: tuple[Extension, ...], attributes: dict[str, str]) -> tuple[Extension, ...]:
    """A new conversation's extensions with more mutable-metadata attributes (disappearing settings)."""
    if not attributes:
        return extensions
    mutable = parse_mutable_metadata(extensions)
    merged = {**mutable.attributes, **attributes}
    assert find_extension(extensions, GROUP_MUTABLE_METADATA) is not None
    return with_extension(
        extensions, mutable_metadata_extension(merged, mutable.admins, mutable.super_admins)
    )


def _disappearing(settings: DisappearingSettings | None) -> dict[str, str]:
    if settings is None:
        return {}
    return {
        "message_disappear_from_ns": str(settings.from_ns),
        "message_disappear_in_ns": str(settings.in_ns),
    }


class Conversations:
    """Every conversation of one client (see the module docstring); ``client.conversations``."""

    def __init__(self, ctx: ClientContext) -> None:
        self._ctx = ctx
        self.hub = ConversationHub(ctx, _handle)

    @property
    def topic(self) -> str:
        """The installation's welcome topic (for push-notification servers)."""
        return f"/xmtp/mls/1/w-{self._ctx.installation_id.hex()}/proto"

    def _wrap(self, session: GroupSession) -> Conversation:
        return self.hub.handle(session)

    def _listed(self, session: GroupSession) -> bool:
        return session.conversation_type in (ConversationType.GROUP, ConversationType.DM)

    # --- syncing ------------------------------------------------------------------------------------------
    async def sync(self) -> list[Conversation]:
        """Process every welcome that arrived since the last call; the conversations joined, in order.

        A welcome that cannot be used (not for a key package of ours any more, tampered, a tree that does not
        match the identity logs, a DM that is not one, a conversation we hold already) is logged and skipped;
        the cursor moves past it either way, as libxmtp does."""
        return [self._wrap(s) for s in await self.hub.sync_welcomes() if self._listed(s)]

    async def sync_all(self, consent_states: Sequence[ConsentState] | None = None) -> SyncSummary:
        """Welcomes, then every active conversation of these consent states (allowed and unknown by default).
        A conversation that cannot be synced now (the node away) is logged and counted out; the others go on."""
        await self.hub.sync_welcomes()
        eligible = [
            c for c in self.list(consent_states=consent_states, include_duplicate_dms=True) if c.is_active
        ]
        synced = 0
        for conversation in eligible:
            try:
                await conversation.sync()
            except (ApiCallError, MLSError) as exc:
                log.warning("conversation %s not synced: %s", conversation.id, exc)
                continue
            synced += 1
        return SyncSummary(len(eligible), synced)

    # --- listing and finding ------------------------------------------------------------------------------
    def list(
        self,
        *,
        consent_states: Sequence[ConsentState] | None = None,
        conversation_type: ConversationType | None = None,
        created_after_ns: int | None = None,
        created_before_ns: int | None = None,
        limit: int | None = None,
        order_by: ListOrder = ListOrder.CREATED_AT,
        include_duplicate_dms: bool = False,
    ) -> list[Conversation]:
        """The conversations, removed ones included (``is_active`` false), filtered (bounds exclusive; consent
        allowed and unknown by default), with only the most recently active DM per peer unless
        ``include_duplicate_dms``."""
        states = consent.states_filter(consent_states)
        consents = consent.conversation_states(self._ctx)
        last = self._ctx.store.last_message_ns()
        kept = [
            s
            for s in self.hub.sessions.all()
            if self._listed(s)
            and (conversation_type is None or s.conversation_type is conversation_type)
            and (created_after_ns is None or s.created_ns > created_after_ns)
            and (created_before_ns is None or s.created_ns < created_before_ns)
            and consents.get(s.group_id, ConsentState.UNKNOWN) in states
        ]

        def activity(s: GroupSession) -> tuple[int, bytes]:
            return (max(last.get(s.group_id, 0), s.created_ns), s.group_id)

        if not include_duplicate_dms:
            latest: dict[str, GroupSession] = {}
            for s in kept:
                peer = s.core.dm_peer if s.conversation_type is ConversationType.DM else None
                if peer is not None and (peer not in latest or activity(s) > activity(latest[peer])):
                    latest[peer] = s
            kept = [
                s
                for s in kept
                if s.conversation_type is not ConversationType.DM or latest.get(s.core.dm_peer or "") is s
            ]
        if order_by is ListOrder.LAST_ACTIVITY:
            kept.sort(key=activity, reverse=True)
        if limit is not None:
            kept = kept[: max(0, limit)]
        return [self._wrap(s) for s in kept]

    def list_groups(self, **options: object) -> builtins.list[Group]:
        """:meth:`list` of the groups only (same options but ``conversation_type``)."""
        found = self.list(conversation_type=ConversationType.GROUP, **options)  # type: ignore[arg-type]
        return [c for c in found if isinstance(c, Group)]

    def list_dms(self, **options: object) -> builtins.list[Dm]:
        """:meth:`list` of the DMs only (same options but ``conversation_type``)."""
        found = self.list(conversation_type=ConversationType.DM, **options)  # type: ignore[arg-type]
        return [c for c in found if isinstance(c, Dm)]

    def get_conversation_by_id(self, conversation_id: str | bytes) -> Conversation | None:
        """The conversation with this id (hex or bytes) held in the database, or None."""
        group_id = _conversation_id(conversation_id)
        session = None if group_id is None else self.hub.sessions.get(group_id)
        return None if session is None or not self._listed(session) else self._wrap(session)

    def get_message_by_id(self, message_id: str | bytes) -> DecodedMessage | None:
        """The stored message with this id (hex or bytes), enriched, or None."""
        mid = _conversation_id(message_id)
        record = None if mid is None else self._ctx.store.message(mid)
        return None if record is None else self.hub.decoder.enriched_one(record)

    def get_dm_by_inbox_id(self, inbox_id: str) -> Dm | None:
        """The active DM with ``inbox_id`` (the most recently active, if several), or None. Only a DM whose members
        are exactly us and ``inbox_id`` counts (every DM joined is checked so; this also holds for a database
        written before that check)."""
        found = [
            d
            for d in self.list_dms(consent_states=list(ConsentState), include_duplicate_dms=True)
            if d.is_active
            and d.peer_inbox_id == inbox_id
            and set(d.member_inbox_ids()) == {self._ctx.inbox_id, inbox_id}
        ]
        last = self._ctx.store.last_message_ns()
        found.sort(key=lambda d: (max(last.get(d.group_id, 0), d.created_at_ns), d.group_id))
        return found[-1] if found else None

    async def fetch_dm_by_identifier(self, identifier: Identifier) -> Dm | None:
        """The DM with the inbox of ``identifier`` (looked up on the node), or None."""
        inbox_id = next(iter((await inbox_ids_for(self._ctx.api, [identifier])).values()))
        return None if inbox_id is None else self.get_dm_by_inbox_id(inbox_id)

    def list_restored(
        self,
        *,
        consent_states: Sequence[ConsentState] | None = None,
        conversation_type: ConversationType | None = None,
    ) -> builtins.list[RestoredConversation]:
        """The conversations restored from archives and not joined yet (read-only, see :mod:`.restored`), oldest
        first, of these consent states (allowed and unknown by default)."""
        states = consent.states_filter(consent_states)
        consents = consent.conversation_states(self._ctx)
        out = []
        for record in self._ctx.store.restored_all():
            handle = RestoredConversation(self.hub, record)
            if (conversation_type is None or handle.conversation_type is conversation_type) and consents.get(
                record.group_id, ConsentState.UNKNOWN
            ) in states:
                out.append(handle)
        return out

    def get_restored_by_id(self, conversation_id: str | bytes) -> RestoredConversation | None:
        """The restored conversation with this id (hex or bytes), or None (never restored, or joined since:
        :meth:`get_conversation_by_id` has it then)."""
        group_id = _conversation_id(conversation_id)
        record = None if group_id is None else self._ctx.store.restored(group_id)
        return None if record is None else RestoredConversation(self.hub, record)

    def hmac_keys(self) -> dict[str, builtins.list[HmacKey]]:
        """Every conversation's sender-HMAC keys (previous, current and next HMAC epoch), by conversation id."""
        return {c.id: c.hmac_keys() for c in self.list(consent_states=list(ConsentState))}

    # --- creating -----------------------------------------------------------------------------------------
    async def create_dm(self, inbox_id: str, *, disappearing: DisappearingSettings | None = None) -> Dm:
        """The DM with ``inbox_id``: the existing one (:meth:`get_dm_by_inbox_id`), else a new one with every
        installation of both inboxes (libxmtp's ``find_or_create_dm``)."""
        existing = self.get_dm_by_inbox_id(inbox_id)
        if existing is not None:
            return existing
        return await self.new_dm(inbox_id, disappearing=disappearing)

    async def new_dm(self, inbox_id: str, *, disappearing: DisappearingSettings | None = None) -> Dm:
        """A new DM with ``inbox_id``, even if one exists (libxmtp then keeps both; lists show the more recently
        active one)."""
        if inbox_id == self._ctx.inbox_id:
            raise MembershipUpdateError("a DM is with another inbox")
        extensions = _with_attributes(
            dm_extensions(self._ctx.inbox_id, inbox_id, rng=self._ctx.rng), _disappearing(disappearing)
        )
        dm = await self._create(extensions, [inbox_id])
        assert isinstance(dm, Dm)
        return dm

    async def create_dm_with_identifier(
        self, identifier: Identifier, *, disappearing: DisappearingSettings | None = None
    ) -> Dm:
        """:meth:`create_dm` with the inbox of ``identifier``; :class:`MembershipUpdateError` if it has none."""
        inbox_id = next(iter((await inbox_ids_for(self._ctx.api, [identifier])).values()))
        if inbox_id is None:
            raise MembershipUpdateError(f"{identifier} has no inbox")
        return await self.create_dm(inbox_id, disappearing=disappearing)

    def _group_extensions(
        self,
        *,
        name: str,
        description: str,
        image_url: str,
        app_data: str,
        permissions: GroupPermissionsPreset | group_permissions_pb2.PolicySet,
        disappearing: DisappearingSettings | None,
    ) -> tuple[Extension, ...]:
        if isinstance(permissions, group_permissions_pb2.PolicySet):
            policies = permissions
        else:
            preset = GroupPermissionsPreset(permissions)
            policies = (
                ADMIN_ONLY_POLICIES if preset is GroupPermissionsPreset.ADMIN_ONLY else DEFAULT_POLICIES
            )
        extensions = group_extensions(
            self._ctx.inbox_id,
            rng=self._ctx.rng,
            name=name,
            description=description,
            image_url=image_url,
            app_data=app_data,
            policies=policies,
        )
        return _with_attributes(extensions, _disappearing(disappearing))

    async def create_group(
        self,
        inbox_ids: Sequence[str],
        *,
        name: str = "",
        description: str = "",
        image_url: str = "",
        app_data: str = "",
        permissions: GroupPermissionsPreset
        | group_permissions_pb2.PolicySet = GroupPermissionsPreset.DEFAULT,
        disappearing: DisappearingSettings | None = None,
    ) -> Group:
        """A new group with us as super admin and ``inbox_ids`` as members."""
        extensions = self._group_extensions(
            name=name,
            description=description,
            image_url=image_url,
            app_data=app_data,
            permissions=permissions,
            disappearing=disappearing,
        )
        group = await self._create(extensions, list(inbox_ids))
        assert isinstance(group, Group)
        return group

    async def create_group_with_identifiers(
        self,
        identifiers: Sequence[Identifier],
        *,
        name: str = "",
        description: str = "",
        image_url: str = "",
        app_data: str = "",
        permissions: GroupPermissionsPreset
        | group_permissions_pb2.PolicySet = GroupPermissionsPreset.DEFAULT,
        disappearing: DisappearingSettings | None = None,
    ) -> Group:
        """:meth:`create_group` with the inboxes of these identifiers; :class:`MembershipUpdateError` if one has
        no inbox."""
        found = await inbox_ids_for(self._ctx.api, identifiers)
        missing = [key for key, inbox in found.items() if inbox is None]
        if missing:
            raise MembershipUpdateError(f"no inbox for {missing}")
        inbox_ids = [inbox for inbox in found.values() if inbox is not None]
        return await self.create_group(
            inbox_ids,
            name=name,
            description=description,
            image_url=image_url,
            app_data=app_data,
            permissions=permissions,
            disappearing=disappearing,
        )

    def create_group_optimistic(
        self,
        *,
        name: str = "",
        description: str = "",
        image_url: str = "",
        app_data: str = "",
        permissions: GroupPermissionsPreset
        | group_permissions_pb2.PolicySet = GroupPermissionsPreset.DEFAULT,
        disappearing: DisappearingSettings | None = None,
    ) -> Group:
        """A new group of one (us), stored without calling the node; members added later join it as in any
        group. Messages sent meanwhile (optimistically) are stored and published by
        :meth:`~.conversation.Conversation.publish_messages` or the next sync, encrypted for the epoch the group
        is in then: members added before that read them too."""
        ctx = self._ctx
        extensions = self._group_extensions(
            name=name,
            description=description,
            image_url=image_url,
            app_data=app_data,
            permissions=permissions,
            disappearing=disappearing,
        )
        now_ns = ctx.clock_ns()
        core = CoreConversation.create(extensions, ctx.signer, ctx.inbox_id, rng=ctx.rng, now=now_ns // 10**9)
        session = GroupSession(ctx, core, 0, created_ns=now_ns, added_by=ctx.inbox_id)
        return self._store(session)  # type: ignore[return-value]

    async def _create(self, extensions: tuple[Extension, ...], inbox_ids: Sequence[str]) -> Conversation:
        """A new conversation, stored only once its members are added and welcomed: a creation that fails (an
        inbox without identity log, the node unreachable) or is cut short leaves nothing behind."""
        ctx = self._ctx
        now_ns = ctx.clock_ns()
        core = CoreConversation.create(extensions, ctx.signer, ctx.inbox_id, rng=ctx.rng, now=now_ns // 10**9)
        group_id = core.group_id
        # its state writes touch no row until it is saved
        session = GroupSession(ctx, core, 0, created_ns=now_ns, added_by=ctx.inbox_id)
        try:
            async with session.lock:
                await commits.update_membership(session, add=inbox_ids)
        except BaseException:
            # the commit's "group updated" entry, if it got that far, and any leave-request row
            ctx.store.delete_local_conversation_rows(group_id)
            raise
        return self._store(session)

    def _store(self, session: GroupSession) -> Conversation:
        ctx = self._ctx
        session.joined_cursor = session.cursor
        with ctx.store.transaction():
            ctx.store.save_conversation(session.record())
            consent.on_created(ctx, session.group_id)
        self.hub.sessions.add(session)
        self.hub.announce(session)
        return self._wrap(session)

    # --- our messages the node does not have yet ------------------------------------------------------------
    def unpublished(self) -> builtins.list[DecodedMessage]:
        """Our messages stored but not yet published (:attr:`~.records.DeliveryStatus.UNPUBLISHED`: sent
        optimistically, or kept after a failed call), in the order they were sent."""
        out: builtins.list[DecodedMessage] = []
        for group_id in self._ctx.store.groups_with_unpublished():
            conversation = self.get_conversation_by_id(group_id)
            if conversation is not None:
                out += conversation.messages(
                    delivery_status=DeliveryStatus.UNPUBLISHED, exclude_content_types=()
                )
        return out

    async def publish_unpublished(self) -> None:
        """Sync every conversation that has messages of ours the node does not have yet, which publishes them.
        :class:`~.errors.MessageNotPublished` if the node still cannot be reached (they stay stored)."""
        await self.hub.publish_unpublished()

    # --- streams ------------------------------------------------------------------------------------------
    def stream(
        self, *, conversation_type: ConversationType | None = None, reconnect: bool = True
    ) -> Stream[Conversation]:
        """Conversations joined or created from now on (those waiting in welcomes too), live."""

        def keep(session: GroupSession) -> bool:
            return self._listed(session) and (
                conversation_type is None or session.conversation_type is conversation_type
            )

        return Stream(streams.new_conversations(self.hub, keep, reconnect=reconnect), name="conversations")

    def stream_groups(self, *, reconnect: bool = True) -> Stream[Conversation]:
        return self.stream(conversation_type=ConversationType.GROUP, reconnect=reconnect)

    def stream_dms(self, *, reconnect: bool = True) -> Stream[Conversation]:
        return self.stream(conversation_type=ConversationType.DM, reconnect=reconnect)

    def stream_all_messages(
        self,
        *,
        conversation_type: ConversationType | None = None,
        consent_states: Sequence[ConsentState] | None = None,
        reconnect: bool = True,
        consumer: str | None = None,
    ) -> Stream[DecodedMessage]:
        """Every new message of every conversation, ours included (a bot answering everything should skip
        ``client.inbox_id``), live and across node restarts unless ``reconnect`` is false (see
        :mod:`.streams`): those of conversations of ``conversation_type`` and of these consent states (allowed
        and unknown by default). It hands out every message this client has not processed yet, including those
        that arrived while it was offline.

        ``consumer`` names the reader (one live stream at a time per name, else :class:`~.errors.ConsumerBusy`;
        no ``/``): the stream first hands out what
        an earlier stream of that name processed and stored but never got handed over, or handed out without the
        reader being done with it (it closed, or the process died; :mod:`.handover`): across a stop and start the
        reader gets every message once."""
        states = consent.states_filter(consent_states)
        ctx = self._ctx

        def keep(session: GroupSession) -> bool:
            return (
                self._listed(session)
                and (conversation_type is None or session.conversation_type is conversation_type)
                and consent.conversation_state(ctx, session.group_id) in states
            )

        handover = None if consumer is None else Handover(ctx.store, consumer)
        if handover is None:
            return Stream(streams.all_messages(self.hub, keep, reconnect=reconnect), name="all messages")
        handover.claim()
        try:
            return Stream(
                streams.all_messages(self.hub, keep, reconnect=reconnect, handover=handover),
                name="all messages",
                on_handled=handover.acknowledge,
                on_end=handover.release,
            )
        except BaseException:
            handover.release()
            raise

    def stream_all_group_messages(
        self, *, consent_states: Sequence[ConsentState] | None = None, reconnect: bool = True
    ) -> Stream[DecodedMessage]:
        return self.stream_all_messages(
            conversation_type=ConversationType.GROUP, consent_states=consent_states, reconnect=reconnect
        )

    def stream_all_dm_messages(
        self, *, consent_states: Sequence[ConsentState] | None = None, reconnect: bool = True
    ) -> Stream[DecodedMessage]:
        return self.stream_all_messages(
            conversation_type=ConversationType.DM, consent_states=consent_states, reconnect=reconnect
        )
