"""The node: a ``grpc.aio`` server with MlsApi, IdentityApi and D14nMigrationApi over one store.

Every method is wrapped by :func:`_wrap_unary` / :func:`_wrap_stream`, which charge the per-IP rate limit (the
peer address is only visible on the call context, not to a server interceptor), read and parse the request
(malformed protobuf -> INVALID_ARGUMENT), run the handler, turn :class:`~pyxmtp.node.errors.ApiError` into the
call's status, and log one line per call at DEBUG (method, peer, status, duration; never payloads). They are
registered as client-streaming handlers (the same calls on the wire: a unary request is a stream of one
message), so that gRPC hands the call over before it has read the request: a refused call's request is never
read into Python.

What a call costs (see :class:`_Gate`), so that refusing an abusive IP is cheap and a big read pays for its size:

1. before its request is read, the IP's bucket must hold a token: one that does not is refused
   (RESOURCE_EXHAUSTED) at once; before the request is parsed, its size: one token, plus one per full 64 KiB
   (:data:`BYTES_PER_TOKEN`);
2. once parsed, what it asks for, less what step 1 took: one token per element of the request's list (messages
   sent, subscription filters, installation keys, inboxes, identifiers, group ids, commit-log entries,
   signatures), as xmtp-node-go charges a batched send per message;
3. once a unary call has its response, one token per full 64 KiB of it (a page of big messages), taken even if
   the bucket runs dry: the IP's next calls wait for the refill.

A refusal costs the node about as much CPU as a small call (gRPC's own per-call work), so an IP that keeps calling
past its budget has its refusals paced by the tarpit (:mod:`pyxmtp.node.tarpit`): after a burst, each is held
before it is answered, which slows any client that waits for its answers to about its budget.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote

import grpc
from google.protobuf import message as pb_message
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from grpc._cython import cygrpc  # type: ignore[attr-defined]
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.migration.api.v1 import migration_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .config import NodeConfig
from .errors import ApiError, invalid_argument
from .history import HistoryServer, start_history
from .identity_api import IdentityApiService
from .migration_api import MigrationApiService
from .mls_api import Broadcaster, MlsApiService
from .pubsub import Dispatcher
from .ratelimit import READ, WRITE, RateLimiter, RateLimitExceeded
from .store import SqliteStore, Store, StoreError
from .tarpit import Tarpit

# gRPC's error for an operation on a call whose stream the core has already closed; grpc.aio exports no name for it
_CallGoneError: type[Exception] = cygrpc.ExecuteBatchError

log = logging.getLogger("pyxmtp.node")
rpc_log = logging.getLogger("pyxmtp.node.rpc")

Context = grpc.aio.ServicerContext[bytes, bytes]
Handler = Callable[[Any, Context], Awaitable[Any]]

#: Methods charged to the write bucket (xmtp-node-go's publish bucket); every other method is a read.
WRITE_METHODS = frozenset(
    {
        "RegisterInstallation",
        "UploadKeyPackage",
        "PublishIdentityUpdate",
        "SendWelcomeMessages",
        "SendGroupMessages",
    }
)
#: A request's size and a unary response's size cost one token per full this many bytes (see the docstring).
BYTES_PER_TOKEN = 64 * 1024


@functools.lru_cache(maxsize=4096)
def peer_ip(peer: str | None) -> str:
    """The rate-limit key of a caller, from ``context.peer()`` (``ipv4:1.2.3.4:5``, ``ipv6:%5B::1%5D:5``): its IPv4
    address (also when it comes IPv4-mapped on an IPv6 socket), ``::1``, or else the /64 network of its IPv6
    address (a single host is commonly given a whole /64); ``ip_unknown`` if none."""
    if not peer:
        return "ip_unknown"
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0] or "ip_unknown"
    if kind != "ipv6":
        return kind or "ip_unknown"
    host = unquote(rest).rpartition(":")[0].strip("[]")
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host or "ip_unknown"
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.is_loopback:
        return "::1"
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def _items_of(request_class: type[pb_message.Message]) -> Callable[[Any], int] | None:
    """How many items a parsed request asks for: the length of its list field (requests have at most one)."""
    lists = [f.name for f in request_class.DESCRIPTOR.fields if f.is_repeated]
    if not lists:
        return None
    if len(lists) > 1:
        raise ValueError(f"{request_class.DESCRIPTOR.full_name} has several lists: {lists}")
    name = lists[0]
    return lambda request: len(getattr(request, name))


@dataclass(slots=True)
class _Call:
    method: str
    request_class: type[pb_message.Message]
    rate_kind: str
    items: Callable[[Any], int] | None


class _Refused(ApiError):
    """A rate-limit refusal (RESOURCE_EXHAUSTED) of the IP ``ip``: the tarpit may hold it before it is sent."""

    def __init__(self, ip: str, exc: RateLimitExceeded) -> None:
        super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        self.ip = ip


def _parse(call: _Call, raw: bytes) -> Any:
    try:
        return call.request_class.FromString(raw)
    except pb_message.DecodeError as exc:
        raise invalid_argument(f"malformed {call.request_class.DESCRIPTOR.full_name}: {exc}") from exc


class _Gate:
    """Rate limiting, parsing and logging shared by every wrapped method."""

    def __init__(self, limiter: RateLimiter | None, tarpit: Tarpit | None = None) -> None:
        self.limiter = limiter
        self.tarpit = tarpit
        self._open_streams = 0
        self._no_streams = asyncio.Event()
        self._no_streams.set()

    @property
    def open_streams(self) -> int:
        """Streaming calls whose handler has not yet finished (sent its status)."""
        return self._open_streams

    def stream_opened(self) -> None:
        self._open_streams += 1
        self._no_streams.clear()

    def stream_closed(self) -> None:
        self._open_streams -= 1
        if not self._open_streams:
            self._no_streams.set()

    async def streams_ended(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no stream is open (each has sent its status); whether none is."""
        try:
            await asyncio.wait_for(self._no_streams.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def knock(self, call: _Call, context: Context) -> str:
        """The caller's rate-limit key, once its bucket is known to hold a token (step 1, before the read)."""
        limiter = self.limiter
        if limiter is None:
            return ""
        ip = peer_ip(context.peer())
        if limiter.tokens(call.rate_kind, ip) < 1:
            raise _Refused(ip, RateLimitExceeded(call.rate_kind, ip, 1, limiter.capacity(call.rate_kind)))
        return ip

    def admit(self, call: _Call, raw: bytes, ip: str) -> Any:
        """The parsed request, once ``ip``'s bucket has paid for it (steps 1 and 2 of the module docstring).
        RESOURCE_EXHAUSTED when it cannot; INVALID_ARGUMENT for malformed bytes."""
        limiter = self.limiter
        if limiter is None:
            return _parse(call, raw)
        paid = 1 + len(raw) // BYTES_PER_TOKEN
        try:
            limiter.spend(call.rate_kind, ip, paid)
        except RateLimitExceeded as exc:
            raise _Refused(ip, exc) from None
        request = _parse(call, raw)
        if call.items is not None:
            cost = call.items(request)
            if cost > paid:
                try:
                    limiter.spend(call.rate_kind, ip, cost - paid)
                except RateLimitExceeded:
                    whole = RateLimitExceeded(call.rate_kind, ip, cost, limiter.capacity(call.rate_kind))
                    raise _Refused(ip, whole) from None
        return request

    async def refuse(self, refused: _Refused, context: Context) -> None:
        """Hold a refusal in the tarpit (see :mod:`pyxmtp.node.tarpit`) before it is sent."""
        if self.tarpit is not None:
            await self.tarpit.hold(refused.ip, context.time_remaining())

    def charge_response(self, call: _Call, context: Context, size: int) -> None:
        """Step 3: a unary response of ``size`` bytes costs one token per full :data:`BYTES_PER_TOKEN`."""
        if self.limiter is not None and size >= BYTES_PER_TOKEN:
            self.limiter.charge(call.rate_kind, peer_ip(context.peer()), size // BYTES_PER_TOKEN)

    @staticmethod
    def done(call: _Call, context: Context, code: grpc.StatusCode, start: float) -> None:
        if rpc_log.isEnabledFor(logging.DEBUG):
            rpc_log.debug(
                "%s peer=%s status=%s duration_ms=%.2f",
                call.method,
                peer_ip(context.peer()),
                code.name,
                (time.perf_counter() - start) * 1e3,
            )


async def _fail(context: Context, call: _Call, exc: Exception) -> NoReturn:
    """End the call with ``exc``'s status: an ApiError's; UNAVAILABLE for a failing store (a lost database
    connection, a full disk: worth retrying); else INTERNAL after logging the traceback. Details stay in the log."""
    if isinstance(exc, ApiError):
        await context.abort(exc.code, exc.message)
    if isinstance(exc, StoreError):
        log.error("%s failed in the store: %s", call.method, exc)
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"the node's store is unavailable ({call.method})")
    log.exception("%s failed", call.method, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {call.method}")


def _call_gone(call: _Call) -> asyncio.CancelledError:
    """What to raise when gRPC could not send on a call because its stream is already closed (the client reset it,
    or its connection went away during a shutdown) before gRPC told this task so: a cancellation, as gRPC treats
    it once it knows. Nothing sent can reach the client any more."""
    log.info("%s: the client went away before the node's answer was sent", call.method)
    return asyncio.CancelledError()


async def _admitted(gate: _Gate, call: _Call, context: Context) -> Any:
    """Charge, read and parse the request (its raw bytes live only in this frame)."""
    ip = gate.knock(call, context)
    raw = await context.read()
    if not isinstance(raw, bytes):  # EOF: the client closed its side without a request
        raise invalid_argument(f"no {call.request_class.DESCRIPTOR.full_name} was sent")
    return gate.admit(call, raw, ip)


async def _serve(gate: _Gate, call: _Call, fn: Handler, context: Context) -> Any:
    """Run one call of ``fn``: charge, read and parse the request, map errors to the status, log the call."""
    start = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        return await fn(await _admitted(gate, call, context), context)
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED
        raise
    except grpc.aio.AbortError:
        code = context.code() or grpc.StatusCode.UNKNOWN
        raise
    except _CallGoneError:
        code = grpc.StatusCode.CANCELLED
        raise _call_gone(call) from None
    except Exception as exc:
        code = exc.code if isinstance(exc, ApiError) else grpc.StatusCode.INTERNAL
        try:
            if isinstance(exc, _Refused):
                # nothing of the request is kept while the refusal is held: its bytes are referenced only from
                # the frames of the traceback (a request refused for its size has been read)
                exc.__traceback__ = exc.__context__ = None
                try:
                    await gate.refuse(exc, context)
                except asyncio.CancelledError:  # the client gave up (or its deadline passed) while held
                    code = grpc.StatusCode.CANCELLED
                    raise
            await _fail(context, call, exc)
        except _CallGoneError:
            code = grpc.StatusCode.CANCELLED
            raise _call_gone(call) from None
    finally:
        gate.done(call, context, code, start)


Requests = AsyncIterator[bytes]


def _wrap_unary(gate: _Gate, call: _Call, fn: Handler) -> Callable[[Requests, Context], Awaitable[bytes]]:
    async def handler(requests: Requests, context: Context) -> bytes:
        response = await _serve(gate, call, fn, context)
        data: bytes = response.SerializeToString()
        gate.charge_response(call, context, len(data))
        return data

    return handler


def _wrap_stream(gate: _Gate, call: _Call, fn: Handler) -> Callable[[Requests, Context], Awaitable[None]]:
    async def handler(requests: Requests, context: Context) -> None:
        gate.stream_opened()
        try:
            await _serve(gate, call, fn, context)
        finally:
            gate.stream_closed()

    return handler


def _unimplemented(method: MethodDescriptor) -> grpc.RpcMethodHandler[Any, Any]:
    async def unary(raw: bytes, context: Context) -> bytes:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method.name} is not implemented by this node")
        return b""  # pragma: no cover

    async def streaming(requests: AsyncIterator[bytes], context: Context) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method.name} is not implemented by this node")

    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(streaming)
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(streaming)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(unary)
    return grpc.unary_unary_rpc_method_handler(unary)


