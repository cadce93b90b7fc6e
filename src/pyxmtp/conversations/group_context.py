"""An XMTP group's context extensions, parsed (protocol reference, section 6.2; legacy format).

An XMTP group keeps its conversation in four group-context extensions: the immutable metadata (0xF000: kind,
creator, the two DM members), the mutable metadata (0xFF00: name, description, admins, ...), the membership
(0xFF01: inbox id -> identity-log sequence id) and the permissions (0xFF02). :func:`parse_group_context` reads
them into a :class:`ConversationContext`; anything missing or malformed is a :class:`GroupContextError` (a
peer's fault: the group's creator or a committer wrote it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from pyxmtp.mls.codec import Reader
from pyxmtp.mls.errors import DecodeError, ValidationError
from pyxmtp.mls.messages.extensions import Extension, find_extension
from pyxmtp.proto.mls.message_contents import (
    group_membership_pb2,
    group_metadata_pb2,
    group_mutable_metadata_pb2,
    group_permissions_pb2,
)

from .key_packages import (
    GROUP_MEMBERSHIP,
    GROUP_MUTABLE_METADATA,
    GROUP_MUTABLE_PERMISSIONS,
    IMMUTABLE_METADATA,
)


class GroupContextError(ValidationError):
    """A group's XMTP context extensions are missing or malformed."""


class ConversationType(IntEnum):
    """``xmtp.mls.message_contents.ConversationType``."""

    UNSPECIFIED = 0
    GROUP = 1
    DM = 2
    SYNC = 3
    ONESHOT = 4


@dataclass(frozen=True, slots=True)
class GroupMetadata:
    """The immutable metadata (0xF000): what kind of conversation this is and who made it."""

    conversation_type: ConversationType
    creator_inbox_id: str
    dm_members: tuple[str, str] | None

    def dm_peer(self, own_inbox_id: str) -> str | None:
        """In a DM, the other member's inbox id (``None`` elsewhere, or if ``own_inbox_id`` is not a member)."""
        if self.dm_members is None:
            return None
        one, two = self.dm_members
        if own_inbox_id == one:
            return two
        if own_inbox_id == two:
            return one
        return None


@dataclass(frozen=True, slots=True)
class MutableMetadata:
    """The mutable metadata (0xFF00): free-form attributes (``group_name``, ...) and the admin lists."""

    attributes: Mapping[str, str]
    admins: tuple[str, ...]
    super_admins: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.attributes.get("group_name", "")

    @property
    def description(self) -> str:
        return self.attributes.get("description", "")

    @property
    def image_url(self) -> str:
        return self.attributes.get("group_image_url_square", "")

    @property
    def disappearing(self) -> tuple[int, int] | None:
        """``(from_ns, in_ns)``: messages sent from ``from_ns`` on disappear ``in_ns`` after they were sent
        (libxmtp's ``message_disappear_from_ns`` / ``_in_ns``); None when off or unreadable."""
        try:
            start = int(self.attributes["message_disappear_from_ns"])
            duration = int(self.attributes["message_disappear_in_ns"])
        except (KeyError, ValueError):
            return None
        return (start, duration) if start > 0 and duration > 0 else None


@dataclass(frozen=True, slots=True)
class Membership:
    """The membership (0xFF01): every member inbox with the identity-log sequence id its installations are
    taken at, and the installations whose key packages could not be used."""

    members: Mapping[str, int]
    failed_installations: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ConversationContext:
    """All four XMTP extensions of one epoch's group context."""

    metadata: GroupMetadata
    mutable: MutableMetadata
    membership: Membership
    permissions: group_permissions_pb2.GroupMutablePermissionsV1


def _required(extensions: Iterable[Extension], extension_type: int, name: str) -> bytes:
    ext = find_extension(extensions, extension_type)
    if ext is None:
        raise GroupContextError(f"the group context has no {name} extension (0x{extension_type:04X})")
    return ext.extension_data


def _parse(message: Message, data: bytes, name: str) -> None:
    try:
        message.ParseFromString(data)
    except ProtobufDecodeError as exc:
        raise GroupContextError(f"the {name} extension is not a valid protobuf: {exc}") from exc


def _immutable_body(data: bytes) -> bytes:
    """0xF000's body is ``Metadata { opaque value<V> }``: a second length prefix around the protobuf."""
    reader = Reader(data)
    try:
        body = reader.opaque_v()
        reader.expect_end()
    except DecodeError as exc:
        raise GroupContextError(
            f"the immutable metadata extension is not a length-prefixed protobuf: {exc}"
        ) from exc
    return body


def parse_metadata(extensions: Iterable[Extension]) -> GroupMetadata:
    proto = group_metadata_pb2.GroupMetadataV1()
    _parse(
        proto, _immutable_body(_required(extensions, IMMUTABLE_METADATA, "immutable metadata")), "metadata"
    )
    try:
        kind = ConversationType(proto.conversation_type)
    except ValueError:
        raise GroupContextError(f"unknown conversation type {proto.conversation_type}") from None
    dm: tuple[str, str] | None = None
    if proto.HasField("dm_members"):
        dm = (proto.dm_members.dm_member_one.inbox_id, proto.dm_members.dm_member_two.inbox_id)
    if kind is ConversationType.DM and (dm is None or not all(dm)):
        raise GroupContextError("a DM's metadata must name both members")
    return GroupMetadata(kind, proto.creator_inbox_id, dm)


def parse_mutable_metadata(extensions: Iterable[Extension]) -> MutableMetadata:
    proto = group_mutable_metadata_pb2.GroupMutableMetadataV1()
    _parse(proto, _required(extensions, GROUP_MUTABLE_METADATA, "mutable metadata"), "mutable metadata")
    return MutableMetadata(
        MappingProxyType(dict(proto.attributes)),
        tuple(proto.admin_list.inbox_ids),
        tuple(proto.super_admin_list.inbox_ids),
    )


def parse_membership(extensions: Iterable[Extension]) -> Membership:
    proto = group_membership_pb2.GroupMembership()
    _parse(proto, _required(extensions, GROUP_MEMBERSHIP, "group membership"), "group membership")
    return Membership(MappingProxyType(dict(proto.members)), tuple(proto.failed_installations))


def parse_permissions(extensions: Iterable[Extension]) -> group_permissions_pb2.GroupMutablePermissionsV1:
    proto = group_permissions_pb2.GroupMutablePermissionsV1()
    _parse(proto, _required(extensions, GROUP_MUTABLE_PERMISSIONS, "permissions"), "permissions")
    return proto


def parse_group_context(extensions: Iterable[Extension]) -> ConversationContext:
    """The XMTP view of a group context's extensions; :class:`GroupContextError` if one is missing or bad."""
    exts = tuple(extensions)
    return ConversationContext(
        parse_metadata(exts), parse_mutable_metadata(exts), parse_membership(exts), parse_permissions(exts)
    )
