"""In-process publish/subscribe of stored records to live subscriptions (event-loop only, no threads).

Topics are bytes, kind-prefixed as in XIP-83: ``0x00 || group_id`` and ``0x01 || installation_key``. The store's
listener publishes every committed record once, in commit order; each subscription has a backlog bounded in
messages and in bytes. A subscription that would go past either bound is dropped from the dispatcher, its
backlog let go at once, and marked overflowed (xmtp-node-go closes the channel the same way); its reader then
ends the stream with ABORTED, and the client resubscribes from the last id it has.

The bytes of a batch the reader has taken (:meth:`Subscription.next_batch`) count until it comes back for the
next one, so what a subscription holds -- its backlog and the batch being written -- stays within its byte bound,
plus one message when that message alone is bigger (an empty backlog takes any one message).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

GROUP_TOPIC = b"\x00"
WELCOME_TOPIC = b"\x01"


def group_topic(group_id: bytes) -> bytes:
    return GROUP_TOPIC + group_id


def welcome_topic(installation_key: bytes) -> bytes:
    return WELCOME_TOPIC + installation_key


class SubscriptionOverflow(Exception):
    """The subscriber fell more than its backlog (in messages or in bytes) behind."""


class SubscriptionClosed(Exception):
    """The dispatcher was shut down."""


class Subscription:
    """A live feed of ``(topic, id, payload)`` items for a fixed set of topics."""

    __slots__ = (
        "_event",
        "_items",
        "_taken_bytes",
        "backlog",
        "backlog_bytes",
        "closed",
        "held_bytes",
        "overflowed",
        "topics",
    )

    def __init__(self, topics: frozenset[bytes], backlog: int, backlog_bytes: int) -> None:
        self.topics = topics
        self.backlog = backlog
        self.backlog_bytes = backlog_bytes
        #: Payload bytes queued plus those of the batch the reader took last and may still be writing.
        self.held_bytes = 0
        self._taken_bytes = 0
        self._items: deque[tuple[bytes, int, bytes]] = deque()
        self._event = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def _push(self, item: tuple[bytes, int, bytes]) -> bool:
        """Queue ``item``; False (and overflowed, the backlog let go) if that would exceed a bound."""
        size = len(item[2])
        if len(self._items) >= self.backlog or (
            self.held_bytes and self.held_bytes + size > self.backlog_bytes
        ):
            self.overflowed = True
            self._items.clear()
            self.held_bytes = self._taken_bytes
            self._event.set()
            return False
        self._items.append(item)
        self.held_bytes += size
        self._event.set()
        return True

    def _close(self) -> None:
        self.closed = True
        self._event.set()

    def check(self) -> None:
        """Raise if the subscription can no longer deliver everything."""
        if self.overflowed:
            raise SubscriptionOverflow
        if self.closed:
            raise SubscriptionClosed

    async def next_batch(self) -> list[tuple[bytes, int, bytes]]:
        """Wait for and take every queued item (the previous batch is done with); once none is left, raise if
        overflowed or closed."""
        self.held_bytes -= self._taken_bytes
        self._taken_bytes = 0
        while not self._items:
            self.check()
            self._event.clear()
            await self._event.wait()
        items = list(self._items)
        self._items.clear()
        self._taken_bytes = self.held_bytes
        return items


class Dispatcher:
    def __init__(self, backlog: int = 1024, backlog_bytes: int = 8 * 1024 * 1024) -> None:
        self.backlog = backlog
        self.backlog_bytes = backlog_bytes
        self._by_topic: dict[bytes, set[Subscription]] = {}
        self._all: set[Subscription] = set()
        self._closed = False

    def subscribe(self, topics: Iterable[bytes]) -> Subscription:
        sub = Subscription(frozenset(topics), self.backlog, self.backlog_bytes)
        if self._closed:
            sub._close()
            return sub
        self._all.add(sub)
        for topic in sub.topics:
            self._by_topic.setdefault(topic, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._all.discard(sub)
        for topic in sub.topics:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_topic[topic]

    def has_subscribers(self, topic: bytes) -> bool:
        return topic in self._by_topic

    @property
    def active(self) -> bool:
        """Whether any subscription is open (publishers skip all per-record work when none is)."""
        return bool(self._by_topic)

    def publish(self, topic: bytes, item_id: int, payload: bytes) -> None:
        subs = self._by_topic.get(topic)
        if not subs:
            return
        item = (topic, item_id, payload)
        for sub in list(subs):
            if not sub._push(item):
                self.unsubscribe(sub)

    @property
    def subscription_count(self) -> int:
        return len(self._all)

    @property
    def held_bytes(self) -> int:
        """Payload bytes the open subscriptions hold (a payload several of them hold counts once for each)."""
        return sum(sub.held_bytes for sub in self._all)

    def close(self) -> None:
        """End every subscription (they raise :class:`SubscriptionClosed`); later ones start closed."""
        self._closed = True
        for sub in list(self._all):
            sub._close()
            self.unsubscribe(sub)
