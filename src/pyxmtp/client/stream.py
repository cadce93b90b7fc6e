"""Live messages of every conversation of a client, as libxmtp's ``stream_all_messages``.

:func:`stream_all_messages` holds two node streams open: the installation's welcomes, and the group messages of
every active conversation (from each one's cursor, so nothing between the last sync and the stream is missed).
A welcome joins its conversation, and the group stream is re-opened with the new group added (the node's
subscription filters are fixed per call, as libxmtp does too). Every message is processed exactly as
:meth:`~pyxmtp.client.conversation.ClientConversation.sync` would, in id order, and yielded once with its
conversation, our own messages included (a bot answering everything should skip ``client.inbox_id``); one that
a concurrent sync processed first is yielded all the same. Every (re)connect also publishes our messages the node
does not have yet (:meth:`~pyxmtp.client.Client.publish_unpublished`), once the streams are open, so what that
reads comes through them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

import grpc

from pyxmtp.proto.mls.api.v1 import mls_pb2

from .api import ApiCallError, NodeApi
from .conversation import ClientConversation, DecodedMessage


class StreamSource(Protocol):
    """What a stream needs of the client."""

    @property
    def api(self) -> NodeApi: ...
    @property
    def installation_id(self) -> bytes: ...
    @property
    def welcome_cursor(self) -> int: ...
    def conversations(self) -> list[ClientConversation]: ...
    def conversation(self, group_id: bytes) -> ClientConversation | None: ...
    async def sync_welcomes(self) -> list[ClientConversation]: ...
    async def publish_unpublished(self) -> None: ...


log = logging.getLogger("pyxmtp.client")

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

_WELCOME = "welcome"
_GROUP = "group"
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


async def stream_all_messages(
    client: StreamSource, *, reconnect: bool = True
) -> AsyncIterator[tuple[ClientConversation, DecodedMessage]]:
    """Yield ``(conversation, message)`` for every new message until cancelled (see the module docstring).

    With ``reconnect`` (the default) a node that goes away (a restart, a lost connection, a slow reader cut
    off) is called again after a pause that doubles from :data:`RECONNECT_FIRST_WAIT` up to
    :data:`RECONNECT_MAX_WAIT`; the streams reopen from the cursors, so nothing is missed or repeated. Other
    failures, and every failure without ``reconnect``, end the iteration with :class:`ApiCallError`.
    """
    wait = RECONNECT_FIRST_WAIT
    while True:
        try:
            async for item in _session(client):
                wait = RECONNECT_FIRST_WAIT
                yield item
        except ApiCallError as exc:
            if not reconnect or exc.code not in RETRIED:
                raise
            log.info("stream interrupted (%s); reconnecting in %.1f s", exc, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_WAIT)


async def _session(client: StreamSource) -> AsyncIterator[tuple[ClientConversation, DecodedMessage]]:
    """One pair of node streams, until one of them fails."""
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    api = client.api

    def open_groups() -> asyncio.Task[None]:
        filters = [(c.group_id, c.cursor) for c in client.conversations() if c.is_active]
        return asyncio.create_task(_pump(_GROUP, api.subscribe_group_messages(filters), queue))

    welcomes = asyncio.create_task(
        _pump(_WELCOME, api.subscribe_welcomes(client.installation_id, client.welcome_cursor), queue)
    )
    groups = open_groups()
    try:
        await client.publish_unpublished()
        while True:
            kind, item = await queue.get()
            if kind == _FAILED:
                assert isinstance(item, Exception)
                raise item
            if kind == _WELCOME:
                joined = await client.sync_welcomes()
                for conversation in joined:
                    for message in await conversation.sync():
                        yield conversation, message
                if joined:
                    groups.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await groups
                    groups = open_groups()
                continue
            assert isinstance(item, mls_pb2.GroupMessage)
            target = client.conversation(item.v1.group_id)
            if target is None:
                continue
            # also when a sync got to it first: it is still part of this stream
            decoded = await target.apply(item.v1)
            if decoded is not None:
                yield target, decoded
    finally:
        for task in (welcomes, groups):
            task.cancel()
        for task in (welcomes, groups):
            with contextlib.suppress(asyncio.CancelledError):
                await task
