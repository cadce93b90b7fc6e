"""XMTP's MLS credential (protocol reference, section 3).

An MLS Basic credential (type 0x0001) whose ``identity`` bytes are the protobuf
``xmtp.identity.MlsCredential { inbox_id = 1 }``. It carries no signature: the binding between the inbox and
the installation (the leaf's signature key) lives in the identity log.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.mls.constants import CredentialType
from pyxmtp.mls.errors import ValidationError
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.proto.identity import credential_pb2


class CredentialError(ValidationError):
    """A credential is not an XMTP credential (wrong type, or identity bytes that are not an MlsCredential)."""


def build_credential(inbox_id: str) -> Credential:
    """The Basic credential naming ``inbox_id``."""
    identity = credential_pb2.MlsCredential(inbox_id=inbox_id).SerializeToString()
    return Credential.basic(identity)


def parse_credential(credential: Credential) -> str:
    """The inbox id named by an XMTP credential; :class:`CredentialError` if it is not one.

    As libxmtp's ``parse_credential``: the type must be Basic and the identity must decode as ``MlsCredential``.
    The inbox id's format is not checked here (the identity log decides whether it means anything).
    """
    if credential.credential_type != CredentialType.basic:
        raise CredentialError(f"credential type {credential.credential_type} is not basic (1)")
    try:
        parsed = credential_pb2.MlsCredential.FromString(credential.identity)
    except ProtobufDecodeError as exc:
        raise CredentialError(f"basic credential identity is not an MlsCredential protobuf: {exc}") from exc
    return parsed.inbox_id
