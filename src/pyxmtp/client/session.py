"""One conversation's live state in a client: :class:`GroupSession`.

A session holds the sans-IO :class:`~pyxmtp.conversations.conversation.Conversation` (its ``core``: the MLS
group with XMTP's rules), the id of the last group message processed (``cursor``), and a lock: one operation at
a time on a group (a stream, a sync and a send may run in different tasks). The functions that change a group
(:mod:`.receive`, :mod:`.commits`, :mod:`.delivery`) take a session; the public
:class:`~pyxmtp.client.conversation.Conversation` wraps one.

Every change is written with :meth:`GroupSession.writing` (or inside :meth:`GroupSession.consistent` and a store
transaction that ends with :meth:`GroupSession.persist`): the group state, the cursor and whatever the change
produced commit together, and a failure mid-way puts the session back to what the database holds, so keys used
up in memory are never kept without their messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType

from .context import ClientContext
from .store import ConversationRecord


class GroupSession:
    """A conversation's state, its cursor and its lock (see the module docstring)."""

    __slots__ = (
        "added_by",
        "core",
        "created_ns",
        "ctx",
        "cursor",
        "installations_checked",
        "joined_cursor",
        "lock",
        "publish_due",
    )

    def __init__(
        self, ctx: ClientContext, core: CoreConversation, cursor: int, *, created_ns: int, added_by: str
    ) -> None:
        self.ctx = ctx
        self.core = core
        self.cursor = cursor
        #: the cursor when this session was made (a conversation joined or created): streams that hear of it
        #: later start from here, whoever synced it meanwhile
        self.joined_cursor = cursor
        self.created_ns = created_ns
        #: the inbox that added us (ours for a conversation we created)
        self.added_by = added_by
        #: when the tree was last held against the identity logs (ns)
        self.installations_checked = 0
        #: a message of ours came back too late to be read: publish it again
        self.publish_due = False
        self.lock = asyncio.Lock()

    @classmethod
    def load(cls, ctx: ClientContext, record: ConversationRecord) -> GroupSession:
        core = CoreConversation.from_bytes(record.state, ctx.inbox_id)
        return cls(ctx, core, record.cursor, created_ns=record.created_ns, added_by=record.added_by)

    @property
    def group_id(self) -> bytes:
        return self.core.group_id

    @property
    def is_active(self) -> bool:
        """False once a commit removed us: nothing more can be read or sent."""
        return self.core.is_active

    @property
    def conversation_type(self) -> ConversationType:
        return self.core.conversation_type

    def record(self) -> ConversationRecord:
        """What the database keeps of a new conversation."""
        return ConversationRecord(
            self.group_id, self.core.to_bytes(), self.cursor, self.created_ns, self.added_by
        )

    def persist(self) -> None:
        """Write the group state and the cursor (inside the caller's transaction)."""
        self.ctx.store.update_conversation(self.group_id, self.core.to_bytes(), self.cursor)

    def save(self, cursor: int) -> None:
        """Move the cursor forward to ``cursor`` and :meth:`persist`."""
        self.cursor = max(self.cursor, cursor)
        self.persist()

    @contextlib.contextmanager
    def consistent(self) -> Iterator[None]:
        """If the block fails (the store cannot write, or a bug), go back to the group state and cursor the
        database has: processing used up keys in memory that must not be persisted without their messages."""
        try:
            yield
        except BaseException:
            record = self.ctx.store.conversation(self.group_id)
            if record is not None:
                self.core = CoreConversation.from_bytes(record.state, self.ctx.inbox_id)
                self.cursor = record.cursor
            raise

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A store transaction that ends by writing the group state and the cursor (see :meth:`consistent`)."""
        with self.consistent(), self.ctx.store.transaction():
            yield
            self.persist()


class SessionCache:
    """The sessions of one client's conversations, by group id, each loaded from the database on first use and
    then kept (so that every task working on a group shares its session and its lock)."""

    def __init__(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        self._by_id: dict[bytes, GroupSession] = {}

    def get(self, group_id: bytes) -> GroupSession | None:
        """The session of ``group_id``, or None if the database holds no such conversation."""
        session = self._by_id.get(group_id)
        if session is not None:
            return session
        record = self.ctx.store.conversation(group_id)
        return None if record is None else self.load(record)

    def load(self, record: ConversationRecord) -> GroupSession:
        """The session of a conversation the database holds (the one in use, if loaded already)."""
        session = self._by_id.get(record.group_id)
        if session is None:
            session = GroupSession.load(self.ctx, record)
            self._by_id[record.group_id] = session
        return session

    def add(self, session: GroupSession) -> None:
        """Keep a session just written to the database (a conversation created or joined)."""
        self._by_id[session.group_id] = session

    def forget(self, group_id: bytes) -> None:
        """Drop the loaded session (the database row was replaced: the next use loads it again)."""
        self._by_id.pop(group_id, None)

    def all(self) -> list[GroupSession]:
        """Every conversation the database holds, oldest first (only those not loaded yet are read)."""
        out = []
        for group_id in self.ctx.store.conversation_ids():
            session = self.get(group_id)
            if session is not None:
                out.append(session)
        return out
