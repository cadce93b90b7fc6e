"""``xmtp.mls.api.v1.MlsApi`` with xmtp-node-go's semantics (protocol reference, sections 1.2 and 8).

Handlers take the parsed request and the call context and return the response message (unary) or write
serialized messages to the context (server streaming). They raise :class:`~pyxmtp.node.errors.ApiError`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import empty_pb2

from pyxmtp.conversations.key_packages import validate_xmtp_key_package
from pyxmtp.mls.errors import MLSError
from pyxmtp.proto.mls.api.v1 import mls_pb2
from pyxmtp.proto.mls.message_contents import commit_log_pb2

from . import limits, wire
from .errors import ApiError, invalid_argument
from .limits import MAX_COMMIT_LOG_PUBLISHES, MAX_COMMIT_LOG_QUERIES, MAX_KEY_PACKAGE_BYTES
from .pubsub import (
    Dispatcher,
    SubscriptionClosed,
    SubscriptionOverflow,
    group_topic,
    welcome_topic,
)
from .store import (
    GROUP_MESSAGES,
    MAX_PAGE_SIZE,
    WELCOMES,
    GroupMessageRecord,
    NewCommitLogEntry,
    ReplyTooLarge,
    Store,
    StoredGroupMessages,
    WelcomeRecord,
    commit_log_bytes,
)
from .validation import (
    PayloadError,
    check_commit_log_entry,
    check_commit_log_query,
    check_group_filters,
    check_group_id,
    check_group_ids,
    check_group_messages,
    check_installation_key,
    check_installation_keys,
    check_size,
    check_welcome_filters,
    check_welcomes,
)

SUBSCRIBED_HEADER = (("subscribed", "true"),)
SLOW_READER_MESSAGE = "caller did not read all messages fast enough"
SHUTDOWN_MESSAGE = "service is shutting down"

ServicerContext = grpc.aio.ServicerContext[bytes, bytes]
#: Reads one page of a topic's history after a cursor: ``([(id, serialized message), ...], more may follow)``.
Replay = Callable[[bytes, int], Awaitable[tuple[list[tuple[int, bytes]], bool]]]


def _checked(check: Callable[..., None], *args: Any) -> None:
    """Run a request check of :mod:`.validation`; a :class:`PayloadError` is the caller's INVALID_ARGUMENT."""
    try:
        check(*args)
    except PayloadError as exc:
        raise invalid_argument(str(exc)) from exc


def _too_large(exc: ReplyTooLarge, ask: str) -> ApiError:
    return ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{exc}, more than a reply may carry; {ask}")


