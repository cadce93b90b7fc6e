"""Remote attachments over real HTTPS: an upload hook storing the encrypted payload on a local HTTPS server (a
thread on loopback, its certificate made here), and the default downloader fetching it back, checking the
digest and decrypting; tampered, oversize, redirected, encoded and unreachable payloads are refused with typed
errors."""

from __future__ import annotations

import hashlib
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyxmtp.client.attachments import (
    AttachmentFetchError,
    AttachmentTooLargeError,
    AttachmentUploadError,
    HttpsDownloader,
    download_attachment,
    download_content,
    upload_attachment,
)
from pyxmtp.conversations.content import (
    Attachment,
    AttachmentDigestError,
    ContentArgumentError,
    EncryptedAttachment,
    RemoteAttachment,
    Text,
    encode_content,
    encrypt_attachment,
    encrypt_content,
)
from pyxmtp.mls.errors import RemoteMLSError

from .https_files import FileServer, Route, serve_files

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[FileServer, ssl.SSLContext]]:
    with serve_files(tmp_path) as served:
        yield served


@pytest.fixture
def server(files: tuple[FileServer, ssl.SSLContext]) -> FileServer:
    return files[0]


@pytest.fixture
def trusted(files: tuple[FileServer, ssl.SSLContext]) -> ssl.SSLContext:
    """A client TLS context trusting the server's certificate."""
    return files[1]


@pytest.fixture
def fetch(trusted: ssl.SSLContext) -> HttpsDownloader:
    return HttpsDownloader(verify=trusted, trust_env=False)


ATTACHMENT = Attachment("image/png", os.urandom(200_000), "photo.png")


async def test_upload_then_download_round_trip(server: FileServer, fetch: HttpsDownloader) -> None:
    remote = await upload_attachment(ATTACHMENT, server.upload, rng=os.urandom)
    assert remote.url.startswith("https://127.0.0.1:") and remote.filename == "photo.png"
    stored = server.routes[remote.url.split(str(server.server_address[1]), 1)[1]].body
    assert isinstance(stored, bytes) and len(stored) == remote.content_length
    assert hashlib.sha256(stored).hexdigest() == remote.content_digest
    assert ATTACHMENT.content not in stored  # only ciphertext leaves
    # the message content travels as EncodedContent; the reader decodes it and downloads
    assert await download_attachment(remote, fetch) == ATTACHMENT
    # any sealed content, e.g. text
    encrypted = encrypt_content(encode_content(Text("sealed text")), rng=os.urandom)
    other = encrypted.remote_attachment(await server.upload(encrypted))
    assert await download_content(other, fetch) == encode_content(Text("sealed text"))


async def test_a_tampered_payload_is_refused(server: FileServer, fetch: HttpsDownloader) -> None:
    encrypted = encrypt_attachment(ATTACHMENT, rng=os.urandom)
    tampered = bytearray(encrypted.payload)
    tampered[1000] ^= 0x40
    server.routes["/swapped"] = Route(body=bytes(tampered))
    with pytest.raises(AttachmentDigestError) as info:
        await download_attachment(encrypted.remote_attachment(server.url("/swapped")), fetch)
    assert isinstance(info.value, RemoteMLSError)
    assert info.value.actual == hashlib.sha256(bytes(tampered)).hexdigest()


async def test_oversize_downloads_are_capped(server: FileServer, fetch: HttpsDownloader) -> None:
    payload = os.urandom(300_000)
    server.routes["/declared"] = Route(body=payload)
    assert await fetch(server.url("/declared"), 300_000) == payload  # exactly the cap is fine
    with pytest.raises(AttachmentTooLargeError) as info:
        await fetch(server.url("/declared"), 299_999)  # refused on Content-Length
    assert info.value.limit == 299_999

    def endless() -> Iterator[bytes]:
        for _ in range(4096):  # 256 MiB at most, should the cap fail
            yield b"\x00" * 65536

    server.routes["/endless"] = Route(body=endless)
    with pytest.raises(AttachmentTooLargeError):
        await fetch(server.url("/endless"), 1_000_000)
    assert server.streamed < 64 * 1024 * 1024  # the client hung up long before the end
    # a Content-Length that lies low does not get more bytes through (the digest check then refuses them)
    server.routes["/lying"] = Route(body=endless, headers={"Content-Length": "10"})
    assert await fetch(server.url("/lying"), 1_000_000) == b"\x00" * 10
    with pytest.raises(ContentArgumentError):
        await fetch(server.url("/declared"), -1)


