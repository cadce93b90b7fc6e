"""The history server: libxmtp's device-sync file drop (xmtp-message-history-server's HTTP API), beside the node.

An installation that answers a sync request uploads an encrypted archive with ``POST /upload`` and sends the
returned id (as ``{url}/files/{id}``) and the key to its other installations inside their MLS-encrypted sync
group; they fetch it with ``GET /files/{id}``. The server learns nothing: the archive is AES-256-GCM encrypted by
the client (``pyxmtp.conversations.archive``), and the id is the only capability, a random UUID v4
(``uuid.uuid4``: 122 bits from ``os.urandom``).

=====================  ===================================================================================
``POST /upload``       body: the archive (``Content-Length`` or chunked; libxmtp streams it chunked, with no
                       content type). 200 with the id as text. 400: empty or cut-short body. 413: more than
                       ``max_upload_bytes`` (15 000 000, the reference server's cap; it answers 400, libxmtp
                       treats any non-2xx alike). 429: the client IP's write budget is spent. 507: the server's
                       total storage is full. 503: too many uploads at once.
``GET /files/{id}``    200 ``application/octet-stream`` with the stored bytes; 404 for an id that is not a
                       lower-case UUID v4, absent or expired. 429: the IP's read budget is spent.
``GET /``              200, empty: health check.
=====================  ===================================================================================

Files live in ``directory`` (owner-only: 0700, files 0600) as ``<id>``; an upload is written to ``.<id>.part``,
fsynced and renamed, so a download never sees half a file and an acknowledged upload survives a crash. A refused
or broken upload leaves nothing. Files expire ``ttl`` (7 days) after upload: a download checks, and a cleanup
pass runs at start and every ``cleanup_interval`` seconds (leftover ``.part`` files go at start).

Rate limits are the node's per-IP buckets (the same :class:`~pyxmtp.node.ratelimit.RateLimiter` instance as the
gRPC API): an upload costs one write token plus one per started 100 000 bytes, a download one read token plus
one per started 100 000 bytes (a lookup of an unknown id still costs its token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from .ratelimit import READ, WRITE, RateLimiter, RateLimitExceeded

if TYPE_CHECKING:
    import grpc

    from .config import NodeConfig

log = logging.getLogger("pyxmtp.node.history")

#: The reference server's upload cap.
MAX_UPLOAD_BYTES = 15_000_000
#: How long an upload is kept (the reference server's 7 days).
FILE_TTL = 7 * 24 * 3600.0
CLEANUP_INTERVAL = 3600.0
#: Total bytes stored (complete and in-flight uploads) before uploads are refused with 507.
MAX_STORED_BYTES = 10 * 1024**3
#: Uploads in flight at once before more are refused with 503.
MAX_CONCURRENT_UPLOADS = 64
#: Seconds an upload may take from its first byte to its last (against slow-drip uploads).
UPLOAD_TIMEOUT = 300.0
#: Rate-limit tokens: one per request plus one per started block of this many bytes.
BYTES_PER_TOKEN = 100_000

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_PART_SUFFIX = ".part"
_WRITE_BLOCK = 1024 * 1024
_READ_CHUNK = 64 * 1024
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "*",
}


def _tokens(size: int) -> int:
    return -(-size // BYTES_PER_TOKEN)


def _short(file_id: str) -> str:
    """What the log shows of an id: enough to correlate, too little to download."""
    return file_id[:8]


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class HistoryServer:
    """``server = await HistoryServer.start(directory, host, port, limiter)``; ``server.port``; ``await
    server.stop()``."""

    def __init__(
        self,
        directory: Path,
        limiter: RateLimiter | None,
        *,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_stored_bytes: int = MAX_STORED_BYTES,
        ttl: float = FILE_TTL,
        cleanup_interval: float = CLEANUP_INTERVAL,
        upload_timeout: float = UPLOAD_TIMEOUT,
        max_concurrent_uploads: int = MAX_CONCURRENT_UPLOADS,
        grace_period: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.limiter = limiter
        self.max_upload_bytes = max_upload_bytes
        self.max_stored_bytes = max_stored_bytes
        self.ttl = ttl
        self.cleanup_interval = cleanup_interval
        self.upload_timeout = upload_timeout
        self.max_concurrent_uploads = max_concurrent_uploads
        self.grace_period = grace_period
        self._clock = clock
        self._complete = 0  # bytes of the complete files
        self._reserved = 0  # bytes reserved by the uploads in flight
        self._uploads = 0
        self._runner: web.AppRunner | None = None
        self._cleaner: asyncio.Task[None] | None = None
        self.port = 0
        self.scheme = "http"

    # -- lifecycle --------------------------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        directory: Path,
        host: str,
        port: int,
        limiter: RateLimiter | None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        **options: object,
    ) -> HistoryServer:
        """Prepare ``directory``, drop leftovers and expired files, and listen on ``host:port`` (0: a free port)."""
        server = cls(directory, limiter, **options)  # type: ignore[arg-type]
        await asyncio.to_thread(server._prepare)
        app = web.Application(middlewares=[server._middleware])
        app.router.add_get("/", server._health)
        app.router.add_post("/upload", server._upload)
        app.router.add_get("/files/{file_id}", server._download)
        # lingering: after a refused upload, drain the client's body for at most 2 s so it can read the answer
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            lingering_time=2.0,
            shutdown_timeout=server.grace_period,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        server._runner = runner
        server.port = int(runner.addresses[0][1])
        server.scheme = "https" if ssl_context is not None else "http"
        server._cleaner = asyncio.create_task(server._clean_periodically(), name="history-cleanup")
        # (not "listening on": that phrase announces the node's gRPC address)
        log.info("history server at %s://%s:%d (files in %s)", server.scheme, host, server.port, directory)
        return server

    async def stop(self) -> None:
        """Stop listening; requests in flight get ``grace_period`` seconds to finish."""
        if self._cleaner is not None:
            self._cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaner
            self._cleaner = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _prepare(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        for path in self.directory.iterdir():
            if path.name.endswith(_PART_SUFFIX):
                path.unlink(missing_ok=True)  # an upload the last run never finished
        self._expire()

    @property
    def stored_bytes(self) -> int:
        """Bytes of the stored files plus those reserved by uploads in flight."""
        return self._complete + self._reserved

    def _expire(self) -> int:
        """Delete expired files and recount the stored bytes; how many files were deleted."""
        deleted = 0
        complete = 0
        now = self._clock()
        for path in self.directory.iterdir():
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if now - st.st_mtime >= self.ttl:
                path.unlink(missing_ok=True)
                deleted += 1
            elif not path.name.endswith(_PART_SUFFIX):
                complete += st.st_size
        self._complete = complete
        return deleted

    async def cleanup(self) -> int:
        """One cleanup pass now (also run at start and periodically); how many expired files it deleted."""
        deleted = await asyncio.to_thread(self._expire)
        if deleted:
            log.info("history server: %d expired file(s) deleted", deleted)
        return deleted

    async def _clean_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.cleanup_interval)
            try:
                await self.cleanup()
            except OSError as exc:
                log.error("history cleanup failed: %s", exc)

    # -- requests ---------------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            try:
                if request.method == "OPTIONS":  # a browser's CORS preflight, for any path
                    response: web.StreamResponse = web.Response(status=204)
                else:
                    response = await handler(request)
            except _Refused as refused:
                response = web.Response(status=refused.status, text=refused.reason + "\n")
            except web.HTTPException as exc:  # aiohttp's own: 404 unknown path, 405 method
                status = exc.status
                raise
            status = response.status
            response.headers.update(_CORS)
            return response
        finally:
            if log.isEnabledFor(logging.DEBUG):
                path = request.path
                if request.match_info.get("file_id"):
                    path = "/files/" + _short(request.match_info["file_id"]) + "..."
                log.debug(
                    "%s %s peer=%s status=%d duration_ms=%.2f",
                    request.method,
                    path,
                    self._ip(request),
                    status,
                    (time.perf_counter() - start) * 1e3,
                )

    @staticmethod
    def _ip(request: web.Request) -> str:
        return request.remote or "ip_unknown"

    def _spend(self, kind: str, request: web.Request, cost: int) -> None:
        if self.limiter is None or cost <= 0:
            return
        try:
            self.limiter.spend(kind, self._ip(request), cost)
        except RateLimitExceeded as exc:
            raise _Refused(429, str(exc)) from None

    def _reserve(self, size: int) -> None:
        if self.stored_bytes + size > self.max_stored_bytes:
            raise _Refused(507, "the history server's storage is full")
        self._reserved += size

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _upload(self, request: web.Request) -> web.Response:
        declared = request.content_length
        if declared is not None and declared > self.max_upload_bytes:
            raise _Refused(413, f"an upload may hold at most {self.max_upload_bytes} bytes")
        if declared == 0:
            raise _Refused(400, "empty upload")
        self._spend(WRITE, request, 1 + _tokens(declared or 0))
        if self._uploads >= self.max_concurrent_uploads:
            raise _Refused(503, "too many uploads in progress; retry later")
        self._uploads += 1
        reserved = 0
        stored = False
        file_id = str(uuid.uuid4())
        part = self.directory / f".{file_id}{_PART_SUFFIX}"
        fd = -1
        try:
            self._reserve(declared or 0)
            reserved = declared or 0
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            received = 0
            block = bytearray()
            async with asyncio.timeout(self.upload_timeout):
                while True:
                    try:
                        chunk = await request.content.read(_READ_CHUNK)
                    except Exception as exc:  # the client went away or broke the framing
                        raise _Refused(400, f"the upload was cut short ({type(exc).__name__})") from None
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > self.max_upload_bytes:
                        raise _Refused(413, f"an upload may hold at most {self.max_upload_bytes} bytes")
                    if received > reserved:  # chunked (or lying) upload: pay and reserve as it grows
                        self._spend(WRITE, request, _tokens(received) - _tokens(reserved))
                        self._reserve(received - reserved)
                        reserved = received
                    block += chunk
                    if len(block) >= _WRITE_BLOCK:
                        await asyncio.to_thread(_write_all, fd, bytes(block))
                        block.clear()
            if received == 0:
                raise _Refused(400, "empty upload")
            if declared is not None and received != declared:
                raise _Refused(400, f"the upload was cut short ({received} of {declared} bytes)")
            last, fd = fd, -1  # _finish closes it
            await asyncio.to_thread(_finish, last, bytes(block), part, self.directory / file_id)
            self._reserved -= reserved
            self._complete += received
            reserved = 0
            stored = True
        except TimeoutError:
            raise _Refused(408, f"the upload took longer than {self.upload_timeout:.0f} s") from None
        except OSError as exc:
            log.error("history server cannot store an upload: %s", exc)
            raise _Refused(500, "the history server cannot store the upload") from None
        finally:
            self._uploads -= 1
            self._reserved -= reserved
            if fd >= 0:
                os.close(fd)
            if not stored:
                with contextlib.suppress(OSError):
                    part.unlink(missing_ok=True)
        log.info("history upload %s...: %d bytes from %s", _short(file_id), received, self._ip(request))
        return web.Response(status=200, text=file_id, content_type="text/plain")

    async def _download(self, request: web.Request) -> web.StreamResponse:
        self._spend(READ, request, 1)
        file_id = request.match_info["file_id"]
        if not _ID.fullmatch(file_id):
            raise _Refused(404, "no such file")
        path = self.directory / file_id
        try:
            st = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            raise _Refused(404, "no such file") from None
        if self._clock() - st.st_mtime >= self.ttl:
            raise _Refused(404, "no such file")  # expired; the next cleanup deletes it
        self._spend(READ, request, _tokens(st.st_size))
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "application/octet-stream",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _finish(fd: int, data: bytes, part: Path, final: Path) -> None:
    """Write the last bytes, make them durable, and publish the file under its id."""
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _ssl_context(config: NodeConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def start_history(
    config: NodeConfig, limiter: RateLimiter | None, grpc_server: grpc.aio.Server
) -> HistoryServer | None:
    """The node's history server per ``config`` (None when ``history_port`` is None): on ``config.host``, TLS with
    the node's certificate when it has one, files in ``history_dir`` (default ``data_dir/history``), the node's
    rate limiter. If it cannot start, the already started gRPC server is stopped and the error raised."""
    if config.history_port is None:
        return None
    directory = config.history_dir if config.history_dir is not None else Path(config.data_dir) / "history"
    try:
        return await HistoryServer.start(
            directory,
            config.host,
            config.history_port,
            limiter,
            ssl_context=_ssl_context(config),
            max_stored_bytes=config.history_max_bytes,
            grace_period=config.grace_period,
        )
    except BaseException as exc:
        await grpc_server.stop(None)
        if isinstance(exc, OSError):
            raise OSError(f"cannot start the history server on port {config.history_port}: {exc}") from exc
        raise