class Broadcaster:
    """The store listener that feeds live subscriptions: each committed record is serialized once."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def group_messages_stored(self, records: Sequence[GroupMessageRecord]) -> None:
        d = self.dispatcher
        if not d.active:
            return
        if isinstance(records, StoredGroupMessages) and not any(
            d.has_subscribers(group_topic(g)) for g in records.group_ids()
        ):
            return  # no record is built
        for r in records:
            topic = group_topic(r.group_id)
            if d.has_subscribers(topic):
                d.publish(topic, r.id, wire.group_message(r).SerializeToString())

    def welcomes_stored(self, records: Sequence[WelcomeRecord]) -> None:
        d = self.dispatcher
        if not d.active:
            return
        for r in records:
            topic = welcome_topic(r.installation_key)
            if d.has_subscribers(topic):
                d.publish(topic, r.id, wire.welcome_message(r).SerializeToString())


class MlsApiService:
    """The handlers. ``page_bytes``: the byte budget of a page and of a reply listing one record per requested
    key (default :data:`~pyxmtp.node.limits.PAGE_BYTES`, read when the service is made)."""

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        *,
        clock: Callable[[], float] = time.time,
        page_bytes: int | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.clock = clock
        self.page_bytes = limits.PAGE_BYTES if page_bytes is None else page_bytes

    # --- publishing -----------------------------------------------------------------------------------------
    async def SendGroupMessages(
        self, request: mls_pb2.SendGroupMessagesRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        try:
            messages = check_group_messages(request)
        except PayloadError as exc:
            raise invalid_argument(str(exc)) from exc
        await self.store.insert_group_messages(messages)
        return empty_pb2.Empty()

    async def SendWelcomeMessages(
        self, request: mls_pb2.SendWelcomeMessagesRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        try:
            welcomes = check_welcomes(request)
        except PayloadError as exc:
            raise invalid_argument(str(exc)) from exc
        await self.store.insert_welcomes(welcomes)
        return empty_pb2.Empty()

    async def _store_key_package(self, upload: mls_pb2.KeyPackageUpload) -> bytes:
        data = upload.key_package_tls_serialized
        _checked(check_size, "key package", data, MAX_KEY_PACKAGE_BYTES)
        try:
            _inbox_id, installation_key, _verified = validate_xmtp_key_package(
                data,
                int(self.clock()),
                max_lifetime_range=None,  # as xmtp-node-go: any range
            )
        except MLSError as exc:
            raise invalid_argument(f"invalid key package: {exc}") from exc
        _checked(check_installation_key, "installation key of the key package", installation_key)
        await self.store.put_key_package(installation_key, data)
        return installation_key

    async def UploadKeyPackage(
        self, request: mls_pb2.UploadKeyPackageRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        if not request.HasField("key_package"):
            raise invalid_argument("no key package")
        await self._store_key_package(request.key_package)
        return empty_pb2.Empty()

    async def RegisterInstallation(
        self, request: mls_pb2.RegisterInstallationRequest, context: ServicerContext
    ) -> mls_pb2.RegisterInstallationResponse:
        """Deprecated; as xmtp-node-go: UploadKeyPackage that also answers the installation key."""
        if not request.HasField("key_package"):
            raise invalid_argument("no key package")
        installation_key = await self._store_key_package(request.key_package)
        return mls_pb2.RegisterInstallationResponse(installation_key=installation_key)

    async def BatchPublishCommitLog(
        self, request: mls_pb2.BatchPublishCommitLogRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        entries = request.requests
        if not entries:
            raise invalid_argument("no log entries to publish")
        if len(entries) > MAX_COMMIT_LOG_PUBLISHES:
            raise invalid_argument(f"cannot exceed {MAX_COMMIT_LOG_PUBLISHES} inserts in single batch")
        new: list[NewCommitLogEntry] = []
        for index, e in enumerate(entries):
            if not e.group_id or not e.serialized_commit_log_entry or not e.HasField("signature"):
                raise invalid_argument(
                    f"invalid commit log entry {index}: group_id, serialized_commit_log_entry and signature "
                    "are required"
                )
            signature = e.signature.SerializeToString()
            _checked(check_commit_log_entry, index, e.group_id, e.serialized_commit_log_entry, signature)
            new.append(NewCommitLogEntry(e.group_id, e.serialized_commit_log_entry, signature))
        await self.store.insert_commit_log_entries(new)
        return empty_pb2.Empty()

    # --- key packages ---------------------------------------------------------------------------------------
    async def FetchKeyPackages(
        self, request: mls_pb2.FetchKeyPackagesRequest, context: ServicerContext
    ) -> mls_pb2.FetchKeyPackagesResponse:
        keys = request.installation_keys
        _checked(check_installation_keys, keys)
        try:
            found = await self.store.fetch_key_packages(keys, max_bytes=self.page_bytes)
        except ReplyTooLarge as exc:
            raise _too_large(exc, "ask for fewer installations at a time") from exc
        KeyPackage = mls_pb2.FetchKeyPackagesResponse.KeyPackage
        return mls_pb2.FetchKeyPackagesResponse(
            key_packages=[
                KeyPackage() if kp is None else KeyPackage(key_package_tls_serialized=kp) for kp in found
            ]
        )

    # --- queries --------------------------------------------------------------------------------------------
    @staticmethod
    def _page(paging: mls_pb2.PagingInfo | None) -> wire.Page:
        try:
            return wire.Page.from_request(paging)
        except PayloadError as exc:
            raise invalid_argument(str(exc)) from exc

    async def QueryGroupMessages(
        self, request: mls_pb2.QueryGroupMessagesRequest, context: ServicerContext
    ) -> mls_pb2.QueryGroupMessagesResponse:
        if not request.group_id:
            raise invalid_argument("group is required")
        _checked(check_group_id, "group_id", request.group_id)
        page = self._page(request.paging_info if request.HasField("paging_info") else None)
        rows = await self.store.query_group_messages(
            request.group_id,
            descending=page.descending,
            cursor=page.cursor,
            limit=page.limit,
            max_bytes=self.page_bytes,
        )
        return mls_pb2.QueryGroupMessagesResponse(
            messages=[wire.group_message(r) for r in rows],
            paging_info=page.response(rows, [r.id for r in rows]),
        )

    async def QueryWelcomeMessages(
        self, request: mls_pb2.QueryWelcomeMessagesRequest, context: ServicerContext
    ) -> mls_pb2.QueryWelcomeMessagesResponse:
        if not request.installation_key:
            raise invalid_argument("installation is required")
        _checked(check_installation_key, "installation_key", request.installation_key)
        page = self._page(request.paging_info if request.HasField("paging_info") else None)
        rows = await self.store.query_welcomes(
            request.installation_key,
            descending=page.descending,
            cursor=page.cursor,
            limit=page.limit,
            max_bytes=self.page_bytes,
        )
        return mls_pb2.QueryWelcomeMessagesResponse(
            messages=[wire.welcome_message(r) for r in rows],
            paging_info=page.response(rows, [r.id for r in rows]),
        )

    async def GetNewestGroupMessage(
        self, request: mls_pb2.GetNewestGroupMessageRequest, context: ServicerContext
    ) -> mls_pb2.GetNewestGroupMessageResponse:
        group_ids = request.group_ids
        if not group_ids:
            raise invalid_argument("no group ids provided")

        _checked(check_group_ids, group_ids)
        include = request.include_content
        try:
            newest = await self.store.newest_group_messages(
                group_ids, include_content=include, max_bytes=self.page_bytes
            )
        except ReplyTooLarge as exc:
            raise _too_large(exc, "ask for fewer groups at a time") from exc
        Response = mls_pb2.GetNewestGroupMessageResponse.Response
        return mls_pb2.GetNewestGroupMessageResponse(
            responses=[
                Response()
                if r is None
                else Response(group_message=wire.group_message(r, include_content=include))
                for r in newest
            ]
        )

    async def BatchQueryCommitLog(
        self, request: mls_pb2.BatchQueryCommitLogRequest, context: ServicerContext
    ) -> mls_pb2.BatchQueryCommitLogResponse:
        """Each query answers a page of at most 100 entries, within what is left of the byte budget for the reply
        (but at least its first entry, of at most 17 KiB), its cursor set as a page's. libxmtp reads one page per
        group and round, and reads on in its next round."""
        queries = request.requests
        if not queries:
            raise invalid_argument("no requests to query")
        if len(queries) > MAX_COMMIT_LOG_QUERIES:
            raise invalid_argument(f"cannot exceed {MAX_COMMIT_LOG_QUERIES} queries in single batch")
        for index, q in enumerate(queries):
            if not q.group_id:
                raise invalid_argument(f"invalid request {index}: group_id is required")
            if q.paging_info.direction == wire.DESCENDING:
                raise invalid_argument(f"invalid request {index}: descending direction is not supported")

            _checked(check_commit_log_query, index, q.group_id, q.paging_info.id_cursor)
        out: list[mls_pb2.QueryCommitLogResponse] = []
        budget = self.page_bytes
        for q in queries:
            paging = q.paging_info
            limit = paging.limit if 0 < paging.limit <= MAX_PAGE_SIZE else MAX_PAGE_SIZE
            rows = await self.store.query_commit_log(
                q.group_id, cursor=paging.id_cursor, limit=limit, max_bytes=max(budget, 0)
            )
            entries = []
            for r in rows:
                entry = commit_log_pb2.CommitLogEntry(sequence_id=r.id, serialized_commit_log_entry=r.entry)
                entry.signature.ParseFromString(r.signature)
                entries.append(entry)
                budget -= commit_log_bytes(r)
            out.append(
                mls_pb2.QueryCommitLogResponse(
                    group_id=q.group_id,
                    commit_log_entries=entries,
                    paging_info=mls_pb2.PagingInfo(
                        direction=wire.ASCENDING,
                        limit=limit,
                        id_cursor=rows[-1].id if rows and (len(rows) >= limit or rows.cut) else 0,
                    ),
                )
            )
        return mls_pb2.BatchQueryCommitLogResponse(responses=out)

    # --- subscriptions --------------------------------------------------------------------------------------
    async def SubscribeGroupMessages(
        self, request: mls_pb2.SubscribeGroupMessagesRequest, context: ServicerContext
    ) -> None:
        await context.send_initial_metadata(SUBSCRIBED_HEADER)
        filters = [(f.group_id, f.id_cursor) for f in request.filters]
        _checked(check_group_filters, filters)

        async def replay(group_id: bytes, cursor: int) -> tuple[list[tuple[int, bytes]], bool]:
            rows = await self.store.query_group_messages(
                group_id, descending=False, cursor=cursor, limit=MAX_PAGE_SIZE, max_bytes=self.page_bytes
            )
            more = len(rows) >= MAX_PAGE_SIZE or rows.cut
            return [(r.id, wire.group_message(r).SerializeToString()) for r in rows], more

        await self._stream(context, GROUP_MESSAGES, [(group_topic(g), g, c) for g, c in filters], replay)

    async def SubscribeWelcomeMessages(
        self, request: mls_pb2.SubscribeWelcomeMessagesRequest, context: ServicerContext
    ) -> None:
        await context.send_initial_metadata(SUBSCRIBED_HEADER)
        filters = [(f.installation_key, f.id_cursor) for f in request.filters]
        if not filters:
            raise invalid_argument("no valid filters provided")
        if any(not key for key, _ in filters):
            raise invalid_argument("a filter is nil or installation key is empty")
        _checked(check_welcome_filters, filters)

        async def replay(key: bytes, cursor: int) -> tuple[list[tuple[int, bytes]], bool]:
            rows = await self.store.query_welcomes(
                key, descending=False, cursor=cursor, limit=MAX_PAGE_SIZE, max_bytes=self.page_bytes
            )
            more = len(rows) >= MAX_PAGE_SIZE or rows.cut
            return [(r.id, wire.welcome_message(r).SerializeToString()) for r in rows], more

        await self._stream(context, WELCOMES, [(welcome_topic(k), k, c) for k, c in filters], replay)

    async def _stream(
        self,
        context: ServicerContext,
        kind: str,
        filters: list[tuple[bytes, bytes, int]],
        replay: Replay,
    ) -> None:
        """Watch the keys in the store (records other node processes commit reach this one's listeners), register
        live, replay each filter's history ascending from its cursor, then go live.

        A per-topic high-water mark drops anything already sent, so a record committed while the history
        was being read is delivered exactly once, in id order within its topic.
        """
        keys = [key for _, key, _ in filters]
        await self.store.watch(kind, keys)
        try:
            await self._stream_watched(context, filters, replay)
        finally:
            self.store.unwatch(kind, keys)

    async def _stream_watched(
        self, context: ServicerContext, filters: list[tuple[bytes, bytes, int]], replay: Replay
    ) -> None:
        sub = self.dispatcher.subscribe(topic for topic, _, _ in filters)
        high: dict[bytes, int] = {}
        try:
            for topic, key, cursor in filters:
                while True:
                    sub.check()
                    page, more = await replay(key, cursor)
                    for item_id, payload in page:
                        if item_id > high.get(topic, 0):
                            high[topic] = item_id
                            await context.write(payload)
                    if not more or not page:
                        break
                    cursor = page[-1][0]
            while True:
                for topic, item_id, payload in await sub.next_batch():
                    if item_id > high.get(topic, 0):
                        high[topic] = item_id
                        await context.write(payload)
        except SubscriptionOverflow:
            raise ApiError(grpc.StatusCode.ABORTED, SLOW_READER_MESSAGE) from None
        except SubscriptionClosed:
            raise ApiError(grpc.StatusCode.UNAVAILABLE, SHUTDOWN_MESSAGE) from None
        finally:
            self.dispatcher.unsubscribe(sub)

    # --- deprecated and unimplemented -----------------------------------------------------------------------
    async def RevokeInstallation(
        self, request: mls_pb2.RevokeInstallationRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        raise ApiError(grpc.StatusCode.UNIMPLEMENTED, "unimplemented")

    async def GetIdentityUpdates(
        self, request: mls_pb2.GetIdentityUpdatesRequest, context: ServicerContext
    ) -> mls_pb2.GetIdentityUpdatesResponse:
        raise ApiError(grpc.StatusCode.UNIMPLEMENTED, "unimplemented")
