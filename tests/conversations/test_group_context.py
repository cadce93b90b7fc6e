"""XMTP group-context extensions: parsed from real protobuf bodies, and every missing or malformed one refused."""

from __future__ import annotations

import pytest

from pyxmtp.conversations.group_context import (
    ConversationType,
    GroupContextError,
    parse_group_context,
)
from pyxmtp.conversations.key_packages import (
    GROUP_MEMBERSHIP,
    GROUP_MUTABLE_METADATA,
    GROUP_MUTABLE_PERMISSIONS,
    IMMUTABLE_METADATA,
)
from pyxmtp.mls.codec import encode_varint
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.proto.mls.message_contents import (
    group_membership_pb2,
    group_metadata_pb2,
    group_mutable_metadata_pb2,
    group_permissions_pb2,
)

ALICE, BOB = "a" * 64, "b" * 64


def dm_extensions(**overrides: bytes) -> list[Extension]:
    metadata = group_metadata_pb2.GroupMetadataV1(
        conversation_type=group_metadata_pb2.CONVERSATION_TYPE_DM,
        creator_inbox_id=ALICE,
        dm_members=group_metadata_pb2.DmMembers(
            dm_member_one=group_metadata_pb2.Inbox(inbox_id=ALICE),
            dm_member_two=group_metadata_pb2.Inbox(inbox_id=BOB),
        ),
    ).SerializeToString()
    mutable = group_mutable_metadata_pb2.GroupMutableMetadataV1(
        attributes={"group_name": "", "description": "d"}
    ).SerializeToString()
    membership = group_membership_pb2.GroupMembership(members={ALICE: 1, BOB: 1}).SerializeToString()
    permissions = group_permissions_pb2.GroupMutablePermissionsV1().SerializeToString()
    bodies = {
        "immutable": encode_varint(len(metadata)) + metadata,
        "mutable": mutable,
        "membership": membership,
        "permissions": permissions,
    }
    bodies.update(overrides)
    types = {
        "immutable": IMMUTABLE_METADATA,
        "mutable": GROUP_MUTABLE_METADATA,
        "membership": GROUP_MEMBERSHIP,
        "permissions": GROUP_MUTABLE_PERMISSIONS,
    }
    return [Extension(types[k], body) for k, body in bodies.items() if body != b"<absent>"]


def test_a_dm_context_parses() -> None:
    context = parse_group_context(dm_extensions())
    assert context.metadata.conversation_type is ConversationType.DM
    assert context.metadata.creator_inbox_id == ALICE
    assert context.metadata.dm_peer(BOB) == ALICE and context.metadata.dm_peer(ALICE) == BOB
    assert context.metadata.dm_peer("c" * 64) is None
    assert context.mutable.description == "d" and context.mutable.name == ""
    assert dict(context.membership.members) == {ALICE: 1, BOB: 1}


@pytest.mark.parametrize("which", ["immutable", "mutable", "membership", "permissions"])
def test_a_missing_extension_is_named(which: str) -> None:
    with pytest.raises(GroupContextError, match="has no"):
        parse_group_context(dm_extensions(**{which: b"<absent>"}))


@pytest.mark.parametrize("which", ["mutable", "membership", "permissions"])
def test_a_malformed_protobuf_is_refused(which: str) -> None:
    with pytest.raises(GroupContextError, match="not a valid protobuf"):
        parse_group_context(dm_extensions(**{which: b"\xff\xff\xff"}))


def test_the_immutable_metadata_needs_its_second_length_prefix() -> None:
    metadata = group_metadata_pb2.GroupMetadataV1(
        conversation_type=1, creator_inbox_id=ALICE
    ).SerializeToString()
    with pytest.raises(GroupContextError, match="length-prefixed"):
        parse_group_context(
            dm_extensions(immutable=metadata)
        )  # the bare protobuf, as a careless writer sends


def test_a_dm_without_both_members_is_refused() -> None:
    metadata = group_metadata_pb2.GroupMetadataV1(
        conversation_type=2, creator_inbox_id=ALICE
    ).SerializeToString()
    with pytest.raises(GroupContextError, match="both members"):
        parse_group_context(dm_extensions(immutable=encode_varint(len(metadata)) + metadata))


def test_an_unknown_conversation_type_is_refused() -> None:
    metadata = group_metadata_pb2.GroupMetadataV1(conversation_type=9).SerializeToString()
    with pytest.raises(GroupContextError, match="unknown conversation type 9"):
        parse_group_context(dm_extensions(immutable=encode_varint(len(metadata)) + metadata))
