"""The inbox's sync groups: found, created as libxmtp creates them, kept up to date, and written to.

A sync group is an MLS group of conversation type SYNC made by our inbox, whose only member is our inbox (all
its installations). libxmtp makes one per installation that starts without one, so an inbox has several; like
libxmtp, messages are sent to the *primary* one (the newest here: the one created or joined last) and read
from all of them.
"""

from __future__ import annotations

import logging

from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.conversations.new_group import group_extensions
from pyxmtp.proto.device_sync import content_pb2

from .. import commits, delivery, receive
from ..errors import InactiveConversation, MessageNotPublished
from ..hub import ConversationHub
from ..records import DeliveryStatus, Outgoing
from ..session import GroupSession
from .content import encode

log = logging.getLogger("pyxmtp.client.device_sync")

#: The store's marker (cursor = 1) of a sync group whose arrival was handled (created here, or joined and the
#: new installation greeted: :meth:`~.manager.DeviceSync.sync_all_device_sync_groups`).
WELCOMED_PREFIX = "device_sync_welcomed/"


def sync_sessions(hub: ConversationHub) -> list[GroupSession]:
    """Every sync group held, newest (by local creation or join time) first."""
    found = [s for s in hub.sessions.all() if s.conversation_type is ConversationType.SYNC]
    found.sort(key=lambda s: (s.created_ns, s.group_id), reverse=True)
    return found


def primary(hub: ConversationHub) -> GroupSession | None:
    """The sync group messages go to: the newest one we are still in."""
    return next((s for s in sync_sessions(hub) if s.is_active), None)


async def other_installations(hub: ConversationHub, *, fetch: bool = True) -> list[bytes]:
    """Our inbox's installations but this one, as its identity log says now (``fetch``) or as the identity
    cache last saw it."""
    ctx = hub.ctx
    if fetch:
        await ctx.fetch_identities([ctx.inbox_id])
    state = ctx.identities.state(ctx.inbox_id)
    mine = [] if state is None else state.installations()
    return [key for key in mine if key != ctx.installation_id]


async def create(hub: ConversationHub) -> GroupSession:
    """A new sync group (libxmtp's ``create_and_insert(Sync, …)``): default policies, our inbox its only member
    inbox and every installation of ours its identity log lists added and welcomed; stored (without consent
    record) once the node has the commit."""
    ctx = hub.ctx
    extensions = group_extensions(ctx.inbox_id, rng=ctx.rng, kind=ConversationType.SYNC)
    now_ns = ctx.clock_ns()
    core = CoreConversation.create(extensions, ctx.signer, ctx.inbox_id, rng=ctx.rng, now=now_ns // 10**9)
    session = GroupSession(ctx, core, 0, created_ns=now_ns, added_by=ctx.inbox_id)
    try:
        async with session.lock:
            await commits.update_membership(session, add=[ctx.inbox_id])
    except BaseException:
        with ctx.store.transaction():
            ctx.store.delete_messages(core.group_id)
        raise
    session.joined_cursor = session.cursor
    with ctx.store.transaction():
        ctx.store.save_conversation(session.record())
        ctx.store.set_cursor(WELCOMED_PREFIX + core.group_id.hex(), 1)  # ours: no new installation to greet
    hub.sessions.add(session)
    hub.announce(session)
    log.info("created sync group %s", core.group_id.hex())
    return session


async def ensure(hub: ConversationHub) -> GroupSession:
    """The primary sync group, after processing waiting welcomes (one may be a newer sync group); created if
    there is none (what libxmtp's worker does at start)."""
    await hub.sync_welcomes()
    found = primary(hub)
    return found if found is not None else await create(hub)


async def send(session: GroupSession, content: content_pb2.DeviceSyncContent) -> bytes:
    """Send a sync-group message (never pushed) after adding any installation of ours the group lacks; its
    message id. :class:`~..errors.MessageNotPublished` if the node does not take it (it stays stored and goes
    with the next sync)."""
    ctx = session.ctx
    data = encode(content)
    async with session.lock:
        await receive.sync(session)
        if not session.is_active:
            raise InactiveConversation(f"we are not in sync group {session.group_id.hex()} any more")
        await ctx.fetch_identities([ctx.inbox_id])
        await commits.update_membership(session, only_if_changed=True)
        sent_ns = ctx.clock_ns()
        mid = delivery.store_outgoing(session, data, Outgoing(None, str(sent_ns), False), sent_ns)
        _, refused = await delivery.publish_unpublished(session)
        if mid in refused:
            raise MessageNotPublished(mid, DeliveryStatus.FAILED, refused[mid])
        await delivery.flush(session)
    return mid
