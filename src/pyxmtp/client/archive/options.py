"""What an archive holds and what an import did: options, summary, the key check, shared constants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TypeAlias

from pyxmtp.conversations.archive import (
    KEY_SIZE,
    ArchiveArgumentError,
    ArchiveElementKind,
    ArchiveMetadata,
    ConsentState,
)
from pyxmtp.proto.device_sync import device_sync_pb2

#: What an archive holds unless told otherwise (every SDK's default).
DEFAULT_ELEMENTS: tuple[ArchiveElementKind, ...] = (ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT)
#: Messages read from the database per page while writing.
PAGE = 500
#: Bytes read from a file per step while importing.
READ_CHUNK = 64 * 1024
#: The mutable-metadata attributes libxmtp applies to a restored group.
RESTORED_ATTRIBUTES = ("group_name", "group_image_url_square", "description", "app_data")
#: libxmtp's content-type names (``content_type`` of a message); other types are archived as ``unknown``.
KNOWN_CONTENT_TYPES = frozenset(
    {
        "text",
        "markdown",
        "group_membership_change",
        "group_updated",
        "reaction",
        "readReceipt",
        "reply",
        "attachment",
        "remoteStaticAttachment",
        "transactionReference",
        "walletSendCalls",
        "leave_request",
        "actions",
        "intent",
        "multiRemoteStaticAttachment",
        "deleteMessage",
    }
)
#: How many skip reasons an :class:`ImportSummary` keeps.
REASONS_KEPT = 20
OWNER_ONLY = 0o600

#: Where archive bytes go: a binary file (or anything with ``write``, sync or async), or an async callable.
ChunkSink: TypeAlias = BinaryIO | Callable[[bytes], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class ArchiveOptions:
    """What an archive holds (libxmtp's ``ArchiveOptions``): ``elements`` in this order (messages: the
    conversations, then their messages; consent: every consent record); messages sent (and conversations created)
    after ``start_ns`` (exclusive) and up to ``end_ns`` (inclusive); with ``exclude_disappearing_messages`` no
    message of a conversation's disappearing period."""

    elements: tuple[ArchiveElementKind, ...] = DEFAULT_ELEMENTS
    start_ns: int | None = None
    end_ns: int | None = None
    exclude_disappearing_messages: bool = False

    def __post_init__(self) -> None:
        for kind in self.elements:
            if kind not in DEFAULT_ELEMENTS:
                raise ArchiveArgumentError(f"element kind {kind!r} cannot be archived (MESSAGES, CONSENT)")
        if self.start_ns is not None and self.end_ns is not None and self.end_ns < self.start_ns:
            raise ArchiveArgumentError(f"end_ns {self.end_ns} is before start_ns {self.start_ns}")

    @classmethod
    def from_proto(cls, proto: device_sync_pb2.ArchiveOptions) -> ArchiveOptions:
        """The options of a device-sync request (a peer's: element kinds other than messages and consent are
        dropped, as libxmtp emits nothing for them; a reversed time range is refused)."""
        elements = tuple(
            ArchiveElementKind(e) for e in proto.elements if e in (k.value for k in DEFAULT_ELEMENTS)
        )
        return cls(
            elements,
            proto.start_ns if proto.HasField("start_ns") else None,
            proto.end_ns if proto.HasField("end_ns") else None,
            proto.exclude_disappearing_messages,
        )

    def to_proto(self) -> device_sync_pb2.ArchiveOptions:
        """These options as a device-sync request carries them."""
        proto = device_sync_pb2.ArchiveOptions(
            elements=[int(k) for k in self.elements],  # type: ignore[misc]
            exclude_disappearing_messages=self.exclude_disappearing_messages,
        )
        if self.start_ns is not None:
            proto.start_ns = self.start_ns
        if self.end_ns is not None:
            proto.end_ns = self.end_ns
        return proto


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did: the archive's metadata; conversations restored (new) and already held; messages
    added, already held (duplicates) and skipped for want of their conversation; consent records that changed a
    state and that did not; elements skipped (``skipped_reasons``: the first few reasons, naming the record)."""

    metadata: ArchiveMetadata
    conversations_restored: int = 0
    conversations_held: int = 0
    messages_imported: int = 0
    messages_duplicate: int = 0
    messages_without_conversation: int = 0
    consent_changed: int = 0
    consent_unchanged: int = 0
    skipped: int = 0
    skipped_reasons: tuple[str, ...] = field(default=())


def check_key(key: object) -> bytes:
    """The archive key as bytes; :class:`ArchiveArgumentError` (misuse) if it is not bytes or is shorter than 32
    bytes. As libxmtp, a longer key is accepted and only its first 32 bytes are used (a key an app keeps for
    libxmtp opens the same archives here)."""
    if not isinstance(key, bytes | bytearray | memoryview):
        raise ArchiveArgumentError(f"an archive key must be bytes, not {type(key).__name__}")
    if len(key) < KEY_SIZE:
        raise ArchiveArgumentError(f"an archive key must be at least {KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)


#: Consent states: the client database's numbers to the archive's, and back.
CONSENT_OUT = {0: ConsentState.UNKNOWN, 1: ConsentState.ALLOWED, 2: ConsentState.DENIED}
CONSENT_IN = {v: k for k, v in CONSENT_OUT.items()}
