"""Key-package validation (RFC 9420 section 10.1 as OpenMLS does it) and XMTP's credential layer on top."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest

from pyxmtp.conversations.credential import CredentialError, build_credential, parse_credential
from pyxmtp.conversations.key_packages import validate_xmtp_key_package
from pyxmtp.mls.codec import encode
from pyxmtp.mls.constants import LeafNodeSource
from pyxmtp.mls.errors import DecodeError, InvalidSignature, ValidationError
from pyxmtp.mls.key_package_validation import (
    KeyPackageSignatureError,
    KeyPackageValidationError,
    validate_key_package,
    validate_key_package_bytes,
)
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.extensions import Extension

from .builders import INBOX_ID, SUITE, XMTP_CAPABILITIES, KeyPackageSpec

NOW = int(time.time())


def test_valid_key_package_verifies_and_exposes_its_parts() -> None:
    spec = KeyPackageSpec()
    verified = validate_key_package(spec.build(), now=NOW)
    assert verified.signature_key == spec.installation_key
    assert verified.lifetime.not_before <= NOW < verified.lifetime.not_after
    assert len(verified.reference()) == 32
    assert parse_credential(verified.credential) == INBOX_ID


def test_xmtp_validation_returns_inbox_and_installation_key() -> None:
    spec = KeyPackageSpec(inbox_id="cd" * 32)
    inbox_id, installation_key, verified = validate_xmtp_key_package(spec.to_bytes(), NOW)
    assert (inbox_id, installation_key) == ("cd" * 32, spec.installation_key)
    assert verified.key_package.cipher_suite == 3


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"version": 2}, "version"),
        ({"cipher_suite": 0x7777}, "cipher_suite"),
        ({"source": LeafNodeSource.update}, "leaf_node_source"),
        ({"kp_extensions": (Extension(0x000A, b""), Extension(0x000A, b""))}, "extensions"),
        ({"kp_extensions": (Extension(0x0001, b"\x00"),)}, "extensions"),
        ({"kp_extensions": (Extension(0xFF07, b""),)}, "capabilities"),
        ({"not_before": NOW + 100}, "lifetime"),
        ({"not_after": NOW}, "lifetime"),
        ({"not_before": 0, "not_after": NOW - 1}, "lifetime"),
    ],
)
def test_rejects_name_the_failed_check(change: dict[str, object], check: str) -> None:
    kp = KeyPackageSpec(**change).build()  # type: ignore[arg-type]
    with pytest.raises(KeyPackageValidationError) as info:
        validate_key_package(kp, now=NOW)
    assert info.value.check == check
    assert isinstance(info.value, ValidationError)


def test_init_key_equal_to_encryption_key_is_rejected() -> None:
    key = SUITE.hpke_generate_key_pair(os.urandom).public_bytes()
    with pytest.raises(KeyPackageValidationError) as info:
        validate_key_package(KeyPackageSpec(init_key=key, encryption_key=key).build(), now=NOW)
    assert info.value.check == "init_key"


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"leaf_signer": SUITE.generate_signature_key(os.urandom)}, "leaf_node_signature"),
        ({"leaf_label": "KeyPackageTBS"}, "leaf_node_signature"),
        ({"kp_signer": SUITE.generate_signature_key(os.urandom)}, "key_package_signature"),
        ({"kp_label": "LeafNodeTBS"}, "key_package_signature"),
    ],
)
def test_bad_signatures_are_rejected(change: dict[str, object], check: str) -> None:
    with pytest.raises(KeyPackageSignatureError) as info:
        validate_key_package(KeyPackageSpec(**change).build(), now=NOW)  # type: ignore[arg-type]
    assert info.value.check == check
    assert isinstance(info.value, InvalidSignature)


def test_tampering_after_signing_breaks_the_key_package_signature() -> None:
    kp = KeyPackageSpec().build()
    tampered = dataclasses.replace(kp, extensions=(*kp.extensions[:1],))
    with pytest.raises(KeyPackageSignatureError, match="KeyPackageTBS"):
        validate_key_package(tampered, now=NOW)


def test_lifetime_bounds_are_not_before_inclusive_not_after_exclusive() -> None:
    kp = KeyPackageSpec(not_before=NOW, not_after=NOW + 10).build()
    validate_key_package(kp, now=NOW)
    validate_key_package(kp, now=NOW + 9)
    with pytest.raises(KeyPackageValidationError):
        validate_key_package(kp, now=NOW + 10)


def test_capability_listed_unknown_extension_is_accepted() -> None:
    caps = dataclasses.replace(XMTP_CAPABILITIES, extensions=(*XMTP_CAPABILITIES.extensions, 0xFF07))
    validate_key_package(
        KeyPackageSpec(capabilities=caps, kp_extensions=(Extension(0xFF07, b"x"),)).build(), now=NOW
    )


def test_grease_extension_is_ignored_like_an_unknown_one() -> None:
    """RFC 9420 13.5 GREASE in the key package's extensions, not listed in the capabilities (as mls-rs sends)."""
    validate_key_package(KeyPackageSpec(kp_extensions=(Extension(0x0A0A, b""),)).build(), now=NOW)


def test_malformed_and_trailing_bytes_are_decode_errors() -> None:
    data = KeyPackageSpec().to_bytes()
    with pytest.raises(DecodeError):
        validate_key_package_bytes(data[:-1], now=NOW)
    with pytest.raises(DecodeError, match="trailing"):
        validate_key_package_bytes(data + b"\x00", now=NOW)


def test_credential_must_be_basic_with_an_mls_credential() -> None:
    with pytest.raises(CredentialError, match="not basic"):
        validate_xmtp_key_package(KeyPackageSpec(credential=Credential.x509((b"cert",))).to_bytes(), NOW)
    with pytest.raises(CredentialError, match="MlsCredential"):
        validate_xmtp_key_package(KeyPackageSpec(credential=Credential.basic(b"\xff\xff")).to_bytes(), NOW)


def test_credential_round_trip_matches_libxmtp_bytes() -> None:
    cred = build_credential("ef" * 32)
    assert encode(cred) == bytes.fromhex("00014042") + b"\x0a\x40" + b"ef" * 32
    assert parse_credential(cred) == "ef" * 32
