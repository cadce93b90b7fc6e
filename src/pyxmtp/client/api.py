"""The client's side of the v3 gRPC API: MlsApi and IdentityApi calls as a libxmtp client makes them.

:class:`NodeApi` owns one ``grpc.aio`` channel. Every method is one RPC (or a paged walk of one) and returns
protobuf messages; failures are :class:`ApiCallError` naming the method and the gRPC status. Paging follows
xmtp-node-go: ascending, at most 100 per page, ``id_cursor`` = the last id seen.

Calls ride out a node restart: once the node has answered a call, every call waits for the channel to be ready
(gRPC's ``wait_for_ready``) within its ``timeout`` instead of failing while gRPC reconnects (the channel retries
every 0.25 s, backing off to :data:`MAX_RECONNECT_BACKOFF_MS`), and a read cut off by a node going away
(UNAVAILABLE) is made again within that time. A node still unreachable when the timeout is up is
:class:`NodeUnavailable`. Streams wait for the channel without a deadline. Before the node has answered once, a
call fails at once with UNAVAILABLE, as gRPC does: a wrong address or transport is reported without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc

from pyxmtp.identity.limits import IDENTITY_UPDATES_BATCH, MAX_GET_INBOX_IDS_REQUESTS
from pyxmtp.proto.identity.api.v1 import identity_pb2, identity_pb2_grpc
from pyxmtp.proto.identity.associations import association_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2, mls_pb2_grpc

from .transport import ProxyFailure, make_channel

PAGE_SIZE = 100
#: The largest request the client sends: the node's own receive limit (xmtp-node-go's ``--max-msg-size``, 50 MiB).
MAX_SEND_BYTES = 50 * 1024 * 1024
#: The largest reply the client takes: above the largest a node sends (its send limit is 50 MiB too), so no
#: reply of a well-behaved node is refused and no conversation stalls on one.
MAX_RECEIVE_BYTES = 64 * 1024 * 1024
#: At most this many messages per SendGroupMessages / SendWelcomeMessages call (libxmtp's chunking).
MAX_BATCH = 50
#: How soon, and at most how long after, gRPC tries again to connect to a node that went away.
INITIAL_RECONNECT_BACKOFF_MS = 250
MAX_RECONNECT_BACKOFF_MS = 5000
#: Channel options of every client channel.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ("grpc.max_send_message_length", MAX_SEND_BYTES),
    ("grpc.initial_reconnect_backoff_ms", INITIAL_RECONNECT_BACKOFF_MS),
    ("grpc.min_reconnect_backoff_ms", INITIAL_RECONNECT_BACKOFF_MS),
    ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
)
#: Calls that only read: made again when a node going away cuts them off.
_READS = frozenset(
    {
        "IdentityApi/GetInboxIds",
        "IdentityApi/GetIdentityUpdates",
        "MlsApi/FetchKeyPackages",
        "MlsApi/QueryGroupMessages",
        "MlsApi/QueryWelcomeMessages",
    }
)
_ASC = mls_pb2.SORT_DIRECTION_ASCENDING
M = TypeVar("M")


class ApiCallError(Exception):
    """An RPC failed: ``method``, the gRPC ``code`` and the node's ``details``."""

    def __init__(self, method: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{method} failed: {code.name}: {details}")
        self.method = method
        self.code = code
        self.details = details


class ProxyCallError(ApiCallError):
    """An RPC failed because the node could not be reached through the proxy: ``proxy`` (printed without its
    password), the node ``address`` tried last and the ``reason`` (the proxy unreachable, our credentials refused,
    no node reachable through it)."""

    def __init__(self, method: str, code: grpc.StatusCode, failure: ProxyFailure) -> None:
        super().__init__(method, code, str(failure))
        self.proxy = failure.proxy
        self.address = failure.address
        self.reason = failure.reason


class NodeUnavailable(ApiCallError):
    """The node could not be reached for the whole timeout of a call (it is down or restarting, or the address or
    the transport is wrong). Code UNAVAILABLE; nothing was sent."""

    def __init__(self, method: str, timeout: float, details: str) -> None:
        super().__init__(
            method, grpc.StatusCode.UNAVAILABLE, f"the node was not reachable within {timeout} s"
        )
        self.timeout = timeout
        self.cause = details


class NodeApi:
    """The node, over one channel (:func:`~.transport.make_channel`): ``address`` as ``host:port``, ``http://`` or
    ``https://host:port``, or several of them (a list or comma-separated: gRPC's round_robin over them);
    plaintext unless ``credentials`` are given or the addresses say ``https://``; through ``proxy``
    (``socks5h://[user:pass@]host:port``, ``socks5://``, ``http://``) if given. ``timeout`` (seconds) bounds
    each call, the wait for an unreachable node included."""

    def __init__(
        self,
        address: str | Sequence[str],
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 30.0,
        proxy: str | None = None,
    ) -> None:
        self.address = address if isinstance(address, str) else ",".join(address)
        self.timeout = timeout
        #: the node has answered a call: from now on calls wait for it to come back
        self.reached = False
        self._transport = make_channel(
            address,
            credentials=credentials,
            proxy=proxy,
            options=list(CHANNEL_OPTIONS),
            connect_timeout=timeout,
        )
        self._channel = self._transport.channel
        self._mls = mls_pb2_grpc.MlsApiStub(self._channel)
        self._identity = identity_pb2_grpc.IdentityApiStub(self._channel)

    async def close(self) -> None:
        await self._transport.close()

    def connectivity(self) -> grpc.ChannelConnectivity:
        """The channel's state (READY once connected; TRANSIENT_FAILURE while the node cannot be reached)."""
        return self._channel.get_state()

    async def __aenter__(self) -> NodeApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, name: str, method: object, request: object) -> object:
        """One RPC within :attr:`timeout`: it waits for the channel to be ready; a read cut off by the node going
        away is made again while time is left (see the module docstring)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        pause = 0.05
        while True:
            left = max(0.0, deadline - loop.time())
            waits = self.reached
            try:
                reply = await method(request, timeout=left, wait_for_ready=waits)  # type: ignore[operator]
            except grpc.aio.AioRpcError as exc:
                code, details = exc.code(), exc.details() or ""
                ready = self._channel.get_state() is grpc.ChannelConnectivity.READY
                if code is grpc.StatusCode.DEADLINE_EXCEEDED and waits and not ready:
                    raise NodeUnavailable(name, self.timeout, details) from exc
                if (
                    code is grpc.StatusCode.UNAVAILABLE
                    and waits
                    and name in _READS
                    and loop.time() < deadline
                ):
                    # cut off by a node going away: the channel waits for it to come back
                    await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
                    pause = min(pause * 2, 1.0)
                    continue
                raise self._error(name, exc) from exc
            self.reached = True
            return reply

    def _error(self, name: str, exc: grpc.aio.AioRpcError) -> ApiCallError:
        """The call's error; a :class:`ProxyCallError` when the proxy is why the node could not be reached."""
        failure = self._transport.proxy_failure(exc.details() or "")
        if failure is not None and exc.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        ):
            return ProxyCallError(name, exc.code(), failure)
        return ApiCallError(name, exc.code(), exc.details() or "")

    # --- identity -----------------------------------------------------------------------------------------
    async def get_inbox_ids(
        self, identifiers: Sequence[tuple[str, association_pb2.IdentifierKind.ValueType]]
    ) -> dict[str, str | None]:
        """``{identifier: inbox_id or None}`` for each ``(identifier, kind)`` asked about (in calls of at most
        :data:`~pyxmtp.identity.limits.MAX_GET_INBOX_IDS_REQUESTS`)."""
        out: dict[str, str | None] = {}
        for start in range(0, len(identifiers), MAX_GET_INBOX_IDS_REQUESTS):
            request = identity_pb2.GetInboxIdsRequest(
                requests=[
                    identity_pb2.GetInboxIdsRequest.Request(identifier=i, identifier_kind=k)
                    for i, k in identifiers[start : start + MAX_GET_INBOX_IDS_REQUESTS]
                ]
            )
            reply = await self._call("IdentityApi/GetInboxIds", self._identity.GetInboxIds, request)
            assert isinstance(reply, identity_pb2.GetInboxIdsResponse)
            out.update(
                (r.identifier, r.inbox_id if r.HasField("inbox_id") else None) for r in reply.responses
            )
        return out

    async def get_identity_updates(
        self, after: Iterable[tuple[str, int]]
    ) -> dict[str, list[identity_pb2.GetIdentityUpdatesResponse.IdentityUpdateLog]]:
        """Each inbox's updates with a sequence id above the one given (0: the whole log), asking about at most
        :data:`~pyxmtp.identity.limits.IDENTITY_UPDATES_BATCH` inboxes a call, as libxmtp does."""
        wanted = list(after)
        out: dict[str, list[identity_pb2.GetIdentityUpdatesResponse.IdentityUpdateLog]] = {}
        for start in range(0, len(wanted), IDENTITY_UPDATES_BATCH):
            request = identity_pb2.GetIdentityUpdatesRequest(
                requests=[
                    identity_pb2.GetIdentityUpdatesRequest.Request(inbox_id=i, sequence_id=s)
                    for i, s in wanted[start : start + IDENTITY_UPDATES_BATCH]
                ]
            )
            reply = await self._call(
                "IdentityApi/GetIdentityUpdates", self._identity.GetIdentityUpdates, request
            )
            assert isinstance(reply, identity_pb2.GetIdentityUpdatesResponse)
            out.update((r.inbox_id, list(r.updates)) for r in reply.responses)
        return out

    async def publish_identity_update(self, update: association_pb2.IdentityUpdate) -> None:
        request = identity_pb2.PublishIdentityUpdateRequest(identity_update=update)
        await self._call("IdentityApi/PublishIdentityUpdate", self._identity.PublishIdentityUpdate, request)

    # --- key packages -------------------------------------------------------------------------------------
    async def upload_key_package(self, key_package: bytes) -> None:
        request = mls_pb2.UploadKeyPackageRequest(
            key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=key_package),
            is_inbox_id_credential=True,
        )
        await self._call("MlsApi/UploadKeyPackage", self._mls.UploadKeyPackage, request)

    async def fetch_key_packages(self, installation_keys: Sequence[bytes]) -> list[bytes]:
        """The latest key package of each installation, in order (empty bytes where there is none)."""
        request = mls_pb2.FetchKeyPackagesRequest(installation_keys=list(installation_keys))
        reply = await self._call("MlsApi/FetchKeyPackages", self._mls.FetchKeyPackages, request)
        assert isinstance(reply, mls_pb2.FetchKeyPackagesResponse)
        return [k.key_package_tls_serialized for k in reply.key_packages]

    # --- messages -----------------------------------------------------------------------------------------
    async def send_group_messages(self, messages: Sequence[mls_pb2.GroupMessageInput]) -> None:
        for start in range(0, len(messages), MAX_BATCH):
            request = mls_pb2.SendGroupMessagesRequest(messages=messages[start : start + MAX_BATCH])
            await self._call("MlsApi/SendGroupMessages", self._mls.SendGroupMessages, request)

    async def send_welcome_messages(self, messages: Sequence[mls_pb2.WelcomeMessageInput]) -> None:
        for start in range(0, len(messages), MAX_BATCH):
            request = mls_pb2.SendWelcomeMessagesRequest(messages=messages[start : start + MAX_BATCH])
            await self._call("MlsApi/SendWelcomeMessages", self._mls.SendWelcomeMessages, request)

    async def group_messages_after(self, group_id: bytes, cursor: int) -> AsyncIterator[mls_pb2.GroupMessage]:
        """Every message of the group with an id above ``cursor``, oldest first."""
        async for page in self.group_message_pages(group_id, cursor):
            for message in page:
                yield message

    async def group_message_pages(
        self, group_id: bytes, cursor: int
    ) -> AsyncIterator[Sequence[mls_pb2.GroupMessage]]:
        """The group's messages with an id above ``cursor``, oldest first, a page (at most 100) at a time."""

        async def page(paging: mls_pb2.PagingInfo) -> Sequence[mls_pb2.GroupMessage]:
            request = mls_pb2.QueryGroupMessagesRequest(group_id=group_id, paging_info=paging)
            reply = await self._call("MlsApi/QueryGroupMessages", self._mls.QueryGroupMessages, request)
            assert isinstance(reply, mls_pb2.QueryGroupMessagesResponse)
            return reply.messages

        async for items in _pages(page, cursor, lambda m: m.v1.id):
            yield items

    async def welcomes_after(
        self, installation_key: bytes, cursor: int
    ) -> AsyncIterator[mls_pb2.WelcomeMessage]:
        """Every welcome for the installation with an id above ``cursor``, oldest first."""

        async def page(paging: mls_pb2.PagingInfo) -> Sequence[mls_pb2.WelcomeMessage]:
            request = mls_pb2.QueryWelcomeMessagesRequest(
                installation_key=installation_key, paging_info=paging
            )
            reply = await self._call("MlsApi/QueryWelcomeMessages", self._mls.QueryWelcomeMessages, request)
            assert isinstance(reply, mls_pb2.QueryWelcomeMessagesResponse)
            return reply.messages

        async for message in _paged(page, cursor, welcome_id):
            yield message

    # --- streams ------------------------------------------------------------------------------------------
    async def subscribe_group_messages(
        self, filters: Sequence[tuple[bytes, int]], *, on_open: Callable[[], None] | None = None
    ) -> AsyncIterator[mls_pb2.GroupMessage]:
        """The groups' messages after each cursor, then live (the node sends headers at once; no gaps).
        ``on_open`` is called once the node has answered (the subscription is in place)."""
        Filter = mls_pb2.SubscribeGroupMessagesRequest.Filter
        request = mls_pb2.SubscribeGroupMessagesRequest(
            filters=[Filter(group_id=g, id_cursor=c) for g, c in filters]
        )
        async for message in self._stream(
            "MlsApi/SubscribeGroupMessages", self._mls.SubscribeGroupMessages, request, on_open
        ):
            assert isinstance(message, mls_pb2.GroupMessage)
            yield message

    async def subscribe_welcomes(
        self, installation_key: bytes, cursor: int, *, on_open: Callable[[], None] | None = None
    ) -> AsyncIterator[mls_pb2.WelcomeMessage]:
        """Welcomes for the installation after ``cursor``, then live (``on_open``: as for group messages)."""
        Filter = mls_pb2.SubscribeWelcomeMessagesRequest.Filter
        request = mls_pb2.SubscribeWelcomeMessagesRequest(
            filters=[Filter(installation_key=installation_key, id_cursor=cursor)]
        )
        async for message in self._stream(
            "MlsApi/SubscribeWelcomeMessages", self._mls.SubscribeWelcomeMessages, request, on_open
        ):
            assert isinstance(message, mls_pb2.WelcomeMessage)
            yield message

    async def _stream(
        self, name: str, method: Any, request: object, on_open: Callable[[], None] | None = None
    ) -> AsyncIterator[object]:
        call = method(request, wait_for_ready=self.reached)  # no deadline: a stream lives until cancelled
        try:
            if on_open is not None:
                await call.initial_metadata()  # the node sends its headers once it has subscribed
                on_open()
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as exc:
            raise self._error(name, exc) from exc
        finally:
            call.cancel()


def welcome_id(message: mls_pb2.WelcomeMessage) -> int:
    """The node's id of a welcome (a V1 or a pointer)."""
    which = message.WhichOneof("version")
    return int(getattr(message, which).id) if which else 0


async def _pages(
    page: Callable[[mls_pb2.PagingInfo], Awaitable[Sequence[M]]], cursor: int, id_of: Callable[[M], int]
) -> AsyncIterator[Sequence[M]]:
    """Walk ascending pages of :data:`PAGE_SIZE` from ``cursor`` until a short page."""
    while True:
        items = await page(mls_pb2.PagingInfo(direction=_ASC, limit=PAGE_SIZE, id_cursor=cursor))
        if items:
            cursor = max(cursor, max(id_of(item) for item in items))
            yield items
        if len(items) < PAGE_SIZE:
            return


async def _paged(
    page: Callable[[mls_pb2.PagingInfo], Awaitable[Sequence[M]]], cursor: int, id_of: Callable[[M], int]
) -> AsyncIterator[M]:
    """The items of :func:`_pages`, one at a time."""
    async for items in _pages(page, cursor, id_of):
        for item in items:
            yield item
