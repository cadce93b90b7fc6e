"""A small HTTPS file server on loopback for the remote-attachment tests: a thread serving per-path routes,
with a self-signed certificate made for the test, and an upload hook storing payloads on it."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pyxmtp.conversations.content import EncryptedAttachment

from .test_tls import self_signed


@dataclass
class Route:
    status: int = 200
    body: bytes | Callable[[], Iterator[bytes]] = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # answer only once set


class Handler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path, Route(404, b"not found"))
        if route.hold is not None:
            route.hold.wait(30)
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if isinstance(route.body, bytes):
            if "Content-Length" not in route.headers:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)
            return
        self.end_headers()  # HTTP/1.0, no length: the body ends when the connection closes
        try:
            for chunk in route.body():
                self.wfile.write(chunk)
                self.server.streamed += len(chunk)
        except OSError:
            pass  # the client hung up

    def log_message(self, format: str, *args: object) -> None:
        pass


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.streamed = 0
        self.errors = 0

    def handle_error(self, request: object, client_address: object) -> None:
        self.errors += 1  # e.g. a client that refused our certificate: counted, not printed

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}{path}"

    async def upload(self, encrypted: EncryptedAttachment) -> str:
        """An AttachmentUploader: stores the payload under its digest."""
        path = f"/files/{encrypted.content_digest}"
        self.routes[path] = Route(body=encrypted.payload)
        return self.url(path)


@contextmanager
def serve_files(directory: Path) -> Iterator[tuple[FileServer, ssl.SSLContext]]:
    """A running server (its certificate's files in ``directory``) and a client context trusting it."""
    cert, key, pem = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = FileServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, ssl.create_default_context(cadata=pem.decode())
    finally:
        for route in server.routes.values():
            if route.hold is not None:
                route.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
