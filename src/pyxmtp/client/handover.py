"""What a named reader of the all-messages stream has been handed: :class:`Handover`.

A stream processes and stores each message before it hands it out, and keeps up to
:data:`~.streams.BUFFER` of them ready for a reader that lags; when the stream is closed (a bot stopping) or the
process dies, those are stored but were never handed to the reader, and a plain stream never hands them out
again (the next one starts from what is processed). A stream opened for a named reader (``consumer``) records,
per conversation, the node id of the last message the reader was done with (it asked for the next one, or called
:meth:`~.streams.Stream.acknowledge`), in the client database; the next stream for that name first hands out
what was stored after it (up to where the live part starts), then goes on live. So across a stop and a start
every message is handed to the reader once, and after a crash at least once (the one being handled when the
process died comes again).

The first stream for a name starts from the present, as a plain one does; a conversation joined later (in a
stream for that name or not) is handed out from its first stored message. Messages of our own not yet on the
node have no node id: they are handed out when they come back from the node, as in a plain stream. One stream at
a time per name and database: a second one opened in this process while the first is live raises
:class:`~.errors.ConsumerBusy` (:meth:`Handover.claim`); the name is free again once the first stream ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConsumerBusy
from .messages import DecodedMessage
from .records import MessageRecord
from .store import ClientStore

#: The cursors' names: ``handed/<consumer>`` marks a reader known; ``handed/<consumer>/<group id hex>`` holds the
#: node id of the last message of that conversation it was done with.
_PREFIX = "handed/"

#: The consumer names with a live stream in this process, by database (its path, or the in-memory store).
_live: set[tuple[object, str]] = set()


@dataclass
class Handover:
    """The record of one named reader (see the module docstring)."""

    store: ClientStore
    consumer: str
    _done: dict[bytes, int] = field(default_factory=dict, init=False)
    _out: dict[bytes, tuple[bytes, int]] = field(default_factory=dict, init=False)  # id -> (group, node id)
    _known: bool = field(default=False, init=False)
    _started: bool = field(default=False, init=False)
    _claimed: bool = field(default=False, init=False)
    #: ``(group, after, upto)``: stored messages still to hand out before the live ones (kept here, not in the
    #: connection: a reconnect goes on with what is left)
    pending: list[tuple[bytes, int, int]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if not self.consumer or "/" in self.consumer:
            raise ValueError(
                f"a stream consumer's name is a non-empty string without '/', got {self.consumer!r}"
            )
        self._known = self.store.cursor(_PREFIX + self.consumer) == 1
        cursors = self.store.cursors_with_prefix(f"{_PREFIX}{self.consumer}/")
        self._done = {bytes.fromhex(group): value for group, value in cursors.items()}

    def _key(self) -> tuple[object, str]:
        path = self.store.path
        return (id(self.store) if path is None else str(path.resolve()), self.consumer)

    def claim(self) -> None:
        """The stream for this name is starting: :class:`~.errors.ConsumerBusy` if one is live already."""
        key = self._key()
        if key in _live:
            raise ConsumerBusy(
                f"a stream for consumer {self.consumer!r} is open already: close it before opening another"
            )
        _live.add(key)
        self._claimed = True

    def release(self) -> None:
        """The stream for this name ended (again: nothing)."""
        if self._claimed:
            self._claimed = False
            _live.discard(self._key())

    @property
    def started(self) -> bool:
        return self._started

    def start(self, starts: dict[bytes, int]) -> None:
        """The live part starts after these node ids (by group): what the reader was not handed before them is
        :attr:`pending`. A new reader starts from the present: nothing. Only the first call (a stream's first
        connection) counts; a reconnect goes on from where the stream is."""
        if self._started:
            return
        self._started = True
        if not self._known:
            with self.store.transaction():
                for group_id, start in starts.items():
                    self._set(group_id, start)
                self.store.set_cursor(_PREFIX + self.consumer, 1)
            self._known = True
            return
        for group_id, start in starts.items():
            self.joined(group_id, start)

    def joined(self, group_id: bytes, start: int) -> None:
        """A conversation whose live part starts after node id ``start``: what the reader was not handed before
        it is :attr:`pending`."""
        after = self._done.get(group_id, 0)
        if after < start:
            self.pending.append((group_id, after, start))

    def stored(self, group_id: bytes, after: int, upto: int) -> list[MessageRecord]:
        return self.store.messages_in_server_range(group_id, after, upto)

    def handing(self, record: MessageRecord) -> None:
        """``record`` is about to be handed out."""
        if record.server_id is not None:
            self._out[record.message_id] = (record.group_id, record.server_id)

    def acknowledge(self, message: DecodedMessage) -> None:
        """The reader is done with ``message``: it is not handed to the next stream of this name."""
        handed = self._out.pop(message.message_id, None)
        if handed is not None and handed[1] > self._done.get(handed[0], 0):
            self._set(*handed)

    def _set(self, group_id: bytes, server_id: int) -> None:
        self._done[group_id] = server_id
        self.store.set_cursor(f"{_PREFIX}{self.consumer}/{group_id.hex()}", server_id)
