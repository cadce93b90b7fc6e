"""The rows of the client database as values: what :class:`~.store.ClientStore` reads and writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from pyxmtp.conversations.content import ContentTypeId

from .content_fields import MessageKind
from .store_schema import CONSENT_CONVERSATION, CONSENT_INBOX

__all__ = [
    "CONSENT_CONVERSATION",
    "CONSENT_INBOX",
    "ConsentRecord",
    "ConversationRecord",
    "DeliveryStatus",
    "KeyPackageRecord",
    "MessageKind",
    "MessageQuery",
    "MessageRecord",
    "Outgoing",
    "message_from_row",
    "optional_bytes",
]


class DeliveryStatus(IntEnum):
    """Where a message stands. Received messages are ``PUBLISHED``; our own start ``UNPUBLISHED``."""

    #: stored, not yet seen on the node: published (again) by the next sync, start-up or stream reconnect
    UNPUBLISHED = 0
    #: the node has it (``server_id`` is its id there)
    PUBLISHED = 1
    #: it never will be: we left the group before it could be published, or the node refused it
    FAILED = 2


@dataclass(frozen=True, slots=True)
class KeyPackageRecord:
    hpke_public_key: bytes
    bundle: bytes
    wrapper_private_key: bytes | None
    created_ns: int
    delete_at_ns: int | None


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    group_id: bytes
    state: bytes
    cursor: int
    created_ns: int
    added_by: str


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message as stored: ``content`` is the EncodedContent bytes; our own messages are
    :attr:`DeliveryStatus.UNPUBLISHED` until the node has them (``server_id`` is then set).

    ``content_type`` and ``reference_id`` (the message a reply or reaction refers to) are read from ``content``
    when the message is stored (:func:`~.content_fields.content_fields`); ``inserted_ns`` is when it was stored
    (``sent_ns`` if not given)."""

    message_id: bytes
    group_id: bytes
    server_id: int | None
    sender_inbox_id: str
    sender_installation: bytes
    sent_ns: int
    content: bytes
    delivery_status: DeliveryStatus
    kind: MessageKind = MessageKind.APPLICATION
    # derived from ``content`` and bookkeeping: not part of a record's identity
    content_type: ContentTypeId | None = field(default=None, compare=False)
    reference_id: bytes | None = field(default=None, compare=False)
    inserted_ns: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Which messages of a conversation to list (every bound exclusive, as libxmtp's): sent or stored after /
    before, of these content types (``(authority, type id)``, any version) or not of those, of one kind,
    delivery status, not from these senders; oldest first unless ``descending``, at most ``limit``."""

    sent_after_ns: int | None = None
    sent_before_ns: int | None = None
    inserted_after_ns: int | None = None
    inserted_before_ns: int | None = None
    content_types: tuple[tuple[str, str], ...] | None = None
    exclude_content_types: tuple[tuple[str, str], ...] = ()
    kind: MessageKind | None = None
    delivery_status: DeliveryStatus | None = None
    exclude_sender_inbox_ids: tuple[str, ...] = ()
    descending: bool = False
    limit: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL conditions (after ``group_id = ?``) and their arguments."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, op, value in (
            ("sent_ns", ">", self.sent_after_ns),
            ("sent_ns", "<", self.sent_before_ns),
            ("COALESCE(inserted_ns, sent_ns)", ">", self.inserted_after_ns),
            ("COALESCE(inserted_ns, sent_ns)", "<", self.inserted_before_ns),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                args.append(value)
        if self.content_types is not None:
            if not self.content_types:
                clauses.append("0")
            else:
                pairs = " OR ".join(
                    "(content_authority = ? AND content_type = ?)" for _ in self.content_types
                )
                clauses.append(f"({pairs})")
                args += [part for pair in self.content_types for part in pair]
        for authority, type_id in self.exclude_content_types:
            clauses.append("NOT (content_authority IS ? AND content_type IS ?)")
            args += [authority, type_id]
        if self.kind is not None:
            clauses.append("kind = ?")
            args.append(int(self.kind))
        if self.delivery_status is not None:
            clauses.append("delivery_status = ?")
            args.append(int(self.delivery_status))
        if self.exclude_sender_inbox_ids:
            clauses.append(
                f"sender_inbox_id NOT IN ({', '.join('?' for _ in self.exclude_sender_inbox_ids)})"
            )
            args += list(self.exclude_sender_inbox_ids)
        return "".join(f" AND {c}" for c in clauses), args


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """A consent decision: ``entity_type`` (:data:`CONSENT_CONVERSATION`, the group id in lowercase hex, or
    :data:`CONSENT_INBOX`), ``state`` (0 unknown, 1 allowed, 2 denied, libxmtp's numbers) and when it was set."""

    entity_type: int
    entity: str
    state: int
    updated_ns: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What an own message needs until the node has it: its MLS bytes (``payload``, ciphertext; None for a message
    stored by an older pyxmtp, which kept none) to publish again byte for byte, and its ``idempotency_key`` and
    ``should_push`` to encrypt it again for a later epoch under the same message id."""

    payload: bytes | None
    idempotency_key: str
    should_push: bool


#: How many columns :func:`message_from_row` reads.
MESSAGE_FIELDS = 15


def message_from_row(r: Any) -> MessageRecord:
    ctype = (
        None
        if r[10] is None
        else ContentTypeId(str(r[9] or ""), str(r[10]), int(r[11] or 0), int(r[12] or 0))
    )
    return MessageRecord(
        bytes(r[0]),
        bytes(r[1]),
        r[2],
        str(r[3]),
        bytes(r[4]),
        int(r[5]),
        bytes(r[6]),
        DeliveryStatus(r[7]),
        MessageKind(r[8]),
        ctype,
        optional_bytes(r[13]),
        r[14],
    )


def optional_bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)
