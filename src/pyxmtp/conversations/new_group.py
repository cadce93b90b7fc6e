"""The group-context extensions of a conversation we create (protocol reference, sections 6.1-6.2).

They reproduce what libxmtp 1.10.0 writes (read off groups and DMs it created, in the interop tests): the
immutable metadata (kind, creator, the DM's two members), the mutable metadata with the default attributes and
a fresh ``_commit_log_signer``, the membership (creator at sequence id 0 until the first membership commit
raises it), the permission presets, and the RequiredCapabilities every member's leaf must meet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pyxmtp.mls.codec import encode_varint
from pyxmtp.mls.crypto.keys import RandomSource
from pyxmtp.mls.messages.extensions import Extension, RequiredCapabilities
from pyxmtp.proto.mls.message_contents import (
    group_membership_pb2,
    group_metadata_pb2,
    group_mutable_metadata_pb2,
    group_permissions_pb2,
)

from .group_context import ConversationType
from .key_packages import (
    APPLICATION_ID,
    GROUP_CONTEXT_EXTENSIONS_PROPOSAL,
    GROUP_MEMBERSHIP,
    GROUP_MUTABLE_METADATA,
    GROUP_MUTABLE_PERMISSIONS,
    IMMUTABLE_METADATA,
    LAST_RESORT,
)

#: What every member must support (libxmtp's RequiredCapabilities, byte for byte in this order).
XMTP_REQUIRED_CAPABILITIES = RequiredCapabilities(
    extension_types=(
        GROUP_MEMBERSHIP,
        GROUP_MUTABLE_METADATA,
        GROUP_MUTABLE_PERMISSIONS,
        IMMUTABLE_METADATA,
        LAST_RESORT,
        APPLICATION_ID,
    ),
    proposal_types=(GROUP_CONTEXT_EXTENSIONS_PROPOSAL,),
    credential_types=(1,),
)

_Membership = group_permissions_pb2.MembershipPolicy
_Metadata = group_permissions_pb2.MetadataPolicy
_Permissions = group_permissions_pb2.PermissionsUpdatePolicy

#: The metadata fields libxmtp's presets name.
METADATA_FIELDS = (
    "app_data",
    "description",
    "group_image_url_square",
    "group_name",
    "message_disappear_from_ns",
    "message_disappear_in_ns",
    "minimum_supported_protocol_version",
)
_ADMIN_FIELDS = {
    "message_disappear_from_ns": 3,
    "message_disappear_in_ns": 3,
    "minimum_supported_protocol_version": 4,
}


def _policies(
    add: int, remove: int, metadata: Mapping[str, int], admins: int
) -> group_permissions_pb2.PolicySet:
    return group_permissions_pb2.PolicySet(
        add_member_policy=_Membership(base=add),  # type: ignore[arg-type]
        remove_member_policy=_Membership(base=remove),  # type: ignore[arg-type]
        update_metadata_policy={k: _Metadata(base=v) for k, v in metadata.items()},  # type: ignore[arg-type]
        add_admin_policy=_Permissions(base=admins),  # type: ignore[arg-type]
        remove_admin_policy=_Permissions(base=admins),  # type: ignore[arg-type]
        update_permissions_policy=_Permissions(base=admins),  # type: ignore[arg-type]
    )


#: "All members" (the default): anyone adds, admins remove, metadata open but for the admin fields, super admins
#: change admins and permissions.
DEFAULT_POLICIES = _policies(1, 3, {f: _ADMIN_FIELDS.get(f, 1) for f in METADATA_FIELDS}, 3)
#: "Admins only": admins add and remove and edit metadata.
ADMIN_ONLY_POLICIES = _policies(3, 3, {f: _ADMIN_FIELDS.get(f, 3) for f in METADATA_FIELDS}, 3)
#: A DM: nobody adds or removes, both edit metadata, nobody changes admins or permissions.
DM_POLICIES = _policies(2, 2, dict.fromkeys(METADATA_FIELDS, 1), 1)


def membership_extension(members: Mapping[str, int], failed: Iterable[bytes] = ()) -> Extension:
    """0xFF01: each member inbox with the identity-log sequence id its installations are taken at."""
    body = group_membership_pb2.GroupMembership(members=dict(members), failed_installations=list(failed))
    return Extension(GROUP_MEMBERSHIP, body.SerializeToString(deterministic=True))


def _immutable(kind: ConversationType, creator: str, dm: tuple[str, str] | None) -> Extension:
    proto = group_metadata_pb2.GroupMetadataV1(
        conversation_type=int(kind),  # type: ignore[arg-type]
        creator_account_address="",
        creator_inbox_id=creator,
    )
    if dm is not None:
        proto.dm_members.dm_member_one.inbox_id = dm[0]
        proto.dm_members.dm_member_two.inbox_id = dm[1]
    body = proto.SerializeToString()
    return Extension(IMMUTABLE_METADATA, encode_varint(len(body)) + body)


def mutable_metadata_extension(
    attributes: Mapping[str, str], admins: Sequence[str], super_admins: Sequence[str]
) -> Extension:
    """0xFF00: the attributes and the admin lists."""
    proto = group_mutable_metadata_pb2.GroupMutableMetadataV1(attributes=dict(attributes))
    proto.admin_list.inbox_ids.extend(admins)
    proto.super_admin_list.inbox_ids.extend(super_admins)
    return Extension(GROUP_MUTABLE_METADATA, proto.SerializeToString(deterministic=True))


def permissions_extension(policies: group_permissions_pb2.PolicySet) -> Extension:
    body = group_permissions_pb2.GroupMutablePermissionsV1(policies=policies)
    return Extension(GROUP_MUTABLE_PERMISSIONS, body.SerializeToString(deterministic=True))


def _commit_log_signer(rng: RandomSource) -> str:
    """A fresh Ed25519 private key (hex) that all members share for signing the commit log (XIP-68)."""
    return rng(32).hex()


def dm_extensions(creator: str, peer: str, *, rng: RandomSource) -> tuple[Extension, ...]:
    """The context extensions of a new DM between ``creator`` and ``peer`` (inbox ids)."""
    attributes = {
        "group_name": "",
        "description": "",
        "group_image_url_square": "",
        "_commit_log_signer": _commit_log_signer(rng),
    }
    return (
        _immutable(ConversationType.DM, creator, (creator, peer)),
        mutable_metadata_extension(attributes, (), ()),
        permissions_extension(DM_POLICIES),
        XMTP_REQUIRED_CAPABILITIES.to_extension(),
        membership_extension({creator: 0}),
    )


def group_extensions(
    creator: str,
    *,
    rng: RandomSource,
    name: str = "",
    description: str = "",
    image_url: str = "",
    app_data: str = "",
    policies: group_permissions_pb2.PolicySet = DEFAULT_POLICIES,
    kind: ConversationType = ConversationType.GROUP,
) -> tuple[Extension, ...]:
    """The context extensions of a new group created by ``creator`` (its only super admin); ``kind``
    :attr:`~ConversationType.SYNC` for an inbox's device-sync group (otherwise a group like any other)."""
    attributes = {
        "group_name": name,
        "description": description,
        "group_image_url_square": image_url,
        "app_data": app_data,
        "_commit_log_signer": _commit_log_signer(rng),
    }
    return (
        _immutable(kind, creator, None),
        mutable_metadata_extension(attributes, (), (creator,)),
        permissions_extension(policies),
        XMTP_REQUIRED_CAPABILITIES.to_extension(),
        membership_extension({creator: 0}),
    )


def with_extension(extensions: Iterable[Extension], replacement: Extension) -> tuple[Extension, ...]:
    """``extensions`` with the one of ``replacement``'s type replaced (appended if absent), order kept."""
    out = []
    replaced = False
    for ext in extensions:
        if ext.extension_type == replacement.extension_type:
            out.append(replacement)
            replaced = True
        else:
            out.append(ext)
    if not replaced:
        out.append(replacement)
    return tuple(out)
