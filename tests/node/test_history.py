"""The node's history server (libxmtp's device-sync upload/download API) over real HTTP on loopback: round trips
as libxmtp does them, the 15 MB cap with and without Content-Length, broken uploads, bad ids and path traversal,
expiry, the storage cap, the per-IP budgets shared with the gRPC API, and the node and CLI integration."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest

from pyxmtp.node import BucketLimit, Node, NodeConfig, RateLimits
from pyxmtp.node.history import FILE_TTL, MAX_UPLOAD_BYTES, HistoryServer
from pyxmtp.node.ratelimit import RateLimiter
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .conftest import StartNode, connect
from .procs import NodeProcess

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[HistoryServer]:
    server = await HistoryServer.start(tmp_path / "history", "127.0.0.1", 0, None)
    yield server
    await server.stop()


def http(server: HistoryServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=30)


def stored(server: HistoryServer) -> list[str]:
    return sorted(p.name for p in server.directory.iterdir())


async def raw(server: HistoryServer, request: bytes, body: bytes = b"", *, close: bool = False) -> bytes:
    """Send ``request`` (and ``body``) on a fresh connection; the whole answer (b"" if closed unanswered)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request + body)
        await writer.drain()
        if close:
            return b""
        return await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()


async def chunks(total: int, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield os.urandom(n)
        sent += n


async def gone(server: HistoryServer, what: str) -> None:
    """Wait until no ``.part`` file is left (an aborted upload has been cleaned up)."""
    deadline = asyncio.get_running_loop().time() + 30
    while any(name.endswith(".part") for name in stored(server)) or server.stored_bytes != sum(
        (server.directory / n).stat().st_size for n in stored(server)
    ):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


# --- the API as libxmtp uses it ---------------------------------------------------------------------------------


async def test_upload_returns_a_uuid4_and_the_bytes_download_again(history: HistoryServer) -> None:
    payload = os.urandom(100_000)
    async with http(history) as client:
        up = await client.post("/upload", content=payload)
        assert up.status_code == 200
        assert UUID4.fullmatch(up.text), up.text
        for _ in range(2):  # a download does not consume the file
            down = await client.get(f"/files/{up.text}")
            assert down.status_code == 200
            assert down.headers["content-type"] == "application/octet-stream"
            assert down.content == payload
        health = await client.get("/")
        assert health.status_code == 200 and health.content == b""
    assert stored(history) == [up.text]
    assert stat.S_IMODE(history.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((history.directory / up.text).stat().st_mode) == 0o600


async def test_a_chunked_upload_without_content_length_works_like_libxmtps(history: HistoryServer) -> None:
    async with http(history) as client:
        parts = [os.urandom(70_000) for _ in range(20)]

        async def body() -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        up = await client.post("/upload", content=body())
        assert up.status_code == 200, up.text
        assert (await client.get(f"/files/{up.text}")).content == b"".join(parts)
        ids = {up.text}
        for _ in range(20):
            ids.add((await client.post("/upload", content=b"x")).text)
    assert len(ids) == 21  # fresh ids every time


async def test_cors_preflight_and_headers_let_browser_clients_upload(history: HistoryServer) -> None:
    async with http(history) as client:
        pre = await client.options("/upload", headers={"Origin": "https://app.example"})
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == "*"
        up = await client.post("/upload", content=b"z" * 20)
        assert up.headers["access-control-allow-origin"] == "*"


# --- the upload cap ---------------------------------------------------------------------------------------------


async def test_the_15_mb_cap_with_content_length(history: HistoryServer) -> None:
    async with http(history) as client:
        exact = await client.post("/upload", content=os.urandom(MAX_UPLOAD_BYTES))
        assert exact.status_code == 200
    answer = await raw(
        history,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_UPLOAD_BYTES + 1),
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert b"at most 15000000 bytes" in answer
    assert stored(history) == [exact.text]


async def test_the_15_mb_cap_on_a_chunked_upload_deletes_the_partial_file(history: HistoryServer) -> None:
    async with http(history) as client:
        over = await client.post("/upload", content=chunks(MAX_UPLOAD_BYTES + 1))
        assert over.status_code == 413
        assert "at most 15000000 bytes" in over.text
        ok = await client.post("/upload", content=chunks(MAX_UPLOAD_BYTES))
        assert ok.status_code == 200
    await gone(history, "the partial upload to be deleted")
    assert stored(history) == [ok.text]
    assert history.stored_bytes == MAX_UPLOAD_BYTES


async def test_a_body_longer_than_its_content_length_is_not_stored_beyond_it(history: HistoryServer) -> None:
    # the extra bytes read as a second, malformed request on the connection: refused, never stored
    answer = await raw(
        history, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", b"12345EXTRA"
    )
    assert b" 400 " in answer
    assert all((history.directory / name).read_bytes() == b"12345" for name in stored(history))


async def test_empty_and_broken_uploads_leave_nothing(history: HistoryServer) -> None:
    async with http(history) as client:
        empty = await client.post("/upload", content=b"")
        assert empty.status_code == 400 and "empty upload" in empty.text

        async def nothing() -> AsyncIterator[bytes]:
            if False:  # pragma: no cover
                yield b""

        assert (await client.post("/upload", content=nothing())).status_code == 400
    # the client goes away mid-body: with a Content-Length, and chunked
    await raw(
        history,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
        b"a" * 5000,
        close=True,
    )
    await raw(
        history,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"1000\r\n" + b"b" * 4096 + b"\r\n",
        close=True,
    )
    # malformed chunked framing
    bad = await raw(
        history,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"zz\r\nxx\r\n0\r\n\r\n",
    )
    assert bad.split(b" ")[1] == b"400", bad[:60]
    await gone(history, "the broken uploads to be cleaned up")
    assert stored(history) == [] and history.stored_bytes == 0


async def test_a_slow_drip_upload_times_out(tmp_path: Path) -> None:
    server = await HistoryServer.start(tmp_path / "h", "127.0.0.1", 0, None, upload_timeout=0.5)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 30)  # never send the rest
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:60]
        await gone(server, "the timed-out upload to be deleted")
        assert stored(server) == []
    finally:
        await server.stop()


