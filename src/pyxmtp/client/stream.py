"""Live messages of every conversation of a client, as libxmtp's ``stream_all_messages``.

:func:`stream_all_messages` holds two node streams open: the installation's welcomes, and the group messages of
every active conversation (from each one's cursor, so nothing between the last sync and the stream is missed).
A welcome joins its conversation, and the group stream is re-opened with the new group added (the node's
subscription filters are fixed per call, as libxmtp does too). Every message is processed exactly as
:meth:`~pyxmtp.client.conversation.ClientConversation.sync` would, in id order, and yielded once with its
conversation, our own messages included (a bot answering everything should skip ``client.inbox_id``); one that
a concurrent sync processed first is yielded all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from pyxmtp.proto.mls.api.v1 import mls_pb2

from .conversation import ClientConversation, DecodedMessage

if TYPE_CHECKING:
    from .client import Client

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


async def stream_all_messages(client: Client) -> AsyncIterator[tuple[ClientConversation, DecodedMessage]]:
    """Yield ``(conversation, message)`` for every new message until cancelled (see the module docstring)."""
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
            decoded = await target.apply(
                item.v1
            )  # also when a sync got to it first: still part of this stream
            if decoded is not None:
                yield target, decoded
    finally:
        for task in (welcomes, groups):
            task.cancel()
        for task in (welcomes, groups):
            with contextlib.suppress(asyncio.CancelledError):
                await task
