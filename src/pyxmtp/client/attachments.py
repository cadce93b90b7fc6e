"""Storing and fetching remote attachments' encrypted payloads: the hooks a client takes, and the default
HTTPS downloader.

A remote attachment (:class:`~pyxmtp.conversations.content.RemoteAttachment`) carries only a URL and the keys;
the encrypted payload lives elsewhere. XMTP does not say where: the application stores it (an
:data:`AttachmentUploader`, e.g. a PUT to a presigned URL of its bucket) and says how to fetch it (an
:data:`AttachmentDownloader`; :class:`HttpsDownloader` by default). :func:`upload_attachment` encrypts and
stores an attachment and returns the message content to send; :func:`download_attachment` fetches, checks the
digest and decrypts one.

The default downloader fetches ``https://`` URLs only (a redirect to anything else is refused), asks for the
payload unencoded and refuses a content encoding, stops reading past ``max_bytes`` (before reading anything when
``Content-Length`` already says so) and past a total deadline, and raises :class:`AttachmentFetchError` (a
remote failure: the URL came from a peer) for every failure. It fetches whatever host the URL names, loopback
and private addresses included, as a browser fetching a message's image would.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from pyxmtp.conversations.content import (
    Attachment,
    ContentArgumentError,
    EncodedContent,
    EncryptedAttachment,
    RemoteAttachment,
    decrypt_attachment,
    decrypt_content,
    encrypt_attachment,
)
from pyxmtp.mls.crypto.keys import RandomSource
from pyxmtp.mls.errors import LocalMLSError, RemoteMLSError

#: Stores ``encrypted.payload`` where an ``https://`` URL reaches it, and returns that URL.
AttachmentUploader = Callable[[EncryptedAttachment], Awaitable[str]]
#: Returns the bytes at a URL, raising :class:`AttachmentTooLargeError` past ``max_bytes`` (the second argument).
AttachmentDownloader = Callable[[str, int], Awaitable[bytes]]

#: Default cap on a downloaded payload.
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


class AttachmentFetchError(RemoteMLSError):
    """A payload could not be fetched: not an https URL, an HTTP error status, a redirect elsewhere than https,
    a content encoding, a network or TLS failure, or the deadline. ``url`` is the URL asked for."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"fetching {url[:200]!r}: {reason}")


class AttachmentTooLargeError(AttachmentFetchError):
    """The payload is larger than the cap (``limit`` bytes)."""

    def __init__(self, url: str, limit: int) -> None:
        self.limit = limit
        super().__init__(url, f"payload exceeds {limit} bytes")


class AttachmentUploadError(LocalMLSError):
    """The uploader returned something other than an ``https://`` URL."""


@dataclass(frozen=True, slots=True)
class HttpsDownloader:
    """The default :data:`AttachmentDownloader`: an HTTPS GET with httpx.

    ``verify`` is httpx's: True (the certifi CA bundle, httpx's default), or an :class:`ssl.SSLContext` (e.g.
    one trusting a private CA). ``timeout`` bounds each connect/read/write, ``deadline`` the whole download (seconds).
    """

    verify: ssl.SSLContext | bool = True
    timeout: float = 30.0
    deadline: float = 300.0
    max_redirects: int = 5
    trust_env: bool = True

    async def __call__(self, url: str, max_bytes: int) -> bytes:
        if max_bytes < 0:
            raise ContentArgumentError(f"max_bytes must be >= 0, not {max_bytes}")
        try:
            async with asyncio.timeout(self.deadline):
                return await self._fetch(url, max_bytes)
        except TimeoutError as exc:
            raise AttachmentFetchError(url, f"not done within {self.deadline} s") from exc

    async def _fetch(self, url: str, max_bytes: int) -> bytes:
        target = _https_url(url, url)
        async with httpx.AsyncClient(
            verify=self.verify,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=self.trust_env,
            headers={"Accept-Encoding": "identity"},
        ) as client:
            for _ in range(self.max_redirects + 1):
                try:
                    async with client.stream("GET", target) as response:
                        if response.status_code in _REDIRECTS and "location" in response.headers:
                            target = _redirect_target(url, response)
                            continue
                        return await _body(url, response, max_bytes)
                except httpx.HTTPError as exc:
                    raise AttachmentFetchError(url, f"{type(exc).__name__}: {exc}") from exc
        raise AttachmentFetchError(url, f"more than {self.max_redirects} redirects")


def _https_url(original: str, url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise AttachmentFetchError(original, f"not a URL: {exc}") from exc
    if parsed.scheme != "https" or not parsed.host:
        raise AttachmentFetchError(original, f"only https URLs are fetched, not {url[:200]!r}")
    return parsed


def _redirect_target(original: str, response: httpx.Response) -> httpx.URL:
    try:
        target = str(response.url.join(response.headers["location"]))
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise AttachmentFetchError(original, f"redirect to an invalid URL: {exc}") from exc
    return _https_url(original, target)


async def _body(url: str, response: httpx.Response, max_bytes: int) -> bytes:
    if response.status_code != 200:
        raise AttachmentFetchError(url, f"HTTP status {response.status_code}")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise AttachmentFetchError(url, f"the server sent a content encoding ({encoding[:32]!r})")
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise AttachmentTooLargeError(url, max_bytes)
    body = bytearray()
    async for chunk in response.aiter_raw(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise AttachmentTooLargeError(url, max_bytes)
    return bytes(body)


async def upload_attachment(
    attachment: Attachment, upload: AttachmentUploader, *, rng: RandomSource
) -> RemoteAttachment:
    """Encrypt ``attachment``, store the payload with ``upload``, and return the remote attachment to send."""
    encrypted = encrypt_attachment(attachment, rng=rng)
    url = await upload(encrypted)
    if not isinstance(url, str) or not url.startswith("https://"):
        raise AttachmentUploadError(f"the uploader must return an https:// URL, not {url!r:.200}")
    return encrypted.remote_attachment(url)


async def download_content(
    remote: RemoteAttachment,
    download: AttachmentDownloader | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
) -> EncodedContent:
    """Fetch ``remote``'s payload (with ``download``, by default an :class:`HttpsDownloader`), check its digest
    and decrypt it: the EncodedContent it seals."""
    payload = await (download or HttpsDownloader())(remote.url, max_bytes)
    return decrypt_content(payload, remote)


async def download_attachment(
    remote: RemoteAttachment,
    download: AttachmentDownloader | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
) -> Attachment:
    """Fetch, check and decrypt ``remote``'s payload: the :class:`Attachment` it seals.

    :class:`AttachmentFetchError` if it cannot be fetched, :class:`AttachmentDigestError` if it is not the
    promised payload, :class:`RemoteAttachmentError` if it does not decrypt to an attachment.
    """
    payload = await (download or HttpsDownloader())(remote.url, max_bytes)
    return decrypt_attachment(payload, remote)
