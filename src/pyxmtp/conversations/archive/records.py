"""The typed values an archive holds, and their ``xmtp.device_sync.BackupElement`` encoding.

Record 0 of every archive is the :class:`ArchiveMetadata`; the others are :class:`GroupRecord` (a group or DM),
:class:`MessageRecord` (one decrypted application message) and :class:`ConsentRecord` (one consent row). An
element that decodes but that libxmtp's importer would refuse (a DM without ``dm_id``, a consent record for an
address, an unknown enum value, a deprecated event, an empty element) reads as a :class:`SkippedElement` naming
why: libxmtp skips such elements and goes on importing, and so should an importer of ours. The writer refuses to
encode them (:class:`~.errors.ArchiveArgumentError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeAlias, TypeVar

from pyxmtp.proto.device_sync import (
    consent_backup_pb2,
    device_sync_pb2,
    group_backup_pb2,
    message_backup_pb2,
)

from .errors import ArchiveArgumentError

#: The archive format version in the 2-byte header (libxmtp ``BACKUP_VERSION``).
ARCHIVE_VERSION = 0


class ArchiveElementKind(IntEnum):
    """What an archive was asked to contain (``BackupElementSelection``)."""

    MESSAGES = 1  # groups and DMs, then their messages
    CONSENT = 2
    EVENT = 3  # deprecated: libxmtp 1.10 emits nothing for it and cannot list it; never written here


class MembershipState(IntEnum):
    UNSPECIFIED = 0
    ALLOWED = 1
    REJECTED = 2
    PENDING = 3
    RESTORED = 4
    PENDING_REMOVE = 5


class ConversationKind(IntEnum):
    UNSPECIFIED = 0
    GROUP = 1
    DM = 2
    SYNC = 3


class MessageKind(IntEnum):
    UNSPECIFIED = 0
    APPLICATION = 1
    MEMBERSHIP_CHANGE = 2


class DeliveryStatus(IntEnum):
    UNSPECIFIED = 0
    UNPUBLISHED = 1
    PUBLISHED = 2
    FAILED = 3


class ConsentEntityType(IntEnum):
    CONVERSATION_ID = 1  # entity: the group id, lower-case hex
    INBOX_ID = 2


class ConsentState(IntEnum):
    UNKNOWN = 1
    ALLOWED = 2
    DENIED = 3


@dataclass(frozen=True, slots=True)
class ArchiveMetadata:
    """Record 0: what the archive holds. ``start_ns`` is an exclusive, ``end_ns`` an inclusive bound on the
    messages' ``sent_at_ns`` (and the groups' ``created_at_ns``); ``version`` comes from the 2-byte header."""

    elements: tuple[ArchiveElementKind, ...]
    exported_at_ns: int
    start_ns: int | None = None
    end_ns: int | None = None
    version: int = ARCHIVE_VERSION


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A group or DM. An importer that lacks the group creates a read-only stub with this id (libxmtp: state
    RESTORED) until a welcome brings the real group; it takes ``name``/``description``/... from ``attributes``."""

    id: bytes
    created_at_ns: int
    conversation_type: ConversationKind
    membership_state: MembershipState
    creator_inbox_id: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    admins: tuple[str, ...] = ()
    super_admins: tuple[str, ...] = ()
    added_by_inbox_id: str = ""
    installations_last_checked: int = 0
    welcome_id: int | None = None
    rotated_at_ns: int = 0
    #: DMs only: ``dm:<inbox a>:<inbox b>``, both lower-case and sorted.
    dm_id: str | None = None
    last_message_ns: int | None = None
    message_disappear_from_ns: int | None = None
    message_disappear_in_ns: int | None = None
    paused_for_version: str | None = None

    @property
    def name(self) -> str:
        return self.attributes.get("group_name", "")


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A decrypted message: ``content`` is its EncodedContent bytes (never shown by ``repr``), ``content_type``
    the codec's type id (``text``, ``reaction``, ...; ``unknown`` for types libxmtp does not know)."""

    id: bytes
    group_id: bytes
    content: bytes = field(repr=False)
    sent_at_ns: int
    sender_inbox_id: str
    sender_installation_id: bytes
    content_type: str
    authority_id: str = "xmtp.org"
    version_major: int = 1
    version_minor: int = 0
    kind: MessageKind = MessageKind.APPLICATION
    delivery_status: DeliveryStatus = DeliveryStatus.PUBLISHED
    reference_id: bytes | None = None
    sequence_id: int | None = None
    originator_id: int | None = None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    entity_type: ConsentEntityType
    state: ConsentState
    entity: str
    consented_at_ns: int


@dataclass(frozen=True, slots=True)
class SkippedElement:
    """Record ``index`` decrypted and decoded, but holds nothing an importer may apply (``reason`` says why)."""

    index: int
    reason: str


ArchiveRecord: TypeAlias = GroupRecord | MessageRecord | ConsentRecord
ArchiveElement: TypeAlias = ArchiveRecord | SkippedElement

