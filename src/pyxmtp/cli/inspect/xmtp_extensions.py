"""XMTP's MLS extensions and credential, decoded (protocol reference, sections 3, 4.1, 5.1 and 6.2).

Key-package extensions: 0xFF03 ``WelcomeWrapperEncryption`` (the algorithm and public key to wrap welcomes to),
0xFF04 ``WelcomePointeeEncryptionAeadTypesExtension``. Group-context extensions: 0xF000 the immutable metadata
(a TLS ``opaque<V>`` around ``GroupMetadataV1``), 0xFF00 ``GroupMutableMetadataV1``, 0xFF01 ``GroupMembership``,
0xFF02 ``GroupMutablePermissionsV1``. The credential: a Basic credential whose identity is ``MlsCredential``.

Each function returns a :class:`~.tree.Value`; a body that does not decode is a :class:`~.tree.Problem`, the
rest of the payload is still shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from pyxmtp.conversations import key_packages as xmtp
from pyxmtp.conversations.welcome_wrap import algorithm_name
from pyxmtp.mls.codec import Reader
from pyxmtp.mls.errors import DecodeError
from pyxmtp.proto.identity import credential_pb2
from pyxmtp.proto.mls.message_contents import (
    group_membership_pb2,
    group_metadata_pb2,
    group_mutable_metadata_pb2,
    group_permissions_pb2,
    welcome_pointer_pb2,
    wrapper_encryption_pb2,
)

from .errors import InspectError
from .protobuf import describe_message, protobuf_error, unknown_path
from .tree import Named, Problem, Secret, Struct, Value

#: Mutable-metadata attributes that hold key material (the commit-log signing key, XIP-68).
_SECRET_ATTRIBUTES = frozenset({"_commit_log_signer"})


def _lenient(cls: type[Message], data: bytes, title: str, hook: Any = None) -> Value:
    """``data`` as ``cls``, described; fields the schema lacks are reported, not fatal (a newer client may add
    some)."""
    try:
        message = cls.FromString(bytes(data))
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        return Problem(f"not a valid {cls.DESCRIPTOR.name} protobuf ({protobuf_error(exc)})")
    out = describe_message(message, title, hook)
    where = unknown_path(message, "")
    if where is not None:
        out.add("unknown_fields", f"{where} carries fields this schema does not know")
    return out


def wrapper_algorithm(value: int) -> Named:
    return Named(value, algorithm_name(value) if value in (0, 1, 2, 3) else None)


def _wrapper_hook(fd: FieldDescriptor, value: Any) -> Value | None:
    if fd.name == "algorithm":
        return wrapper_algorithm(int(value))
    return None


def welcome_wrapper_encryption(data: bytes) -> Value:
    """0xFF03: ``WelcomeWrapperEncryption { pub_key, algorithm }``."""
    return _lenient(
        wrapper_encryption_pb2.WelcomeWrapperEncryption, data, "WelcomeWrapperEncryption", _wrapper_hook
    )


def pointee_aead_types(data: bytes) -> Value:
    """0xFF04: ``WelcomePointeeEncryptionAeadTypesExtension { repeated aead type }``."""
    return _lenient(
        welcome_pointer_pb2.WelcomePointeeEncryptionAeadTypesExtension,
        data,
        "WelcomePointeeEncryptionAeadTypes",
    )


def immutable_metadata(data: bytes) -> Value:
    """0xF000: ``opaque<V>`` holding ``GroupMetadataV1``."""
    reader = Reader(data, "immutable metadata")
    try:
        body = reader.opaque_v()
        reader.expect_end()
    except DecodeError as exc:
        return Problem(f"not a length-prefixed GroupMetadataV1: {exc}")
    return _lenient(group_metadata_pb2.GroupMetadataV1, body, "GroupMetadataV1")


def _mutable_hook(fd: FieldDescriptor, value: Any) -> Value | None:
    if fd.name == "attributes":
        out = Struct()
        for key in sorted(value):
            text = value[key]
            out.add(key, Secret(text.encode()) if key in _SECRET_ATTRIBUTES else text)
        return out
    return None


def mutable_metadata(data: bytes) -> Value:
    """0xFF00: ``GroupMutableMetadataV1`` (attributes, admins, super admins)."""
    return _lenient(
        group_mutable_metadata_pb2.GroupMutableMetadataV1, data, "GroupMutableMetadataV1", _mutable_hook
    )


def membership(data: bytes) -> Value:
    """0xFF01: ``GroupMembership`` (inbox id -> identity-log sequence id, failed installations)."""
    return _lenient(group_membership_pb2.GroupMembership, data, "GroupMembership")


def permissions(data: bytes) -> Value:
    """0xFF02: ``GroupMutablePermissionsV1``."""
    return _lenient(group_permissions_pb2.GroupMutablePermissionsV1, data, "GroupMutablePermissionsV1")


#: Extension type -> decoder of its body.
XMTP_EXTENSIONS: dict[int, Callable[[bytes], Value]] = {
    xmtp.WELCOME_WRAPPER_ENCRYPTION: welcome_wrapper_encryption,
    xmtp.WELCOME_POINTEE_ENCRYPTION_AEAD_TYPES: pointee_aead_types,
    xmtp.IMMUTABLE_METADATA: immutable_metadata,
    xmtp.GROUP_MUTABLE_METADATA: mutable_metadata,
    xmtp.GROUP_MEMBERSHIP: membership,
    xmtp.GROUP_MUTABLE_PERMISSIONS: permissions,
}


def mls_credential(identity: bytes) -> Value:
    """A Basic credential's identity as XMTP's ``MlsCredential { inbox_id }``."""
    try:
        message = credential_pb2.MlsCredential.FromString(bytes(identity))
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        return Problem(f"not a valid MlsCredential protobuf ({protobuf_error(exc)})")
    if unknown_path(message, "") is not None or not message.inbox_id:
        return Problem("not an XMTP MlsCredential (no inbox_id, or fields it does not have)")
    return Struct("MlsCredential").add("inbox_id", message.inbox_id)


def check_mls_credential(identity: bytes) -> str:
    """The inbox id of an ``MlsCredential``; :class:`InspectError` if it is not one."""
    value = mls_credential(identity)
    if isinstance(value, Problem):
        raise InspectError("MlsCredential", value.reason)
    inbox_id = value.get("inbox_id") if isinstance(value, Struct) else None
    assert isinstance(inbox_id, str)
    return inbox_id