async def test_only_https_is_fetched(server: FileServer, fetch: HttpsDownloader) -> None:
    server.routes["/file"] = Route(body=b"payload")
    for url in (server.url("/file").replace("https:", "http:"), "ftp://127.0.0.1/x", "not a url", "https://"):
        with pytest.raises(AttachmentFetchError, match="only https URLs"):
            await fetch(url, 1000)
    assert server.requests == []
    # redirects: followed to https, refused to anything else, limited in number
    server.routes["/moved"] = Route(302, headers={"Location": "/file"})
    assert await fetch(server.url("/moved"), 1000) == b"payload"
    server.routes["/downgrade"] = Route(
        301, headers={"Location": server.url("/file").replace("https", "http")}
    )
    with pytest.raises(AttachmentFetchError, match="only https URLs"):
        await fetch(server.url("/downgrade"), 1000)
    server.routes["/loop"] = Route(307, headers={"Location": "/loop"})
    with pytest.raises(AttachmentFetchError, match="more than 5 redirects"):
        await fetch(server.url("/loop"), 1000)
    assert server.requests.count("/loop") == 6


async def test_fetch_failures_are_typed(server: FileServer, fetch: HttpsDownloader, tmp_path: Path) -> None:
    with pytest.raises(AttachmentFetchError, match="HTTP status 404"):
        await fetch(server.url("/nothing"), 1000)
    server.routes["/gz"] = Route(body=b"\x1f\x8b...", headers={"Content-Encoding": "gzip"})
    with pytest.raises(AttachmentFetchError, match="content encoding"):
        await fetch(server.url("/gz"), 1000)
    # the system trust store does not know the test certificate
    with pytest.raises(AttachmentFetchError, match="ConnectError"):
        await HttpsDownloader(trust_env=False)(server.url("/gz"), 1000)
    # nothing listening
    closed = server.url("/x").replace(str(server.server_address[1]), "1")
    with pytest.raises(AttachmentFetchError):
        await fetch(closed, 1000)


async def test_a_stalled_server_hits_the_deadline(server: FileServer, trusted: ssl.SSLContext) -> None:
    release = threading.Event()
    server.routes["/stall"] = Route(body=b"late", hold=release)
    try:
        with pytest.raises(AttachmentFetchError, match="not done within"):
            await HttpsDownloader(verify=trusted, deadline=0.2, trust_env=False)(server.url("/stall"), 1000)
    finally:
        release.set()


async def test_the_uploader_must_give_an_https_url() -> None:
    async def bad(encrypted: EncryptedAttachment) -> str:
        return "http://insecure.example/x"

    with pytest.raises(AttachmentUploadError):
        await upload_attachment(ATTACHMENT, bad, rng=os.urandom)


async def test_a_custom_downloader(server: FileServer) -> None:
    """Any async callable (url, max_bytes) -> bytes can stand in for HTTPS, e.g. an IPFS gateway client."""
    encrypted = encrypt_attachment(ATTACHMENT, rng=os.urandom)
    store = {"https://gateway.example/ipfs/abc": encrypted.payload}
    asked: list[tuple[str, int]] = []

    async def from_store(url: str, max_bytes: int) -> bytes:
        asked.append((url, max_bytes))
        return store[url]

    remote: RemoteAttachment = encrypted.remote_attachment("https://gateway.example/ipfs/abc")
    assert await download_attachment(remote, from_store, max_bytes=10**6) == ATTACHMENT
    assert asked == [("https://gateway.example/ipfs/abc", 10**6)]
