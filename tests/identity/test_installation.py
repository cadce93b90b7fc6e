"""Installation keys: Ed25519ph with context, against RFC 8032 and a libxmtp-produced signature."""

from __future__ import annotations

import hashlib

import pytest
from Crypto.Hash import SHA512
from Crypto.Signature import eddsa
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pyxmtp.identity.errors import InvalidSignature
from pyxmtp.identity.installation import (
    IDENTITY_UPDATE_CONTEXT,
    PUBLIC_SIGNATURE_CONTEXT,
    InstallationKey,
    verify_ed25519ph,
    verify_installation_signature,
)
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signatures import Signer
from tests.identity.test_signature_text import CAPTURED_INSTALLATION_KEY, CAPTURED_TEXT

# RFC 8032 section 7.3, test vector "abc" of Ed25519ph (no context)
RFC_SECRET = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
RFC_PUBLIC = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
RFC_SIGNATURE = bytes.fromhex(
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
)

# spec 2.7: signature by libxmtp 1.10.0's installation key over the captured 358-byte text
CAPTURED_INSTALLATION_SIGNATURE = bytes.fromhex(
    "764c8e0e5eb3d810489632b5adcd536c4a48b768346a89bf89e5a2e0e53866ae"
    "17c6846ef3d605cb1ca2adf1225883cd544e7ba3587cde3608d8380f033cee05"
)

L = 2**252 + 27742317777372353535851937790883648493


def test_rfc8032_ed25519ph_vector() -> None:
    key = InstallationKey(RFC_SECRET)
    assert key.public_key == RFC_PUBLIC
    assert key.sign_prehashed(b"abc", b"") == RFC_SIGNATURE
    verify_ed25519ph(RFC_PUBLIC, b"abc", RFC_SIGNATURE, b"")
    with pytest.raises(InvalidSignature):
        verify_ed25519ph(RFC_PUBLIC, b"abd", RFC_SIGNATURE, b"")
    with pytest.raises(InvalidSignature):
        verify_ed25519ph(RFC_PUBLIC, b"abc", RFC_SIGNATURE, IDENTITY_UPDATE_CONTEXT)


def test_captured_libxmtp_installation_signature() -> None:
    verify_installation_signature(CAPTURED_INSTALLATION_KEY, CAPTURED_TEXT, CAPTURED_INSTALLATION_SIGNATURE)
    text = CAPTURED_TEXT.encode()
    # it is neither plain Ed25519 nor Ed25519ph under the other libxmtp context
    with pytest.raises(CryptoInvalidSignature):
        Ed25519PublicKey.from_public_bytes(CAPTURED_INSTALLATION_KEY).verify(
            CAPTURED_INSTALLATION_SIGNATURE, text
        )
    with pytest.raises(InvalidSignature):
        verify_ed25519ph(
            CAPTURED_INSTALLATION_KEY, text, CAPTURED_INSTALLATION_SIGNATURE, PUBLIC_SIGNATURE_CONTEXT
        )
    with pytest.raises(InvalidSignature):
        verify_installation_signature(
            CAPTURED_INSTALLATION_KEY, CAPTURED_TEXT + " ", CAPTURED_INSTALLATION_SIGNATURE
        )


def test_sign_verify_round_trip_and_determinism() -> None:
    key = InstallationKey.generate(lambda n: b"\x42" * n)
    assert isinstance(key, Signer)
    assert key.identifier == MemberIdentifier.installation(key.public_key)
    assert key.installation_id == key.public_key and key.seed == b"\x42" * 32
    sig = key.sign("some text")
    assert sig == key.sign("some text") and len(sig) == 64
    verify_installation_signature(key.public_key, "some text", sig)
    # pycryptodome's own verifier agrees
    verifier = eddsa.new(eddsa.import_public_key(key.public_key), "rfc8032", context=IDENTITY_UPDATE_CONTEXT)
    verifier.verify(SHA512.new(b"some text"), sig)
    other = InstallationKey(b"\x43" * 32)
    with pytest.raises(InvalidSignature):
        verify_installation_signature(other.public_key, "some text", sig)


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_bit_flips_rejected(index: int) -> None:
    key = InstallationKey(b"\x01" * 32)
    sig = bytearray(key.sign("text"))
    sig[index] ^= 0x01
    with pytest.raises(InvalidSignature):
        verify_installation_signature(key.public_key, "text", bytes(sig))


def test_non_canonical_s_rejected() -> None:
    key = InstallationKey(b"\x02" * 32)
    sig = key.sign("text")
    s = int.from_bytes(sig[32:], "little")
    with pytest.raises(InvalidSignature) as err:
        verify_installation_signature(key.public_key, "text", sig[:32] + (s + L).to_bytes(32, "little"))
    assert err.value.rule == "malformed_signature"


@pytest.mark.parametrize(
    "public_key,signature,rule",
    [
        (b"\x01" * 31, b"\x00" * 64, "invalid_public_key"),
        (b"\x01" * 32, b"\x00" * 63, "malformed_signature"),
        # y = 2 is not the y coordinate of any Ed25519 point
        ((2).to_bytes(32, "little"), b"\x00" * 64, "invalid_public_key"),
    ],
)
def test_malformed_inputs(public_key: bytes, signature: bytes, rule: str) -> None:
    with pytest.raises(InvalidSignature) as err:
        verify_installation_signature(public_key, "text", signature)
    assert err.value.rule == rule


def test_cofactored_only_signature_rejected_like_dalek() -> None:
    """R with a small-order component passes a cofactored check but not libxmtp's (ed25519-dalek) check."""
    seed = b"\x05" * 32
    key = InstallationKey(seed)
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    base = eddsa.import_public_key(bytes.fromhex("58" + "66" * 31)).pointQ
    order2 = eddsa.import_public_key((2**255 - 20).to_bytes(32, "little")).pointQ  # (0, -1)
    r_point = base * 12345 + order2
    x, y = r_point.xy
    r_bytes = (y | ((x & 1) << 255)).to_bytes(32, "little")
    dom2 = (
        b"SigEd25519 no Ed25519 collisions"
        + bytes((1, len(IDENTITY_UPDATE_CONTEXT)))
        + IDENTITY_UPDATE_CONTEXT
    )
    ph = hashlib.sha512(b"text").digest()
    k = int.from_bytes(hashlib.sha512(dom2 + r_bytes + key.public_key + ph).digest(), "little") % L
    sig = r_bytes + ((12345 + k * a) % L).to_bytes(32, "little")
    cofactored = eddsa.new(
        eddsa.import_public_key(key.public_key), "rfc8032", context=IDENTITY_UPDATE_CONTEXT
    )
    cofactored.verify(SHA512.new(b"text"), sig)  # accepted by the cofactored equation
    with pytest.raises(InvalidSignature):
        verify_installation_signature(key.public_key, "text", sig)


def test_installation_key_rejects_bad_seed() -> None:
    with pytest.raises(ValueError):
        InstallationKey(b"\x00" * 31)
