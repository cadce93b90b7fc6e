"""History sync (libxmtp 1.10): a sync request answered with an encrypted archive handed over by a history server.

- :meth:`HistorySync.send_sync_request` posts ``DeviceSyncRequest{pin, server_url, options}`` to the primary
  sync group; the pin is 5 random alphanumerics.
- Answering another installation's request (:meth:`HistorySync.answer`): the archive of this installation
  (``options`` of the request; none: nothing is done, as libxmtp) is written with a fresh one-time 32-byte key,
  uploaded with ``POST {server_url}/upload`` (at most :data:`MAX_ARCHIVE_BYTES`), and
  ``DeviceSyncReply{request_id = pin, url = {server_url}/files/{id}, encryption_key, metadata}`` is sent to the
  sync group the request came in, and to every other sync group we are in: libxmtp takes a reply only if its
  *primary* sync group (the newest it holds) has the request, and that group may have changed since it asked
  (two installations that each made a sync group at the same time). The key exists only in memory and in
  those MLS-encrypted messages.
- Receiving a reply (:meth:`HistorySync.receive`): only one answering a request this installation sent (same
  pin) and pointing at that request's history server is taken; the archive is downloaded (at most
  :data:`MAX_ARCHIVE_BYTES`, spooled owner-only and deleted once used), decrypted and imported in one
  transaction (:func:`~..archive.import_archive_stream`): a tampered, truncated, oversize archive or one for
  another key imports nothing.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from pyxmtp.conversations.archive import (
    ArchiveArgumentError,
    ArchiveElementKind,
    ArchiveError,
    ArchiveMetadata,
)
from pyxmtp.proto.device_sync import content_pb2, device_sync_pb2

from ..archive import ArchiveOptions, ImportSummary, import_archive_stream, write_archive
from ..hub import ConversationHub
from ..records import MessageRecord
from ..session import GroupSession
from . import groups
from .content import decode

if TYPE_CHECKING:
    from ..context import ClientContext

log = logging.getLogger("pyxmtp.client.device_sync")

#: The history server's cap on an upload (the reference server's): no archive above it is sent or fetched.
MAX_ARCHIVE_BYTES = 15_000_000
#: How long one upload or download may take (seconds).
HTTP_TIMEOUT = 60.0
_PIN_ALPHABET = string.ascii_letters + string.digits
PIN_LENGTH = 5


@dataclass(frozen=True, slots=True)
class AvailableArchive:
    """An archive a sync reply offers: its pin, its metadata (as the reply states it) and the installation that
    sent it."""

    pin: str
    metadata: ArchiveMetadata
    sent_by_installation: bytes


class HistorySyncError(Exception):
    """History sync failed (see the subclasses)."""


class HistoryServerError(HistorySyncError):
    """The history server did not take the upload or serve the download (its status or transport error)."""


class SyncReplyRefused(HistorySyncError):
    """A sync reply that is not taken: not for a request of ours, a key that is not 32 bytes, a URL that is not
    on the history server our request named, a legacy reply."""


def _pin(ctx: ClientContext) -> str:
    out = ""
    while len(out) < PIN_LENGTH:
        for byte in ctx.rng(8):
            if byte < 248 and len(out) < PIN_LENGTH:  # 248 = 4 * 62: no bias
                out += _PIN_ALPHABET[byte % 62]
    return out


def _metadata_proto(metadata: ArchiveMetadata) -> device_sync_pb2.BackupMetadataSave:
    proto = device_sync_pb2.BackupMetadataSave(
        elements=[int(e) for e in metadata.elements],  # type: ignore[misc]
        exported_at_ns=metadata.exported_at_ns,
    )
    if metadata.start_ns is not None:
        proto.start_ns = metadata.start_ns
    if metadata.end_ns is not None:
        proto.end_ns = metadata.end_ns
    return proto


def _base(server_url: str) -> str:
    return server_url.rstrip("/")


class HistorySync:
    """Requests, answers and replies (see the module docstring); ``client.device_sync.history``."""

    def __init__(self, ctx: ClientContext, hub: ConversationHub) -> None:
        self._ctx = ctx
        self._hub = hub
        #: the last import's summary (for apps and tests)
        self.last_import: ImportSummary | None = None

    async def send_sync_request(self, server_url: str, options: ArchiveOptions | None = None) -> str:
        """Ask the inbox's other installations for their history, to be handed over by the history server at
        ``server_url`` (e.g. ``http://localhost:5558``); the request's pin. Replies are imported as
        :meth:`~.manager.DeviceSync.sync_all_device_sync_groups` finds them."""
        if not server_url.startswith(("http://", "https://")):
            raise ValueError(f"the history server URL must be http(s), not {server_url!r}")
        options = options or ArchiveOptions()
        session = await groups.ensure(self._hub)
        pin = _pin(self._ctx)
        request = device_sync_pb2.ArchiveOptions()
        request.CopyFrom(options.to_proto())
        content = content_pb2.DeviceSyncContent(
            request=content_pb2.DeviceSyncRequest(pin=pin, server_url=_base(server_url), options=request)
        )
        await groups.send(session, content)
        log.info("sync request %s sent to sync group %s", pin, session.group_id.hex())
        return pin

    # --- answering --------------------------------------------------------------------------------------------
    async def answer(
        self, session: GroupSession, record: MessageRecord, request: content_pb2.DeviceSyncRequest
    ) -> None:
        """Answer another installation's request (see the module docstring)."""
        if not request.HasField("options"):
            log.info("sync request %s without options: nothing to send (as libxmtp)", request.pin)
            return
        base = _base(request.server_url)
        if not base.startswith(("http://", "https://")):
            log.warning(
                "sync request %s names no usable history server (%r): not answered", request.pin, base
            )
            return
        try:
            options = ArchiveOptions.from_proto(request.options)
        except ArchiveArgumentError as exc:  # a peer's request we cannot honour (a reversed time range)
            log.warning("sync request %s not answered: %s", request.pin, exc)
            return
        await self.send_sync_archive(base, request.pin, options, session=session, everywhere=True)

    async def send_sync_archive(
        self,
        server_url: str,
        pin: str,
        options: ArchiveOptions | None = None,
        *,
        session: GroupSession | None = None,
        everywhere: bool = False,
    ) -> None:
        """Upload this installation's archive to ``server_url`` and post a reply with ``request_id = pin`` (to
        ``session``, by default the primary sync group; with ``everywhere`` to every sync group we are in too),
        with or without a request (libxmtp's ``send_sync_archive``). :class:`HistoryServerError` if the upload
        fails."""
        base = _base(server_url)
        key = self._ctx.rng(32)
        chunks: list[bytes] = []
        size = 0

        async def sink(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > MAX_ARCHIVE_BYTES:
                raise HistoryServerError(
                    f"the archive is over the history server's {MAX_ARCHIVE_BYTES} bytes"
                )
            chunks.append(chunk)

        metadata = await write_archive(self._ctx, sink, key, options or ArchiveOptions())
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
                response = await http.post(f"{base}/upload", content=b"".join(chunks))
        except httpx.HTTPError as exc:
            raise HistoryServerError(f"upload to {base} failed: {type(exc).__name__}") from exc
        finally:
            chunks.clear()
        file_id = response.text.strip()
        if response.status_code != 200 or not file_id or len(file_id) > 128 or "/" in file_id:
            raise HistoryServerError(f"upload to {base}: status {response.status_code}, no usable file id")
        reply = content_pb2.DeviceSyncReply(
            request_id=pin,
            url=f"{base}/files/{file_id}",
            encryption_key=content_pb2.DeviceSyncKeyType(aes_256_gcm=key),
            metadata=_metadata_proto(metadata),
        )
        del key
        target = session if session is not None and session.is_active else await groups.ensure(self._hub)
        targets = [target]
        if everywhere:  # every other sync group we are in too (see below)
            targets += [s for s in groups.sync_sessions(self._hub) if s.is_active and s is not target]
        message = content_pb2.DeviceSyncContent(reply=reply)
        for group in targets:
            await groups.send(group, message)
        log.info("sync reply %s sent to %d sync group(s) (%d bytes uploaded)", pin, len(targets), size)

    # --- receiving ----------------------------------------------------------------------------------------------
    def _own_request(self, pin: str) -> content_pb2.DeviceSyncRequest | None:
        ctx = self._ctx
        for session in groups.sync_sessions(self._hub):
            for record in ctx.store.messages(session.group_id):
                if record.sender_installation != ctx.installation_id:
                    continue
                content = decode(record.content)
                if (
                    content is not None
                    and content.WhichOneof("content") == "request"
                    and content.request.pin == pin
                ):
                    return content.request
        return None

    async def receive(
        self, session: GroupSession, record: MessageRecord, reply: content_pb2.DeviceSyncReply
    ) -> None:
        """Import the archive a reply points at, if it answers a request of ours (see the module docstring).
        :class:`SyncReplyRefused`, :class:`HistoryServerError` or an
        :class:`~pyxmtp.conversations.archive.ArchiveError` (nothing imported) otherwise."""
        if reply.kind != 0:
            raise SyncReplyRefused(f"reply {reply.request_id!r} is a legacy one (kind {reply.kind})")
        request = self._own_request(reply.request_id)
        if request is None:
            raise SyncReplyRefused(f"reply {reply.request_id!r} answers no request of this installation")
        prefix = f"{_base(request.server_url)}/files/"
        if not reply.url.startswith(prefix) or "/" in reply.url[len(prefix) :] or len(reply.url) > 2048:
            raise SyncReplyRefused(f"reply {reply.request_id!r} points outside the history server we asked")
        await self._download_and_import(reply)

    async def _download_and_import(self, reply: content_pb2.DeviceSyncReply) -> ImportSummary:
        key = reply.encryption_key.aes_256_gcm
        if len(key) != 32:
            raise SyncReplyRefused(f"reply {reply.request_id!r} carries a key of {len(key)} bytes, not 32")
        if not reply.url.startswith(("http://", "https://")) or len(reply.url) > 2048:
            raise SyncReplyRefused(f"reply {reply.request_id!r} has no usable URL")
        # groups we were added to meanwhile come live first (libxmtp does too)
        await self._hub.sync_welcomes()
        try:
            async with (
                httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as http,
                http.stream("GET", reply.url) as response,
            ):
                if response.status_code != 200:
                    raise HistoryServerError(
                        f"download of reply {reply.request_id!r}: status {response.status_code}"
                    )
                length = response.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > MAX_ARCHIVE_BYTES:
                    raise HistoryServerError(
                        f"reply {reply.request_id!r}: {length} bytes, over {MAX_ARCHIVE_BYTES}"
                    )
                summary = await import_archive_stream(
                    self._ctx, response.aiter_bytes(), key, max_bytes=MAX_ARCHIVE_BYTES
                )
        except httpx.HTTPError as exc:
            raise HistoryServerError(
                f"download of reply {reply.request_id!r} failed: {type(exc).__name__}"
            ) from exc
        except ArchiveError:
            log.warning("the archive of reply %r was refused; nothing imported", reply.request_id)
            raise
        finally:
            del key
        self.last_import = summary
        log.info(
            "sync reply %s imported: %d conversations restored, %d messages added",
            reply.request_id,
            summary.conversations_restored,
            summary.messages_imported,
        )
        return summary

    # --- archives offered in the sync groups (libxmtp's list_available_archives / process_sync_archive) ------
    def _replies(self) -> list[tuple[MessageRecord, content_pb2.DeviceSyncReply]]:
        """Every sync reply of our inbox in our sync groups, newest first."""
        ctx = self._ctx
        out = []
        for session in groups.sync_sessions(self._hub):
            for record in ctx.store.messages(session.group_id):
                if record.sender_inbox_id != ctx.inbox_id:
                    continue
                content = decode(record.content)
                if (
                    content is not None
                    and content.WhichOneof("content") == "reply"
                    and content.reply.kind == 0
                ):
                    out.append((record, content.reply))
        out.sort(key=lambda item: item[0].sent_ns, reverse=True)
        return out

    def list_available_archives(self, days_cutoff: int) -> list[AvailableArchive]:
        """The archives offered by sync replies (ours included) sent in the last ``days_cutoff`` days, newest
        first (libxmtp's ``list_available_archives``)."""
        since = self._ctx.clock_ns() - days_cutoff * 86_400 * 10**9
        out = []
        for record, reply in self._replies():
            if record.sent_ns < since:
                break
            if not reply.HasField("metadata"):
                continue
            m = reply.metadata
            metadata = ArchiveMetadata(
                tuple(ArchiveElementKind(int(e)) for e in m.elements if int(e) in (1, 2)),
                m.exported_at_ns,
                m.start_ns if m.HasField("start_ns") else None,
                m.end_ns if m.HasField("end_ns") else None,
                version=0xFFFF,  # the archive's header is not read (libxmtp reports the same)
            )
            out.append(AvailableArchive(reply.request_id, metadata, record.sender_installation))
        return out

    async def process_sync_archive(self, pin: str | None = None) -> ImportSummary:
        """Download and import the archive of the newest sync reply with ``request_id == pin`` (the newest of all
        when None), whoever asked for it (libxmtp's ``process_sync_archive``). :class:`SyncReplyRefused` if there
        is none."""
        for _, reply in self._replies():
            if pin is None or reply.request_id == pin:
                return await self._download_and_import(reply)
        raise SyncReplyRefused(f"no sync reply with pin {pin!r}")