# --- downloads: ids, traversal, expiry --------------------------------------------------------------------------


async def test_unknown_and_malformed_ids_and_path_traversal_are_404(
    history: HistoryServer, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text("do not serve")
    async with http(history) as client:
        real = (await client.post("/upload", content=b"archive")).text
        for path in (
            "/files/00000000-0000-4000-8000-000000000000",
            "/files/not-a-uuid",
            f"/files/{real.upper()}",
            f"/files/{real.replace('-', '')}",
            f"/files/{{{real}}}",
            f"/files/urn:uuid:{real}",
            f"/files/.{real}.part",
            "/files/",
            f"/files/{real}/x",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert b"archive" not in response.content
    for target in (
        b"/files/../secret",
        b"/files/..%2fsecret",
        b"/files/..%2F..%2Fsecret",
        b"/files/%2e%2e%2fsecret",
        b"/files/..\\secret",
        b"/files/" + str(tmp_path / "secret").encode(),
        b"/files//etc/passwd",
    ):
        answer = await raw(history, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.split(b" ")[1] in (b"404", b"400"), (target, answer[:60])
        assert b"do not serve" not in answer and b"root:" not in answer


async def test_files_expire_after_7_days_and_cleanup_deletes_them(tmp_path: Path) -> None:
    now = [1_000_000_000.0]
    server = await HistoryServer.start(tmp_path / "h", "127.0.0.1", 0, None, clock=lambda: now[0])
    try:
        async with http(server) as client:
            old = (await client.post("/upload", content=b"old")).text
            young = (await client.post("/upload", content=b"young")).text
            os.utime(server.directory / old, (now[0] - FILE_TTL, now[0] - FILE_TTL))
            os.utime(server.directory / young, (now[0] - FILE_TTL + 60, now[0] - FILE_TTL + 60))
            assert (await client.get(f"/files/{old}")).status_code == 404
            assert (await client.get(f"/files/{young}")).status_code == 200
            assert await server.cleanup() == 1
            assert stored(server) == [young]
            assert server.stored_bytes == len(b"young")
    finally:
        await server.stop()


async def test_start_drops_leftover_partial_uploads_and_expired_files(tmp_path: Path) -> None:
    directory = tmp_path / "h"
    directory.mkdir(mode=0o755)
    (directory / ".0b6d2a62-0000-4000-8000-000000000000.part").write_bytes(b"half")
    expired = directory / "0b6d2a62-0000-4000-8000-000000000001"
    expired.write_bytes(b"old")
    os.utime(expired, (0, 0))
    kept = directory / "0b6d2a62-0000-4000-8000-000000000002"
    kept.write_bytes(b"kept")
    server = await HistoryServer.start(directory, "127.0.0.1", 0, None)
    try:
        assert stored(server) == [kept.name]
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert server.stored_bytes == 4
    finally:
        await server.stop()


async def test_uploads_are_refused_when_the_storage_is_full(tmp_path: Path) -> None:
    server = await HistoryServer.start(tmp_path / "h", "127.0.0.1", 0, None, max_stored_bytes=100)
    try:
        async with http(server) as client:
            first = await client.post("/upload", content=b"a" * 80)
            assert first.status_code == 200
            full = await client.post("/upload", content=b"b" * 30)
            assert full.status_code == 507
            chunked = await client.post("/upload", content=chunks(30, 10))
            assert chunked.status_code == 507
            assert (await client.post("/upload", content=b"c" * 20)).status_code == 200
        await gone(server, "refused uploads to be released")
        assert server.stored_bytes == 100
    finally:
        await server.stop()


# --- rate limits ------------------------------------------------------------------------------------------------


async def test_uploads_and_downloads_spend_the_ip_budgets(tmp_path: Path) -> None:
    limiter = RateLimiter(RateLimits(read=BucketLimit(5, 1), write=BucketLimit(5, 1)), clock=lambda: 0.0)
    server = await HistoryServer.start(tmp_path / "h", "127.0.0.1", 0, limiter)
    try:
        async with http(server) as client:
            first = await client.post("/upload", content=b"x" * 150_000)  # 1 + 2 tokens
            assert first.status_code == 200
            assert limiter.tokens("write", "127.0.0.1") == 2
            assert (await client.post("/upload", content=b"y")).status_code == 200  # 1 + 1
            refused = await client.post("/upload", content=b"z")
            assert refused.status_code == 429 and "rate limit exceeded" in refused.text
            assert (await client.get(f"/files/{first.text}")).status_code == 200  # 1 + 2
            assert (await client.get("/files/00000000-0000-4000-8000-000000000000")).status_code == 404  # 1
            assert limiter.tokens("read", "127.0.0.1") == 1
            assert (await client.get(f"/files/{first.text}")).status_code == 429
        assert len(stored(server)) == 2
    finally:
        await server.stop()


async def test_a_chunked_upload_pays_as_it_grows(tmp_path: Path) -> None:
    limiter = RateLimiter(RateLimits(write=BucketLimit(4, 1)), clock=lambda: 0.0)
    server = await HistoryServer.start(tmp_path / "h", "127.0.0.1", 0, limiter)
    try:
        async with http(server) as client:
            refused = await client.post("/upload", content=chunks(1_000_000, 50_000))  # needs 11 tokens
            assert refused.status_code == 429
        await gone(server, "the refused upload to be deleted")
        assert stored(server) == []
    finally:
        await server.stop()


# --- in the node ------------------------------------------------------------------------------------------------


async def test_the_node_serves_it_and_shares_the_grpc_budget(start_node: StartNode, tmp_path: Path) -> None:
    node = await start_node(
        history_port=0, rate_limits=RateLimits(read=BucketLimit(100, 1), write=BucketLimit(4, 1))
    )
    assert node.history is not None and node.history.port not in (0, node.port)
    assert node.history.directory == tmp_path / "data" / "history"
    async with http(node.history) as client:
        up = await client.post("/upload", content=b"archive")  # 2 write tokens
        assert up.status_code == 200
        grpc_client = connect(node.address)
        for _ in range(2):  # the last 2 write tokens, spent over gRPC
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await grpc_client.mls.UploadKeyPackage(mls_pb2.UploadKeyPackageRequest())
            assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await grpc_client.mls.UploadKeyPackage(mls_pb2.UploadKeyPackageRequest())
        assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await client.post("/upload", content=b"more")).status_code == 429
        await grpc_client.channel.close()
    port = node.history.port
    await node.stop(grace=0)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_no_history_server_unless_configured(start_node: StartNode) -> None:
    node = await start_node()
    assert node.history is None


async def test_a_busy_history_port_fails_the_start_cleanly(start_node: StartNode, tmp_path: Path) -> None:
    other = await HistoryServer.start(tmp_path / "other", "127.0.0.1", 0, None)
    try:
        with pytest.raises(OSError, match="cannot start the history server"):
            await start_node(history_port=other.port)
        node = await start_node(history_port=0)  # the store was released: the same data dir starts again
        assert node.history is not None
    finally:
        await other.stop()


def test_cli_node_serves_history_on_its_own_port(tmp_path: Path) -> None:
    proc = NodeProcess(tmp_path / "data", 0, "--history-port", "0", "--log-level", "debug")
    try:
        proc.wait_listening()  # the gRPC port is announced after the history server started
        found = re.search(r"history server at http://127\.0\.0\.1:(\d+)", proc.log())
        assert found, proc.log()
        base = f"http://127.0.0.1:{found.group(1)}"
        up = httpx.post(f"{base}/upload", content=b"from the cli test")
        assert up.status_code == 200
        assert httpx.get(f"{base}/files/{up.text}").content == b"from the cli test"
        assert (tmp_path / "data" / "history" / up.text).exists()
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
        log = proc.log()
        assert up.text not in log  # the id is a capability: only a prefix is logged
        assert up.text[:8] in log
    finally:
        proc.kill()


def test_cli_no_history(tmp_path: Path) -> None:
    proc = NodeProcess(tmp_path / "data", 0)  # the helper passes --no-history
    try:
        proc.wait_listening()
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
        assert "history server" not in proc.log()
        assert not (tmp_path / "data" / "history").exists()
    finally:
        proc.kill()


async def test_a_tls_node_serves_the_history_server_over_https(tmp_path: Path) -> None:
    from tests.client.test_tls import self_signed

    cert, key, pem = self_signed(tmp_path)
    node = await Node.start(
        NodeConfig(
            host="127.0.0.1",
            port=0,
            data_dir=tmp_path / "node",
            rate_limits=None,
            tls_cert=cert,
            tls_key=key,
            history_port=0,
        )
    )
    try:
        assert node.history is not None and node.history.scheme == "https"
        context = ssl.create_default_context(cadata=pem.decode())
        base = f"https://127.0.0.1:{node.history.port}"
        async with httpx.AsyncClient(base_url=base, verify=context) as client:
            up = await client.post("/upload", content=b"over tls")
            assert up.status_code == 200
            assert (await client.get(f"/files/{up.text}")).content == b"over tls"
        with pytest.raises(httpx.HTTPError):  # no plaintext on that port
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.history.port}") as plain:
                await plain.get("/")
    finally:
        await node.stop(grace=0)
