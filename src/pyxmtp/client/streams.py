"""Live streams: :class:`Stream`, an async iterator with :meth:`~Stream.close` that also works as ``async with``.

Every stream runs its work in a task of its own from the moment it is made: it holds the node's subscriptions
open, processes what arrives exactly as a sync would (each message stored before it is handed out) and queues
the results for the reader (at most :data:`BUFFER` ahead: a slow reader slows the stream down, nothing is
dropped). :meth:`Stream.close` ends it from any task, also while another task waits in ``async for``;
:meth:`Stream.wait_ready` waits until the node has the subscriptions in place.

A node that goes away (a restart, a lost connection, a slow reader cut off) is called again after a pause that
doubles from :data:`RECONNECT_FIRST_WAIT` up to :data:`RECONNECT_MAX_WAIT`; the subscriptions reopen from the
last message the stream handed out in each conversation, so nothing is missed or repeated, also when another
task synced the conversation meanwhile. Other failures end the stream: the reader gets the error.

The producers:

- :func:`all_messages`: every message of every conversation (welcomes join new ones, which are added to the
  subscription; so are conversations created or joined elsewhere in the client), filtered by conversation type
  and consent when handed out. Every (re)connect also publishes our messages the node does not have yet (and
  sends the welcomes our commits still owe). For a named consumer (:mod:`.handover`) it first hands out what an
  earlier stream of that name stored but the reader never finished with;
- :func:`conversation_messages`: one conversation's messages;
- :func:`new_conversations`: conversations joined from welcomes or created by this client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import grpc

from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.proto.mls.api.v1 import mls_pb2

from . import delivery, leave, receive
from .api import ApiCallError
from .handover import Handover
from .hub import ConversationHub
from .messages import DecodedMessage
from .records import MessageRecord
from .session import GroupSession
from .welcomes import WELCOME_CURSOR

if TYPE_CHECKING:
    from .conversation import Conversation

log = logging.getLogger("pyxmtp.client")

T = TypeVar("T")

#: How many items a stream keeps ready for a reader that lags behind.
BUFFER = 100
#: The first pause before calling a node again after a stream broke, and the longest.
RECONNECT_FIRST_WAIT = 0.5
RECONNECT_MAX_WAIT = 30.0
#: Stream failures worth reconnecting after (the node restarting or overloaded, a reader cut off as too slow).
RETRIED = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)


class StreamClosed(Exception):
    """Raised by :meth:`Stream.wait_ready` when the stream ended before it was ready."""


class _End:
    pass


_END = _End()
_NOTHING = object()


class Emitter(Generic[T]):
    """What a producer hands its items to."""

    def __init__(self, queue: asyncio.Queue[object], ready: asyncio.Event) -> None:
        self._queue = queue
        self._ready = ready

    async def emit(self, item: T) -> None:
        await self._queue.put(item)

    def ready(self) -> None:
        """The subscriptions are in place."""
        self._ready.set()


Producer = Callable[[Emitter[T]], Awaitable[None]]


class Stream(Generic[T]):
    """A live stream of ``T`` (see the module docstring)::

    async with client.conversations.stream_all_messages() as stream:
        async for message in stream:
            ...
    """

    def __init__(
        self,
        produce: Producer[T],
        *,
        name: str = "stream",
        on_handled: Callable[[T], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        """``on_handled``: called with each item the reader is done with; ``on_end``: once the stream's task
        ended (closed, failed or finished)."""
        self._queue: asyncio.Queue[object] = asyncio.Queue(BUFFER)
        self._ready = asyncio.Event()
        self._closed = False
        self._on_handled = on_handled
        self._handed: object = _NOTHING
        self._task = asyncio.get_running_loop().create_task(self._run(produce), name=f"pyxmtp {name}")
        self._on_end = on_end
        if on_end is not None:
            self._task.add_done_callback(lambda _task: on_end())

    async def _run(self, produce: Producer[T]) -> None:
        try:
            await produce(Emitter(self._queue, self._ready))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream failed: the reader gets the error
            await self._queue.put(exc)
        else:
            await self._queue.put(_END)

    def __aiter__(self) -> Stream[T]:
        return self

    def acknowledge(self) -> None:
        """The reader is done with the item last handed out. Asking for the next item does this too; a stream for
        a named consumer (:mod:`.handover`) hands out again, in the next stream of that name, what was handed out
        but not acknowledged."""
        item, self._handed = self._handed, _NOTHING
        if item is not _NOTHING and self._on_handled is not None:
            self._on_handled(item)  # type: ignore[arg-type]

    async def __anext__(self) -> T:
        self.acknowledge()
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self._closed = True
            self._queue.put_nowait(_END)  # every later call ends too
            raise StopAsyncIteration
        if isinstance(item, Exception):
            self._closed = True
            self._queue.put_nowait(_END)
            raise item
        self._handed = item
        return item  # type: ignore[return-value]

    @property
    def is_closed(self) -> bool:
        return self._closed or self._task.done()

    async def close(self) -> None:
        """End the stream: its task stops, a reader waiting in ``async for`` finishes its loop. Items processed
        and not yet read are dropped (they are stored: ``messages()`` has them, and the next stream of a named
        consumer hands them out: :mod:`.handover`)."""
        self._closed = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._on_end is not None:  # at once, not when the loop runs the task's callbacks
            self._on_end()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)

    async def wait_ready(self) -> None:
        """Wait until the node has the stream's subscriptions in place: anything sent from now on reaches it.
        :class:`StreamClosed` if it ended first."""
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not self._ready.is_set():
            raise StreamClosed("the stream ended before its subscriptions were in place")

    async def __aenter__(self) -> Stream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --- the producers --------------------------------------------------------------------------------------------
async def _reconnecting(connect: Callable[[], Awaitable[None]], reconnect: bool) -> None:
    """Run ``connect`` (one connection's worth of work) again after each retried failure, with backoff."""
    wait = RECONNECT_FIRST_WAIT
    while True:
        try:
            await connect()
            return
        except ApiCallError as exc:
            if not reconnect or exc.code not in RETRIED:
                raise
            log.info("stream interrupted (%s); reconnecting in %.1f s", exc, wait)
        await asyncio.sleep(wait)
        wait = min(wait * 2, RECONNECT_MAX_WAIT)


_WELCOME = "welcome"
_GROUP = "group"
_JOINED = "joined"
_FAILED = "failed"


async def _pump(kind: str, source: AsyncIterator[object], queue: asyncio.Queue[tuple[str, object]]) -> None:
    try:
        async for item in source:
            await queue.put((kind, item))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the stream ended with an error: hand it to the consumer, who raises it
        await queue.put((_FAILED, exc))
    else:  # the node ended a stream that should be endless: as good as a lost connection
        await queue.put((_FAILED, ApiCallError(f"the {kind} stream", grpc.StatusCode.UNAVAILABLE, "ended")))


async def _forward(hub_queue: asyncio.Queue[GroupSession], queue: asyncio.Queue[tuple[str, object]]) -> None:
    while True:
        session = await hub_queue.get()
        await queue.put((_JOINED, session))


async def _stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def receive_streamed(session: GroupSession, v1: mls_pb2.GroupMessage.V1) -> MessageRecord | None:
    """One message of a conversation's subscription, processed as a sync would; one at or below the cursor was
    processed already (by a sync, say): its stored message is returned, so a stream shows every message once,
    whoever processed it."""
    async with session.lock:
        if v1.id <= session.cursor:
            return session.ctx.store.message_by_server_id(session.group_id, v1.id)
        record = await receive.apply(session, v1)
        if session.publish_due:  # the messages this reads come through the stream too, after this one
            await delivery.flush(session)
        if leave.is_leave_request(record):  # a super admin carries it out at once (its commit streams after)
            await leave.carry_out(session)
        return record


MessageFilter = Callable[[GroupSession], bool]


def all_messages(
    hub: ConversationHub, keep: MessageFilter, *, reconnect: bool = True, handover: Handover | None = None
) -> Producer[DecodedMessage]:
    """Every new message of every conversation (see the module docstring); ``keep(session)`` says whether a
    conversation's messages are handed out (checked for each message: a consent change applies at once). With
    a ``handover`` (a named consumer), what was stored and not handed to it before comes first."""

    async def produce(out: Emitter[DecodedMessage]) -> None:
        seen: dict[bytes, int] = {}  # per group: the last node id handed out (or passed over)
        joined = hub.listen()
        try:
            await _reconnecting(lambda: _all_session(hub, keep, out, seen, joined, handover), reconnect)
        finally:
            hub.unlisten(joined)

    return produce


async def _hand_out(
    hub: ConversationHub,
    keep: MessageFilter,
    out: Emitter[DecodedMessage],
    record: MessageRecord,
    handover: Handover | None,
) -> None:
    session = hub.sessions.get(record.group_id)
    if session is not None and session.conversation_type is not ConversationType.SYNC and keep(session):
        if handover is not None:
            handover.handing(record)
        await out.emit(hub.decoder.enriched_one(record))


async def _hand_over_stored(
    hub: ConversationHub, keep: MessageFilter, out: Emitter[DecodedMessage], handover: Handover | None
) -> None:
    """Hand out the stored messages the consumer was never handed (:attr:`Handover.pending`)."""
    if handover is None:
        return
    pending = handover.pending
    while pending:
        group_id, after, upto = pending[0]
        for record in handover.stored(group_id, after, upto):
            await _hand_out(hub, keep, out, record, handover)
            pending[0] = (group_id, record.server_id or after, upto)  # a reconnect goes on from here
        pending.pop(0)


def _subscribed(session: GroupSession) -> bool:
    # sync groups too: their messages are not handed out, they wake device sync (as libxmtp's streams do)
    return session.is_active


async def _all_session(
    hub: ConversationHub,
    keep: MessageFilter,
    out: Emitter[DecodedMessage],
    seen: dict[bytes, int],
    joined: asyncio.Queue[GroupSession],
    handover: Handover | None,
) -> None:
    """One connection: the welcome and group subscriptions, until one of them fails."""
    ctx = hub.ctx
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    opened = [0]
    subscribed: set[bytes] = set()

    def on_open() -> None:
        opened[0] += 1
        if opened[0] >= 2:
            out.ready()

    def open_groups() -> asyncio.Task[None]:
        sessions = hub.sessions.all()
        active = [s for s in sessions if _subscribed(s)]  # sync groups too (see _subscribed)
        if handover is not None and not handover.started:  # the first connection: where the consumer left off
            handover.start(
                {s.group_id: s.cursor for s in sessions if s.conversation_type is not ConversationType.SYNC}
            )
        for session in active:
            seen.setdefault(session.group_id, session.cursor)
        filters = [(s.group_id, seen[s.group_id]) for s in active]
        subscribed.clear()
        subscribed.update(g for g, _ in filters)
        source = ctx.api.subscribe_group_messages(filters, on_open=on_open)
        return asyncio.create_task(_pump(_GROUP, source, queue))

    source = ctx.api.subscribe_welcomes(
        ctx.installation_id, ctx.store.cursor(WELCOME_CURSOR), on_open=on_open
    )
    welcomes = asyncio.create_task(_pump(_WELCOME, source, queue))
    groups = open_groups()
    forward = asyncio.create_task(_forward(joined, queue))
    try:
        await _hand_over_stored(hub, keep, out, handover)
        await hub.publish_unpublished()
        while True:
            kind, item = await _next_event(hub, queue)
            if kind == _JOINED:
                assert isinstance(item, GroupSession)
                if _subscribed(item) and item.group_id not in subscribed:
                    # from where we joined (or were added back): its messages all come through, also if another
                    # task synced it meanwhile
                    start = max(seen.get(item.group_id, 0), item.joined_cursor)
                    seen[item.group_id] = start
                    if handover is not None:
                        handover.joined(item.group_id, start)
                        await _hand_over_stored(hub, keep, out, handover)
                    await _stop(groups)
                    groups = open_groups()
                continue
            assert isinstance(item, mls_pb2.GroupMessage)
            v1 = item.v1
            session = hub.sessions.get(v1.group_id)
            if session is None or v1.id <= seen.get(v1.group_id, 0):
                continue
            record = await receive_streamed(session, v1)
            seen[v1.group_id] = v1.id
            if session.conversation_type is ConversationType.SYNC:
                hub.sync_message_arrived(session)
                continue
            if record is not None:
                await _hand_out(hub, keep, out, record, handover)
    finally:
        await _stop(welcomes, groups, forward)


async def _next_event(hub: ConversationHub, queue: asyncio.Queue[tuple[str, object]]) -> tuple[str, object]:
    """The next event of ``queue`` that is not a welcome announcement (each one syncs the welcomes: they come
    back as joined sessions); a pump's failure is raised."""
    while True:
        kind, item = await queue.get()
        if kind == _FAILED:
            assert isinstance(item, Exception)
            raise item
        if kind != _WELCOME:
            return kind, item
        await hub.sync_welcomes()


def conversation_messages(
    hub: ConversationHub, session: GroupSession, *, reconnect: bool = True
) -> Producer[DecodedMessage]:
    """One conversation's new messages (see the module docstring)."""

    async def produce(out: Emitter[DecodedMessage]) -> None:
        seen = [session.cursor]

        async def connect() -> None:
            source = hub.ctx.api.subscribe_group_messages([(session.group_id, seen[0])], on_open=out.ready)
            async for message in source:
                v1 = message.v1
                if v1.id <= seen[0]:
                    continue
                record = await receive_streamed(session, v1)
                seen[0] = v1.id
                if record is not None:
                    await out.emit(hub.decoder.enriched_one(record))
            raise ApiCallError("the group stream", grpc.StatusCode.UNAVAILABLE, "ended")

        await _reconnecting(connect, reconnect)

    return produce


ConversationFilter = Callable[[GroupSession], bool]


def new_conversations(
    hub: ConversationHub, keep: ConversationFilter, *, reconnect: bool = True
) -> Producer[Conversation]:
    """Conversations joined from welcomes or created by this client from now on, those ``keep`` accepts."""

    async def produce(out: Emitter[Conversation]) -> None:
        joined = hub.listen()
        try:
            await _reconnecting(lambda: _conversations_session(hub, keep, out, joined), reconnect)
        finally:
            hub.unlisten(joined)

    return produce


async def _conversations_session(
    hub: ConversationHub,
    keep: ConversationFilter,
    out: Emitter[Conversation],
    joined: asyncio.Queue[GroupSession],
) -> None:
    ctx = hub.ctx
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    source = ctx.api.subscribe_welcomes(
        ctx.installation_id, ctx.store.cursor(WELCOME_CURSOR), on_open=out.ready
    )
    welcomes = asyncio.create_task(_pump(_WELCOME, source, queue))
    forward = asyncio.create_task(_forward(joined, queue))
    try:
        await hub.sync_welcomes()
        while True:
            _, item = await _next_event(hub, queue)
            assert isinstance(item, GroupSession)
            if item.conversation_type is not ConversationType.SYNC and keep(item):
                await out.emit(hub.handle(item))
    finally:
        await _stop(welcomes, forward)
