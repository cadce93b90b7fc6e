"""``client.device_sync``: the inbox's installations share consent, the HMAC key and (on request) history.

What libxmtp 1.10's device-sync worker does, driven by the app's calls instead of a timer:

- every consent decision made here that changed a state is published to the primary sync group as a
  ``PreferenceUpdates`` message, in the background (as libxmtp's worker does) or at once with
  :meth:`DeviceSync.publish_preferences`; a sync group is created for it if there is none and the inbox has
  other installations;
- :meth:`DeviceSync.sync_all_device_sync_groups` (alias :meth:`~DeviceSync.sync_preferences`) processes
  waiting welcomes, syncs every sync group and processes their new messages: preference updates are merged,
  sync requests answered, sync replies imported (:mod:`.history`);
- a sync-group message that arrives on ``stream_all_messages`` is handled at once in the background (it is not
  handed out);
- :meth:`DeviceSync.stream_consent` / :meth:`DeviceSync.stream_preferences` hand out the changes as they happen,
  local or received (nothing is replayed; they do not fetch by themselves).

Only messages of sync groups our own inbox made and alone is in are read (:mod:`.guard` refuses the others'
welcomes), and only those sent by our inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, TypeVar

from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.mls.errors import MLSError
from pyxmtp.proto.device_sync import content_pb2

from .. import commits, consent, delivery
from ..api import ApiCallError
from ..archive import ArchiveOptions, ImportSummary
from ..consent import Consent, ConsentState
from ..context import ClientContext
from ..hub import ConversationHub
from ..records import MessageRecord
from ..session import GroupSession
from ..streams import Emitter, Stream
from . import groups, preferences
from .content import decode
from .history import AvailableArchive, HistoryServerError, HistorySync
from .preferences import ConsentUpdate, PreferenceUpdate

_T = TypeVar("_T")

log = logging.getLogger("pyxmtp.client.device_sync")

#: How many times a sync message whose handling failed for want of the node or a history server is tried.
MAX_ATTEMPTS = 3
#: Conversations active this recently get a new installation of the inbox at once (libxmtp: 90 days).
RECENT_NS = 90 * 86_400 * 10**9
#: The store's cursor, per sync group, of the last message processed (its node id).
CURSOR_PREFIX = "device_sync/"


class DeviceSync:
    """See the module docstring."""

    def __init__(self, ctx: ClientContext, hub: ConversationHub) -> None:
        self._ctx = ctx
        self._hub = hub
        self._publisher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one walk over the sync groups at a time
        #: messages to handle again (the node or a history server was away): attempts made so far
        self._retry: dict[tuple[bytes, bytes], int] = {}
        self._consent_queues: set[asyncio.Queue[list[Consent]]] = set()
        self._preference_queues: set[asyncio.Queue[PreferenceUpdate]] = set()
        #: sync requests, answers and replies (:mod:`.history`)
        self.history = HistorySync(ctx, hub)
        self._processor: asyncio.Task[None] | None = None
        self._more = False
        ctx.prefs.consent_listeners.append(self._consent_changed)
        hub.sync_listeners.append(self._sync_message_arrived)

    # --- consent made here or received ---------------------------------------------------------------------
    def _consent_changed(self, consents: Sequence[Any], publish: bool) -> None:
        changed = list(consents)
        for consent_queue in self._consent_queues:
            consent_queue.put_nowait(changed)
        if publish:  # received ones are told by :meth:`_emit_received`, with the HMAC keys
            for preference_queue in self._preference_queues:
                preference_queue.put_nowait(ConsentUpdate(tuple(changed)))
            self._kick()  # consent.record marked them unpublished in the store

    def _sync_message_arrived(self, session: GroupSession) -> None:
        """A stream stored a sync-group message: handle it (and greet a new installation) in the background,
        as libxmtp's worker does when notified."""
        self._more = True
        if self._processor is None or self._processor.done():
            self._processor = asyncio.get_running_loop().create_task(
                self._process_in_background(), name="pyxmtp device sync messages"
            )

    async def _process_in_background(self) -> None:
        while self._more:  # messages that arrive meanwhile are handled by the next round
            self._more = False
            try:
                await self._greet_new_installations()
                await self.process_messages()
            except (ApiCallError, MLSError) as exc:
                log.warning("sync messages not handled yet: %s", exc)

    def _kick(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the next publish_preferences sends them
            return
        if self._publisher is None or self._publisher.done():
            self._publisher = loop.create_task(self._publish_in_background(), name="pyxmtp device sync")

    async def _publish_in_background(self) -> None:
        # the identity cache's view of our installations (every change of members refreshes it): a consent
        # change costs no call to the node while the inbox has one installation
        try:
            await self.publish_preferences(fetch=False)
        except (ApiCallError, MLSError) as exc:
            log.warning("consent changes not published to the other installations yet: %s", exc)

    async def publish_preferences(self, *, fetch: bool = True, create: bool = True) -> None:
        """Publish the consent decisions made here and not published yet, to the primary sync group (made if
        there is none, ``create`` is true and the inbox has other installations: as its identity log says now, or
        as the identity cache last saw it unless ``fetch``). While there is no sync group to send to, or on
        failure, they stay marked unpublished in the store (across restarts and crashes) for the next call; a
        decision is unmarked only once the node accepted the message that publishes it."""
        async with self._lock:
            while batch := consent.unpublished(self._ctx):
                session = await self._target(fetch, create)
                if session is None:
                    return  # nobody to tell yet
                at_ns = self._ctx.clock_ns()
                saves = preferences.consent_saves([c for c, _ in batch], at_ns)
                updates = content_pb2.PreferenceUpdates(updates=saves)
                await groups.send(session, content_pb2.DeviceSyncContent(preference_updates=updates))
                consent.mark_published(self._ctx, batch)

    def resume(self) -> None:
        """Publish in the background what an earlier run left unpublished (a crash, or the node away)."""
        if consent.unpublished(self._ctx):
            self._kick()

    def unpublished_consent(self) -> list[Consent]:
        """The consent decisions made here and not yet published to the inbox's other installations."""
        return [c for c, _ in consent.unpublished(self._ctx)]

    async def _target(self, fetch: bool, create: bool) -> GroupSession | None:
        found = groups.primary(self._hub)
        if found is not None or not create:
            return found
        if not await groups.other_installations(self._hub, fetch=fetch):
            return None
        return await groups.ensure(self._hub)

    # --- history ---------------------------------------------------------------------------------------------
    async def send_sync_request(self, server_url: str, options: ArchiveOptions | None = None) -> str:
        """Ask the inbox's other installations for their history through the history server at ``server_url``
        (node-sdk ``sendSyncRequest``); the request's pin. Their replies are imported by
        :meth:`sync_all_device_sync_groups`."""
        return await self.history.send_sync_request(server_url, options)

    async def send_sync_archive(
        self, server_url: str, pin: str, options: ArchiveOptions | None = None
    ) -> None:
        """Upload this installation's archive and post a reply with ``request_id = pin`` without a request
        (node-sdk ``sendSyncArchive``)."""
        await self.history.send_sync_archive(server_url, pin, options)

    def list_available_archives(self, days_cutoff: int = 7) -> list[AvailableArchive]:
        """The archives sync replies offer, newest first (node-sdk ``listAvailableArchives``)."""
        return self.history.list_available_archives(days_cutoff)

    async def process_sync_archive(self, pin: str | None = None) -> ImportSummary:
        """Import the archive of the newest sync reply with this pin (or the newest of all) (node-sdk
        ``processSyncArchive``)."""
        return await self.history.process_sync_archive(pin)

    # --- syncing and processing ----------------------------------------------------------------------------
    async def sync_group(self) -> GroupSession:
        """The primary sync group, created if there is none (libxmtp's ``get_sync_group``)."""
        return await groups.ensure(self._hub)

    async def sync_all_device_sync_groups(self) -> int:
        """Process waiting welcomes, sync every sync group we are in and process their new messages (see the
        module docstring); how many sync groups were synced. One that cannot be synced now is logged and
        passed over."""
        await self._hub.sync_welcomes()
        await self._greet_new_installations()
        try:  # changes kept while we knew of no sync group; none is made here: another installation's
            # welcome may be on its way, and a sync group made while it is processes our own commits racing
            # the other installation's first messages (seen with libxmtp 1.10)
            await self.publish_preferences(create=False)
        except (ApiCallError, MLSError) as exc:
            log.warning("consent changes not published to the other installations yet: %s", exc)
        synced = 0
        for session in groups.sync_sessions(self._hub):
            if not session.is_active:
                continue
            try:
                async with session.lock:
                    await delivery.flush(session)
            except (ApiCallError, MLSError) as exc:
                log.warning("sync group %s not synced: %s", session.group_id.hex(), exc)
                continue
            synced += 1
        await self.process_messages()
        return synced

    async def _greet_new_installations(self) -> None:
        """What libxmtp does when a welcome brings a sync group another installation made (a new installation
        of the inbox): every conversation active in the last 90 days and not denied adds the installations it
        lacks (the new one gets their welcomes now, not at the next send), and a fresh HMAC key is sent so that
        every installation uses the same one."""
        ctx = self._ctx
        fresh = [
            s
            for s in groups.sync_sessions(self._hub)
            if s.is_active and not ctx.store.cursor(groups.WELCOMED_PREFIX + s.group_id.hex())
        ]
        if not fresh:
            return
        since = ctx.clock_ns() - RECENT_NS
        last = ctx.store.last_message_ns()
        for session in self._hub.sessions.all():
            if (
                session.conversation_type not in (ConversationType.GROUP, ConversationType.DM)
                or not session.is_active
                or max(last.get(session.group_id, 0), session.created_ns) < since
                or consent.conversation_state(ctx, session.group_id) is ConsentState.DENIED
            ):
                continue
            try:
                async with session.lock:
                    await commits.update_membership(session, only_if_changed=True)
            except (ApiCallError, MLSError) as exc:
                log.warning(
                    "conversation %s: new installation not added yet: %s", session.group_id.hex(), exc
                )
        key = ctx.rng(preferences.HMAC_KEY_LENGTH)
        update = content_pb2.PreferenceUpdates(updates=[preferences.hmac_update(key, ctx.clock_ns())])
        try:
            await groups.send(fresh[0], content_pb2.DeviceSyncContent(preference_updates=update))
        except (ApiCallError, MLSError) as exc:
            log.warning("HMAC key update not sent: %s", exc)
            return
        with ctx.store.transaction():
            for session in fresh:
                ctx.store.set_cursor(groups.WELCOMED_PREFIX + session.group_id.hex(), 1)

    async def sync_preferences(self) -> int:
        """:meth:`sync_all_device_sync_groups` (libxmtp's other name for it)."""
        return await self.sync_all_device_sync_groups()

    async def process_messages(self) -> None:
        """Handle every stored sync-group message not handled yet, each group in the node's order. A message whose
        handling failed because the node or a history server could not be reached is tried again at the next
        calls, :data:`MAX_ATTEMPTS` times in all (libxmtp's rule); any other failure is final."""
        async with self._lock:
            for (group_id, message_id), attempts in list(self._retry.items()):
                session = self._hub.sessions.get(group_id)
                record = self._ctx.store.message(message_id)
                del self._retry[(group_id, message_id)]
                if session is not None and record is not None:
                    await self._attempt(session, record, attempts + 1)
            for session in groups.sync_sessions(self._hub):
                name = CURSOR_PREFIX + session.group_id.hex()
                done = self._ctx.store.cursor(name)
                fresh = [
                    r
                    for r in self._ctx.store.messages(session.group_id)
                    if r.server_id and r.server_id > done
                ]
                fresh.sort(key=lambda r: r.server_id or 0)
                for record in fresh:
                    await self._attempt(session, record, 1)
                    with self._ctx.store.transaction():
                        self._ctx.store.set_cursor(name, record.server_id or 0)

    async def _attempt(self, session: GroupSession, record: MessageRecord, attempt: int) -> None:
        try:
            await self._handle(session, record)
        except (HistoryServerError, ApiCallError) as exc:
            final = attempt >= MAX_ATTEMPTS
            if not final:
                self._retry[(session.group_id, record.message_id)] = attempt
            log.warning(
                "sync message %s of group %s not handled (attempt %d%s): %s",
                record.message_id.hex(),
                session.group_id.hex(),
                attempt,
                ", the last" if final else "",
                exc,
            )
        except Exception as exc:  # one bad message must not stop the others
            log.warning(
                "sync message %s of group %s not handled: %s",
                record.message_id.hex(),
                session.group_id.hex(),
                exc,
            )

    async def _handle(self, session: GroupSession, record: MessageRecord) -> None:
        ctx = self._ctx
        content = decode(record.content)
        if content is None:
            return
        if record.sender_inbox_id != ctx.inbox_id:
            log.warning(
                "sync message %s of group %s from another inbox (%s) refused",
                record.message_id.hex(),
                session.group_id.hex(),
                record.sender_inbox_id,
            )
            return
        which = content.WhichOneof("content")
        if which == "preference_updates":  # applied even when our own (the group's order is authoritative)
            self._emit_received(preferences.apply(ctx, content.preference_updates))
            return
        if record.sender_installation == ctx.installation_id:
            return
        if which == "request":
            await self.history.answer(session, record, content.request)
        elif which == "reply":
            await self.history.receive(session, record, content.reply)

    def _emit_received(self, updates: list[PreferenceUpdate]) -> None:
        for update in updates:
            for queue in self._preference_queues:
                queue.put_nowait(update)

    # --- streams -------------------------------------------------------------------------------------------
    def stream_consent(self) -> Stream[list[Consent]]:
        """Consent decisions as they change, here or received from another installation (node-sdk
        ``streamConsent``): each item is the list of one change."""
        return _fan_out(self._consent_queues, "consent")

    def stream_preferences(self) -> Stream[PreferenceUpdate]:
        """Preference changes as they happen (node-sdk ``streamPreferences``): :class:`ConsentUpdate` and
        :class:`HmacKeyUpdate` items."""
        return _fan_out(self._preference_queues, "preferences")

    async def close(self) -> None:
        """Publish the consent changes not published yet (if the node can be reached), then stop the background
        publisher."""
        if consent.unpublished(self._ctx):
            try:
                await self.publish_preferences(fetch=False)
            except (ApiCallError, MLSError) as exc:
                log.warning(
                    "%d consent changes not published to the other installations yet: %s",
                    len(self.unpublished_consent()),
                    exc,
                )
        for task in (self._publisher, self._processor):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._publisher = self._processor = None


def _fan_out(queues: set[asyncio.Queue[_T]], name: str) -> Stream[_T]:
    """A stream of what is put on ``queues``: each run adds a queue of its own, removed when the stream ends."""

    async def produce(out: Emitter[_T]) -> None:
        queue: asyncio.Queue[_T] = asyncio.Queue()
        queues.add(queue)
        out.ready()
        try:
            while True:
                await out.emit(await queue.get())
        finally:
            queues.discard(queue)

    return Stream(produce, name=name)