def service_handler(service: ServiceDescriptor, servicer: object, gate: _Gate) -> grpc.GenericRpcHandler:
    """A generic handler for every method of ``service``; methods ``servicer`` lacks answer UNIMPLEMENTED."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in service.methods:
        fn = getattr(servicer, method.name, None)
        if fn is None or method.client_streaming:
            handlers[method.name] = _unimplemented(method)
            continue
        request_class = message_factory.GetMessageClass(method.input_type)
        call = _Call(
            f"{service.name}/{method.name}",
            request_class,
            WRITE if method.name in WRITE_METHODS else READ,
            _items_of(request_class),
        )
        # client-streaming on our side only: gRPC calls the handler before reading the request (see above)
        if method.server_streaming:
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(_wrap_stream(gate, call, fn))
        else:
            handlers[method.name] = grpc.stream_unary_rpc_method_handler(_wrap_unary(gate, call, fn))
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _bind_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _listen(server: grpc.aio.Server, config: NodeConfig) -> int:
    """Bind the port: TLS when the config names a certificate and key, plaintext otherwise."""
    address = _bind_address(config.host, config.port)
    if (config.tls_cert is None) != (config.tls_key is None):
        raise OSError("TLS needs both a certificate and its private key")
    if config.tls_cert is None or config.tls_key is None:
        return server.add_insecure_port(address)
    try:
        chain, key = Path(config.tls_cert).read_bytes(), Path(config.tls_key).read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read the TLS certificate or key: {exc}") from exc
    return server.add_secure_port(address, grpc.ssl_server_credentials([(key, chain)]))


#: At most this long (and never beyond the grace period) a shutdown waits for the ended streams to send their status.
STREAMS_END_WAIT = 1.0

#: What the standard gRPC health service (grpc.health.v1.Health) reports on: the whole server ("") and each API.
HEALTH_SERVICES = (
    "",
    mls_pb2.DESCRIPTOR.services_by_name["MlsApi"].full_name,
    identity_pb2.DESCRIPTOR.services_by_name["IdentityApi"].full_name,
)


class Node:
    """A running node. ``await Node.start(config)``; then :meth:`stop`."""

    def __init__(
        self,
        config: NodeConfig,
        store: Store,
        server: grpc.aio.Server,
        port: int,
        dispatcher: Dispatcher,
        health: health_aio.HealthServicer,
        gate: _Gate,
    ) -> None:
        self.config = config
        self.store = store
        self.server = server
        self.port = port
        self.dispatcher = dispatcher
        self.health = health
        self.gate = gate
        self.history: HistoryServer | None = None  # the history server, when config.history_port is set
        self._stopped = False

    @property
    def address(self) -> str:
        return _bind_address(self.config.host, self.port)

    @classmethod
    async def start(cls, config: NodeConfig, store: Store | None = None) -> Node:
        """Open the store (PostgreSQL at ``config.database_url`` if set, else SQLite in ``config.data_dir``) unless
        one is given, bind, and start serving."""
        if store is None and config.database_url:
            from .store.postgres import PostgresStore  # the optional postgres extra

            store = await PostgresStore.open(
                config.database_url,
                schema=config.database_schema,
                read_dsn=config.read_database_url,
                replica_wait=config.read_replica_wait,
            )
        if store is None:
            store = await SqliteStore.open(
                config.data_dir,
                synchronous=config.sqlite_synchronous,
                read_threads=config.sqlite_read_threads,
            )
        try:
            dispatcher = Dispatcher(config.subscriber_backlog, config.subscriber_backlog_bytes)
            store.add_listener(Broadcaster(dispatcher))
            gate = _Gate(
                RateLimiter(config.rate_limits) if config.rate_limits is not None else None,
                Tarpit(config.tarpit)
                if config.rate_limits is not None and config.tarpit is not None
                else None,
            )
            server = grpc.aio.server(
                options=[
                    ("grpc.max_receive_message_length", config.max_message_bytes),
                    ("grpc.max_send_message_length", config.max_message_bytes),
                    ("grpc.so_reuseport", 1 if config.reuse_port else 0),
                    ("grpc.keepalive_time_ms", 5 * 60 * 1000),
                    ("grpc.http2.min_ping_interval_without_data_ms", 15_000),
                    ("grpc.keepalive_permit_without_calls", 1),
                ]
            )
            health = health_aio.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(health, server)
            server.add_generic_rpc_handlers(
                (
                    service_handler(
                        mls_pb2.DESCRIPTOR.services_by_name["MlsApi"], MlsApiService(store, dispatcher), gate
                    ),
                    service_handler(
                        identity_pb2.DESCRIPTOR.services_by_name["IdentityApi"],
                        IdentityApiService(store, scw_verifier=config.scw_verifier),
                        gate,
                    ),
                    service_handler(
                        migration_pb2.DESCRIPTOR.services_by_name["D14nMigrationApi"],
                        MigrationApiService(config.d14n_cutover_ns),
                        gate,
                    ),
                )
            )
            try:
                port = _listen(server, config)
            except RuntimeError as exc:
                raise OSError(f"cannot listen on {_bind_address(config.host, config.port)}: {exc}") from exc
            if port == 0:
                raise OSError(f"cannot listen on {_bind_address(config.host, config.port)}")
            await server.start()
            for service in HEALTH_SERVICES:
                await health.set(service, health_pb2.HealthCheckResponse.SERVING)
            history = await start_history(config, gate.limiter, server)
        except BaseException:
            await store.close()
            raise
        node = cls(config, store, server, port, dispatcher, health, gate)
        node.history = history
        scheme = "TLS" if config.tls_cert is not None else "plaintext"
        log.info("pyxmtp node listening on %s, %s (data in %s)", node.address, scheme, store.description)
        return node

    async def stop(self, grace: float | None = None) -> None:
        """End subscriptions (each stream's status goes out first), let in-flight calls finish for ``grace`` seconds,
        close the store."""
        if self._stopped:
            return
        self._stopped = True
        await self.health.enter_graceful_shutdown()  # NOT_SERVING: load balancers stop sending calls
        grace = self.config.grace_period if grace is None else grace
        self.dispatcher.close()  # each stream ends with UNAVAILABLE "service is shutting down"
        if self.gate.tarpit is not None:
            self.gate.tarpit.release()  # held refusals are answered now
        # let those statuses go out before the server's GOAWAY, so no client sees its connection close under a stream
        await self.gate.streams_ended(min(grace, STREAMS_END_WAIT))
        if self.history is not None:
            await self.history.stop()
        await self.server.stop(grace)
        await self.store.close()
        log.info("pyxmtp node stopped")

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()
