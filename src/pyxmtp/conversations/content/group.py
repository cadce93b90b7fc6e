"""Content about the group itself: the transcript entry ``xmtp.org/group_updated:1.0`` (made locally from a
commit, never sent), and the two requests a member sends to the group, ``xmtp.org/leave_request:1.0`` (remove
me; an admin's client commits the removal) and ``xmtp.org/deleteMessage:1.0`` (withdraw one of my messages).

All three are protobufs with no parameters, no fallback and ``should_push`` false, as libxmtp writes them
(``transcript_messages.proto`` ``GroupUpdated``; ``LeaveRequest { optional bytes authenticated_note = 1 }``;
``DeleteMessage { string message_id = 1 }``). These codecs read and write the content only: what a client does
on a leave request or a deletion is up to the client.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from pyxmtp.proto.mls.message_contents import transcript_messages_pb2
from pyxmtp.proto.mls.message_contents.content_types import delete_message_pb2, leave_request_pb2

from .codec import ContentCodec, check_str
from .encoded import ContentTypeId, EncodedContent
from .errors import ContentArgumentError, ContentDecodeError

GROUP_UPDATED = ContentTypeId("xmtp.org", "group_updated", 1, 0)
LEAVE_REQUEST = ContentTypeId("xmtp.org", "leave_request", 1, 0)
DELETE_MESSAGE = ContentTypeId("xmtp.org", "deleteMessage", 1, 0)


@dataclass(frozen=True, slots=True)
class GroupUpdated:
    """A commit's entry in the transcript (``xmtp.org/group_updated:1.0``, made locally, never sent): who made
    it, who joined, was removed or left (``left_inboxes``: removed after their own leave request), which
    metadata fields changed (``(name, old value, new value)``, None where a value was absent), and the admin
    changes."""

    initiated_by_inbox_id: str
    added_inboxes: tuple[str, ...] = ()
    removed_inboxes: tuple[str, ...] = ()
    metadata_changes: tuple[tuple[str, str | None, str | None], ...] = ()
    admins_added: tuple[str, ...] = ()
    admins_removed: tuple[str, ...] = ()
    super_admins_added: tuple[str, ...] = ()
    super_admins_removed: tuple[str, ...] = ()
    left_inboxes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaveRequest:
    """The sender asks to be removed from the group (``xmtp.org/leave_request:1.0``).

    ``authenticated_note`` is reserved by the protocol; libxmtp sends none.
    """

    authenticated_note: bytes | None = None


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    """The sender withdraws its message whose id (hex) is ``message_id`` (``xmtp.org/deleteMessage:1.0``)."""

    message_id: str


def _parse(cls: type[Message], data: bytes, structure: str) -> Message:
    try:
        return cls.FromString(data)
    except ProtobufDecodeError as exc:
        raise ContentDecodeError(structure, f"content is not a {cls.__name__} protobuf: {exc}") from exc


class GroupUpdatedCodec(ContentCodec[GroupUpdated]):
    """``xmtp.org/group_updated:1.0``: the protobuf ``GroupUpdated`` (transcript_messages.proto)."""

    content_type = GROUP_UPDATED
    should_push = False
    encodes = (GroupUpdated,)

    def encode(self, value: GroupUpdated) -> EncodedContent:
        Inbox = transcript_messages_pb2.GroupUpdated.Inbox
        try:
            message = transcript_messages_pb2.GroupUpdated(
                initiated_by_inbox_id=value.initiated_by_inbox_id,
                added_inboxes=[Inbox(inbox_id=i) for i in value.added_inboxes],
                removed_inboxes=[Inbox(inbox_id=i) for i in value.removed_inboxes],
                left_inboxes=[Inbox(inbox_id=i) for i in value.left_inboxes],
                added_admin_inboxes=[Inbox(inbox_id=i) for i in value.admins_added],
                removed_admin_inboxes=[Inbox(inbox_id=i) for i in value.admins_removed],
                added_super_admin_inboxes=[Inbox(inbox_id=i) for i in value.super_admins_added],
                removed_super_admin_inboxes=[Inbox(inbox_id=i) for i in value.super_admins_removed],
            )
            for name, old, new in value.metadata_changes:
                change = message.metadata_field_changes.add(field_name=name)
                if old is not None:
                    change.old_value = old
                if new is not None:
                    change.new_value = new
            body = message.SerializeToString(deterministic=True)
        except (TypeError, ValueError) as exc:
            raise ContentArgumentError(f"GroupUpdated cannot be encoded: {exc}") from exc
        return EncodedContent(GROUP_UPDATED, {}, body)

    def decode(self, encoded: EncodedContent) -> GroupUpdated:
        m = _parse(transcript_messages_pb2.GroupUpdated, encoded.content, str(GROUP_UPDATED))
        assert isinstance(m, transcript_messages_pb2.GroupUpdated)
        return GroupUpdated(
            m.initiated_by_inbox_id,
            tuple(i.inbox_id for i in m.added_inboxes),
            tuple(i.inbox_id for i in m.removed_inboxes),
            tuple(
                (
                    c.field_name,
                    c.old_value if c.HasField("old_value") else None,
                    c.new_value if c.HasField("new_value") else None,
                )
                for c in m.metadata_field_changes
            ),
            tuple(i.inbox_id for i in m.added_admin_inboxes),
            tuple(i.inbox_id for i in m.removed_admin_inboxes),
            tuple(i.inbox_id for i in m.added_super_admin_inboxes),
            tuple(i.inbox_id for i in m.removed_super_admin_inboxes),
            tuple(i.inbox_id for i in m.left_inboxes),
        )


class LeaveRequestCodec(ContentCodec[LeaveRequest]):
    """``xmtp.org/leave_request:1.0``."""

    content_type = LEAVE_REQUEST
    should_push = False
    encodes = (LeaveRequest,)

    def encode(self, value: LeaveRequest) -> EncodedContent:
        message = leave_request_pb2.LeaveRequest()
        if value.authenticated_note is not None:
            if not isinstance(value.authenticated_note, bytes | bytearray | memoryview):
                raise ContentArgumentError("a leave request's authenticated_note must be bytes")
            message.authenticated_note = bytes(value.authenticated_note)
        return EncodedContent(LEAVE_REQUEST, {}, message.SerializeToString())

    def decode(self, encoded: EncodedContent) -> LeaveRequest:
        m = _parse(leave_request_pb2.LeaveRequest, encoded.content, str(LEAVE_REQUEST))
        assert isinstance(m, leave_request_pb2.LeaveRequest)
        return LeaveRequest(m.authenticated_note if m.HasField("authenticated_note") else None)


class DeleteMessageCodec(ContentCodec[DeleteMessage]):
    """``xmtp.org/deleteMessage:1.0``."""

    content_type = DELETE_MESSAGE
    should_push = False
    encodes = (DeleteMessage,)

    def encode(self, value: DeleteMessage) -> EncodedContent:
        check_str(value.message_id, "message_id")
        body = delete_message_pb2.DeleteMessage(message_id=value.message_id).SerializeToString()
        return EncodedContent(DELETE_MESSAGE, {}, body)

    def decode(self, encoded: EncodedContent) -> DeleteMessage:
        m = _parse(delete_message_pb2.DeleteMessage, encoded.content, str(DELETE_MESSAGE))
        assert isinstance(m, delete_message_pb2.DeleteMessage)
        return DeleteMessage(m.message_id)
