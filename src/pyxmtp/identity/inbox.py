"""Inbox ids (XIP-46) and the MLS credential that names an inbox.

``inbox_id = hex(SHA-256(identifier || decimal nonce))`` where the identifier is the lowercase ``0x`` address
(or the lowercase hex of a passkey key). The MLS Basic credential of an installation carries only
``xmtp.identity.MlsCredential{inbox_id}``; the binding of installation to inbox lives in the identity log.
"""

from __future__ import annotations

import hashlib
import re

from google.protobuf.message import DecodeError as ProtoDecodeError

from pyxmtp.identity.errors import AssociationError, MalformedUpdate, Rule
from pyxmtp.identity.members import MemberIdentifier, MemberKind, is_valid_address, sanitize_address
from pyxmtp.proto.identity import credential_pb2

MAX_NONCE = 2**64 - 1
_INBOX_ID_RE = re.compile(r"\A[0-9a-f]{64}\Z")


def _check_nonce(nonce: int) -> None:
    if not 0 <= nonce <= MAX_NONCE:
        raise ValueError(f"nonce must be a u64, got {nonce}")


def generate_inbox_id(address: str, nonce: int) -> str:
    """The inbox id of an Ethereum address (any case, ``0x`` optional) and nonce, as libxmtp's generator."""
    _check_nonce(nonce)
    addr = sanitize_address(address)
    return hashlib.sha256(f"{addr}{nonce}".encode()).hexdigest()


def inbox_id_for(identifier: MemberIdentifier, nonce: int) -> str:
    """libxmtp's ``Identifier::inbox_id``: the identifier's text is hashed as carried.

    An Ethereum identifier must be ``0x`` plus 40 hex digits, else :class:`AssociationError`
    (``invalid_account_address``); an installation key is not an identifier.
    """
    _check_nonce(nonce)
    if identifier.kind is MemberKind.INSTALLATION:
        raise MalformedUpdate(Rule.INVALID_IDENTIFIER, "installation keys are not a public identifier")
    if identifier.kind is MemberKind.ETHEREUM and not is_valid_address(identifier.address):
        raise AssociationError(Rule.INVALID_ACCOUNT_ADDRESS, f"{str(identifier)[:80]!r}")
    return hashlib.sha256(f"{identifier}{nonce}".encode()).hexdigest()


def is_inbox_id(text: str) -> bool:
    """True when ``text`` has the shape of an inbox id (64 lowercase hex characters)."""
    return _INBOX_ID_RE.match(text) is not None


def mls_credential_identity(inbox_id: str) -> bytes:
    """The MLS Basic credential ``identity`` bytes: protobuf ``MlsCredential{inbox_id}`` (66 bytes for 64 hex)."""
    return credential_pb2.MlsCredential(inbox_id=inbox_id).SerializeToString()


def inbox_id_from_credential_identity(identity: bytes) -> str:
    """The inbox id named by an MLS Basic credential's ``identity`` bytes.

    Raises :class:`MalformedUpdate` (``decode``) when the bytes are not an ``MlsCredential`` naming an inbox id.
    """
    try:
        cred = credential_pb2.MlsCredential.FromString(identity)
    except ProtoDecodeError as exc:
        raise MalformedUpdate(Rule.DECODE, f"MlsCredential: {exc}") from exc
    if not is_inbox_id(cred.inbox_id):
        raise MalformedUpdate(Rule.DECODE, f"MlsCredential does not name an inbox id: {cred.inbox_id[:80]!r}")
    return cred.inbox_id