# The deprecated ContentTypeSave enum, by number: libxmtp prefers it over the string when it names a known type.
_LEGACY_CONTENT_TYPES = {
    2: "text",
    3: "group_membership_change",
    4: "group_updated",
    5: "reaction",
    6: "readReceipt",
    7: "reply",
    8: "attachment",
    9: "remoteStaticAttachment",
    10: "transactionReference",
}

_E = TypeVar("_E", bound=IntEnum)


class _Unusable(Exception):
    """An element libxmtp would not import; the message is the reason."""


def _enum(kind: type[_E], value: int, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise _Unusable(f"unknown {what} {value}") from None


def _opt(message: object, name: str) -> int | str | bytes | None:
    return getattr(message, name) if message.HasField(name) else None  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------------------
# decoding (from a BackupElement that authenticated under the archive key)


def metadata_from_proto(save: device_sync_pb2.BackupMetadataSave, version: int) -> ArchiveMetadata:
    """The metadata record's value; element selections this reader does not know are dropped."""
    kinds = []
    for value in save.elements:
        if value in ArchiveElementKind._value2member_map_:
            kinds.append(ArchiveElementKind(value))
    return ArchiveMetadata(
        elements=tuple(kinds),
        exported_at_ns=save.exported_at_ns,
        start_ns=save.start_ns if save.HasField("start_ns") else None,
        end_ns=save.end_ns if save.HasField("end_ns") else None,
        version=version,
    )


def _group_from_proto(save: group_backup_pb2.GroupSave) -> GroupRecord:
    if not save.id:
        raise _Unusable("group without an id")
    kind = _enum(ConversationKind, save.conversation_type, "conversation type")
    if kind == ConversationKind.DM and not save.HasField("dm_id"):
        raise _Unusable("DM without dm_id")
    return GroupRecord(
        id=save.id,
        created_at_ns=save.created_at_ns,
        conversation_type=kind,
        membership_state=_enum(MembershipState, save.membership_state, "membership state"),
        creator_inbox_id=save.metadata.creator_inbox_id,
        attributes=dict(save.mutable_metadata.attributes),
        admins=tuple(save.mutable_metadata.admin_list),
        super_admins=tuple(save.mutable_metadata.super_admin_list),
        added_by_inbox_id=save.added_by_inbox_id,
        installations_last_checked=save.installations_last_checked,
        welcome_id=save.welcome_id if save.HasField("welcome_id") else None,
        rotated_at_ns=save.rotated_at_ns,
        dm_id=save.dm_id if save.HasField("dm_id") else None,
        last_message_ns=save.last_message_ns if save.HasField("last_message_ns") else None,
        message_disappear_from_ns=(
            save.message_disappear_from_ns if save.HasField("message_disappear_from_ns") else None
        ),
        message_disappear_in_ns=(
            save.message_disappear_in_ns if save.HasField("message_disappear_in_ns") else None
        ),
        paused_for_version=save.paused_for_version if save.HasField("paused_for_version") else None,
    )


def _message_from_proto(save: message_backup_pb2.GroupMessageSave) -> MessageRecord:
    if not save.id:
        raise _Unusable("message without an id")
    if not save.group_id:
        raise _Unusable("message without a group id")
    content_type = _LEGACY_CONTENT_TYPES.get(save.content_type_save, save.content_type)
    return MessageRecord(
        id=save.id,
        group_id=save.group_id,
        content=save.decrypted_message_bytes,
        sent_at_ns=save.sent_at_ns,
        sender_inbox_id=save.sender_inbox_id,
        sender_installation_id=save.sender_installation_id,
        content_type=content_type or "unknown",
        authority_id=save.authority_id,
        version_major=save.version_major,
        version_minor=save.version_minor,
        kind=_enum(MessageKind, save.kind, "message kind"),
        delivery_status=_enum(DeliveryStatus, save.delivery_status, "delivery status"),
        reference_id=save.reference_id if save.HasField("reference_id") else None,
        sequence_id=save.sequence_id if save.HasField("sequence_id") else None,
        originator_id=save.originator_id if save.HasField("originator_id") else None,
    )


def _consent_from_proto(save: consent_backup_pb2.ConsentSave) -> ConsentRecord:
    if save.entity_type == consent_backup_pb2.CONSENT_TYPE_SAVE_ADDRESS:
        raise _Unusable("consent for an address (deprecated entity type)")
    if not save.entity:
        raise _Unusable("consent without an entity")
    return ConsentRecord(
        entity_type=_enum(ConsentEntityType, save.entity_type, "consent entity type"),
        state=_enum(ConsentState, save.state, "consent state"),
        entity=save.entity,
        consented_at_ns=save.consented_at_ns,
    )


def element_from_proto(element: device_sync_pb2.BackupElement, index: int) -> ArchiveElement:
    """The typed value of record ``index`` (> 0), or a :class:`SkippedElement` saying why it is unusable."""
    which = element.WhichOneof("element")
    try:
        if which == "group":
            return _group_from_proto(element.group)
        if which == "group_message":
            return _message_from_proto(element.group_message)
        if which == "consent":
            return _consent_from_proto(element.consent)
        if which == "metadata":
            raise _Unusable("a second metadata element")
        if which == "event":
            raise _Unusable("a deprecated event element")
        raise _Unusable("an empty element")
    except _Unusable as exc:
        return SkippedElement(index, str(exc))


# ---------------------------------------------------------------------------------------------------------------
# encoding (what the writer checks and stores)


def metadata_to_proto(metadata: ArchiveMetadata) -> device_sync_pb2.BackupElement:
    if metadata.version != ARCHIVE_VERSION:
        raise ArchiveArgumentError(f"only archive version {ARCHIVE_VERSION} can be written")
    for kind in metadata.elements:
        if kind not in (ArchiveElementKind.MESSAGES, ArchiveElementKind.CONSENT):
            raise ArchiveArgumentError(
                f"element kind {kind!r} cannot be archived (libxmtp reads MESSAGES, CONSENT)"
            )
    save = device_sync_pb2.BackupMetadataSave(
        elements=[int(k) for k in metadata.elements],  # type: ignore[misc]
        exported_at_ns=metadata.exported_at_ns,
    )
    if metadata.start_ns is not None:
        save.start_ns = metadata.start_ns
    if metadata.end_ns is not None:
        save.end_ns = metadata.end_ns
    return device_sync_pb2.BackupElement(metadata=save)


def _group_to_proto(group: GroupRecord) -> group_backup_pb2.GroupSave:
    save = group_backup_pb2.GroupSave(
        id=group.id,
        created_at_ns=group.created_at_ns,
        membership_state=int(group.membership_state),  # type: ignore[arg-type]
        installations_last_checked=group.installations_last_checked,
        added_by_inbox_id=group.added_by_inbox_id,
        rotated_at_ns=group.rotated_at_ns,
        conversation_type=int(group.conversation_type),  # type: ignore[arg-type]
        metadata=group_backup_pb2.ImmutableMetadataSave(creator_inbox_id=group.creator_inbox_id),
        mutable_metadata=group_backup_pb2.MutableMetadataSave(
            attributes=dict(group.attributes),
            admin_list=list(group.admins),
            super_admin_list=list(group.super_admins),
        ),
    )
    for name in (
        "welcome_id",
        "dm_id",
        "last_message_ns",
        "message_disappear_from_ns",
        "message_disappear_in_ns",
        "paused_for_version",
    ):
        value = getattr(group, name)
        if value is not None:
            setattr(save, name, value)
    return save


def _message_to_proto(message: MessageRecord) -> message_backup_pb2.GroupMessageSave:
    save = message_backup_pb2.GroupMessageSave(
        id=message.id,
        group_id=message.group_id,
        decrypted_message_bytes=message.content,
        sent_at_ns=message.sent_at_ns,
        kind=int(message.kind),  # type: ignore[arg-type]
        sender_installation_id=message.sender_installation_id,
        sender_inbox_id=message.sender_inbox_id,
        delivery_status=int(message.delivery_status),  # type: ignore[arg-type]
        version_major=message.version_major,
        version_minor=message.version_minor,
        authority_id=message.authority_id,
        content_type=message.content_type,
    )
    for name in ("reference_id", "sequence_id", "originator_id"):
        value = getattr(message, name)
        if value is not None:
            setattr(save, name, value)
    return save


def _consent_to_proto(consent: ConsentRecord) -> consent_backup_pb2.ConsentSave:
    return consent_backup_pb2.ConsentSave(
        entity_type=int(consent.entity_type),  # type: ignore[arg-type]
        state=int(consent.state),  # type: ignore[arg-type]
        entity=consent.entity,
        consented_at_ns=consent.consented_at_ns,
    )


def element_to_proto(record: ArchiveRecord) -> device_sync_pb2.BackupElement:
    """``record`` as a BackupElement; :class:`ArchiveArgumentError` if an importer would have to skip it."""
    try:
        if isinstance(record, GroupRecord):
            element = device_sync_pb2.BackupElement(group=_group_to_proto(record))
            _group_from_proto(element.group)
        elif isinstance(record, MessageRecord):
            element = device_sync_pb2.BackupElement(group_message=_message_to_proto(record))
            _message_from_proto(element.group_message)
        elif isinstance(record, ConsentRecord):
            element = device_sync_pb2.BackupElement(consent=_consent_to_proto(record))
            _consent_from_proto(element.consent)
        else:
            raise ArchiveArgumentError(f"cannot archive a {type(record).__name__}")
    except _Unusable as exc:
        raise ArchiveArgumentError(f"{type(record).__name__} cannot be archived: {exc}") from None
    except (TypeError, ValueError) as exc:  # protobuf: a value out of range or of the wrong type
        raise ArchiveArgumentError(f"{type(record).__name__} cannot be archived: {exc}") from None
    return element
