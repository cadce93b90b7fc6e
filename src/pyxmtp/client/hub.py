"""What a client's conversations share: :class:`ConversationHub`.

The hub holds the sessions of the conversations (one per group, shared by every handle and task), the message
decoder, the public handle of each session (a :class:`~.conversation.Group` or :class:`~.conversation.Dm`, made
by the factory the :class:`~.conversations.Conversations` collection gives it), and tells the streams of every
conversation created or joined, whoever created or joined it. Handles and streams hold the hub; none of them
holds the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyxmtp.conversations.conversation import Conversation as CoreConversation

from . import consent, delivery, receive, welcomes
from .context import ClientContext
from .messages import MessageDecoder
from .session import GroupSession, SessionCache

if TYPE_CHECKING:
    from .conversation import Conversation


class ConversationHub:
    """See the module docstring. ``factory(hub, session)`` makes the public handle of a session."""

    def __init__(
        self, ctx: ClientContext, factory: Callable[[ConversationHub, GroupSession], Conversation]
    ) -> None:
        self.ctx = ctx
        self.sessions = SessionCache(ctx)
        self.decoder = MessageDecoder(ctx.store, ctx.registry)
        self._factory = factory
        self._handles: dict[bytes, Conversation] = {}
        self._listeners: set[asyncio.Queue[GroupSession]] = set()
        self._welcomes = asyncio.Lock()  # one welcome walk at a time (streams and syncs may ask at once)
        #: told when a stream stored a message of a device-sync group (device sync then handles it)
        self.sync_listeners: list[Callable[[GroupSession], None]] = []

    def handle(self, session: GroupSession) -> Conversation:
        """The public handle of ``session`` (the same object each time)."""
        handle = self._handles.get(session.group_id)
        if handle is None or handle._session is not session:
            handle = self._handles[session.group_id] = self._factory(self, session)
        return handle

    # --- new conversations --------------------------------------------------------------------------------
    def listen(self) -> asyncio.Queue[GroupSession]:
        """A queue that receives every conversation created or joined from now on (until :meth:`unlisten`)."""
        queue: asyncio.Queue[GroupSession] = asyncio.Queue()
        self._listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[GroupSession]) -> None:
        self._listeners.discard(queue)

    def announce(self, session: GroupSession) -> None:
        """A conversation was created or joined: tell the listeners."""
        for queue in self._listeners:
            queue.put_nowait(session)

    def sync_message_arrived(self, session: GroupSession) -> None:
        """A stream stored a message of the sync group ``session``: tell the listeners."""
        for listener in list(self.sync_listeners):
            listener(session)

    async def sync_welcomes(self) -> list[GroupSession]:
        """Join the conversations of every new welcome (consent recorded as libxmtp does); each is announced."""

        def on_join(core: CoreConversation, readded: bool) -> None:
            # added back after we had asked to leave: our request is over (libxmtp: PendingRemove -> Allowed)
            after_leave_request = readded and self.ctx.store.clear_leave_request(core.group_id)
            if readded:
                self.ctx.store.delete_pending_removals(core.group_id, [self.ctx.inbox_id])
            consent.on_joined(self.ctx, self.sessions, core, readded, after_leave_request=after_leave_request)

        async with self._welcomes:
            joined = await welcomes.sync_welcomes(self.ctx, self.sessions, on_join)
        for session in joined:
            self.announce(session)
        return joined

    def has_unsent(self) -> bool:
        """Whether messages of ours, or welcomes our merged commits owe, wait to be sent (a crash, a failed
        call)."""
        store = self.ctx.store
        return bool(store.groups_with_unpublished() or store.groups_owing_welcomes())

    async def publish_unpublished(self) -> None:
        """Sync every conversation that has messages of ours the node does not have yet (stored before a crash,
        a failed call, or sent optimistically), which publishes them, and send the welcomes our merged commits
        still owe. :class:`~.errors.MessageNotPublished` if the node still cannot be reached (they stay stored;
        welcomes not sent are logged, and the next sync sends them)."""
        for group_id in self.ctx.store.groups_owing_welcomes():
            session = self.sessions.get(group_id)
            if session is not None:
                async with session.lock:  # settles a pending commit of ours, then sends what it owes
                    await receive.sync(session)
        for group_id in self.ctx.store.groups_with_unpublished():
            session = self.sessions.get(group_id)
            if session is not None:
                async with session.lock:
                    await delivery.flush(session)
