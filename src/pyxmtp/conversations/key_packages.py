"""XMTP key packages as the node validates them (protocol reference, section 4.3).

What xmtp-node-go's validation service (libxmtp ``apps/mls_validation_service``) checks, and nothing more:
the bytes parse exactly as a TLS ``KeyPackage``; OpenMLS's key-package validation passes
(:func:`pyxmtp.mls.key_package_validation.validate_key_package`: both signatures, mls10, init key != encryption
key, extensions within the leaf capabilities, lifetime currently valid); and the credential is Basic holding an
``MlsCredential``. Not checked: that the installation belongs to the inbox, the lifetime range.
"""

from __future__ import annotations

from pyxmtp.mls.key_package_validation import VerifiedKeyPackage, validate_key_package_bytes

from .credential import parse_credential


def validate_xmtp_key_package(tls_bytes: bytes, now: int) -> tuple[str, bytes, VerifiedKeyPackage]:
    """``(inbox_id, installation_key, verified)`` for a key package received at Unix time ``now`` (seconds).

    ``installation_key`` is the leaf signature key. Raises :class:`pyxmtp.mls.errors.DecodeError`,
    :class:`~pyxmtp.mls.key_package_validation.KeyPackageValidationError`,
    :class:`~pyxmtp.mls.key_package_validation.KeyPackageSignatureError` or
    :class:`~pyxmtp.conversations.credential.CredentialError` (all :class:`pyxmtp.mls.errors.RemoteMLSError`).
    """
    verified = validate_key_package_bytes(tls_bytes, now=now)
    inbox_id = parse_credential(verified.credential)
    return inbox_id, verified.signature_key, verified
