"""Names of the code points an MLS or XMTP payload carries (RFC 9420 section 17, XMTP's extension types)."""

from __future__ import annotations

from enum import IntEnum

from pyxmtp.conversations import key_packages as xmtp
from pyxmtp.mls.constants import CredentialType, ExtensionType, ProposalType, is_grease
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.errors import UnsupportedError

from .tree import Named

EXTENSION_NAMES: dict[int, str] = {e.value: e.name for e in ExtensionType} | {
    xmtp.IMMUTABLE_METADATA: "immutable_metadata",
    xmtp.GROUP_MUTABLE_METADATA: "group_mutable_metadata",
    xmtp.GROUP_MEMBERSHIP: "group_membership",
    xmtp.GROUP_MUTABLE_PERMISSIONS: "group_mutable_permissions",
    xmtp.WELCOME_WRAPPER_ENCRYPTION: "welcome_wrapper_encryption",
    xmtp.WELCOME_POINTEE_ENCRYPTION_AEAD_TYPES: "welcome_pointee_encryption_aead_types",
}
_PROPOSAL_NAMES = {p.value: p.name for p in ProposalType}
_CREDENTIAL_NAMES = {c.value: c.name for c in CredentialType}
_VERSIONS = {1: "mls10"}
#: Suites outside RFC 9420 that XMTP leaves advertise (OpenMLS's post-quantum suite; groups use 0x0003).
_OTHER_SUITES = {0x004D: "MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519"}


def _with_grease(value: int, names: dict[int, str]) -> str | None:
    name = names.get(value)
    if name is None and is_grease(value):
        return "GREASE"
    return name


def extension_type(value: int) -> Named:
    return Named(value, _with_grease(value, EXTENSION_NAMES), 4)


def proposal_type(value: int) -> Named:
    return Named(value, _with_grease(value, _PROPOSAL_NAMES), 4)


def credential_type(value: int) -> Named:
    return Named(value, _with_grease(value, _CREDENTIAL_NAMES), 4)


def protocol_version(value: int) -> Named:
    return Named(value, _with_grease(value, _VERSIONS))


def cipher_suite(value: int) -> Named:
    try:
        name: str | None = get_suite(value).name
    except (UnsupportedError, ValueError):
        name = _OTHER_SUITES.get(value) or ("GREASE" if is_grease(value) else None)
    return Named(value, name, 4)


def enum_name(enum: type[IntEnum], value: int) -> Named:
    try:
        return Named(value, enum(value).name)
    except ValueError:
        return Named(value, None)
