"""The MLS cipher suites: every suite's signatures, AEAD, HPKE, KDF and key handling, and the labeled helpers."""

from __future__ import annotations

import hashlib
import hmac
import os
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from pyxmtp.mls.crypto import (
    SUPPORTED_SUITES,
    CipherSuite,
    decrypt_with_label,
    derive_secret,
    derive_tree_secret,
    encrypt_with_label,
    expand_with_label,
    get_suite,
    make_key_package_ref,
    make_proposal_ref,
    ref_hash,
    sign_with_label,
    verify_with_label,
)
from pyxmtp.mls.crypto.nist import P256, P384, P521, Curve
from pyxmtp.mls.errors import (
    DecryptError,
    EncodeError,
    InvalidKey,
    InvalidSignature,
    LocalMLSError,
    UnsupportedError,
)

# id -> (hash, Nk, Npk, Nsk, signature scheme, signature public key length)
EXPECTED = {
    1: ("sha256", 16, 32, 32, "ed25519", 32),
    2: ("sha256", 16, 65, 32, "ecdsa_secp256r1_sha256", 65),
    3: ("sha256", 32, 32, 32, "ed25519", 32),
    4: ("sha512", 32, 56, 56, "ed448", 57),
    5: ("sha512", 32, 133, 66, "ecdsa_secp521r1_sha512", 133),
    6: ("sha512", 32, 56, 56, "ed448", 57),
    7: ("sha384", 32, 97, 48, "ecdsa_secp384r1_sha384", 97),
}


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


@pytest.fixture(params=SUPPORTED_SUITES, ids=lambda i: f"suite{i}")
def suite(request: pytest.FixtureRequest) -> CipherSuite:
    return get_suite(request.param)


# --- registry and attributes --------------------------------------------------------------------------------


def test_all_seven_suites() -> None:
    assert SUPPORTED_SUITES == (1, 2, 3, 4, 5, 6, 7)


def test_get_suite_is_cached_and_rejects_unknown() -> None:
    assert get_suite(3) is get_suite(3)
    for bad in (0, 8, 0xF0A0, -1):
        with pytest.raises(UnsupportedError):
            get_suite(bad)


def test_attributes(suite: CipherSuite) -> None:
    hash_name, nk, npk, nsk, scheme, sig_pub = EXPECTED[suite.id]
    assert suite.hash_len == hashlib.new(hash_name).digest_size
    assert (suite.aead_key_len, suite.aead_nonce_len, suite.aead_tag_len) == (nk, 12, 16)
    assert (suite.hpke_public_key_len, suite.hpke_private_key_len, suite.hpke_enc_len) == (npk, nsk, npk)
    assert (suite.signature_scheme, suite.signature_public_key_len) == (scheme, sig_pub)
    assert suite.name.startswith("MLS_")


# --- hash, MAC, KDF -----------------------------------------------------------------------------------------


def test_hash_mac_extract(suite: CipherSuite) -> None:
    hash_name = EXPECTED[suite.id][0]
    data = b"abc" * 100
    assert suite.hash(data) == hashlib.new(hash_name, data).digest()
    assert suite.mac(b"key", data) == hmac.new(b"key", data, hash_name).digest()
    # empty salt is the all-zero Nh-byte salt of RFC 5869
    assert suite.extract(b"", b"ikm") == hmac.new(bytes(suite.hash_len), b"ikm", hash_name).digest()


@pytest.mark.parametrize("length", [1, 16, 32, 33, 48, 64, 65, 200])
def test_expand_matches_cryptography(suite: CipherSuite, length: int) -> None:
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    prk = bytes(range(suite.hash_len))
    want = HKDFExpand(algorithm[EXPECTED[suite.id][0]], length, b"info").derive(prk)
    assert suite.expand(prk, b"info", length) == want


def test_expand_limit(suite: CipherSuite) -> None:
    assert len(suite.expand(b"k" * suite.hash_len, b"", 255 * suite.hash_len)) == 255 * suite.hash_len
    with pytest.raises(LocalMLSError):
        suite.expand(b"k" * suite.hash_len, b"", 255 * suite.hash_len + 1)


# --- signatures ---------------------------------------------------------------------------------------------


def test_sign_verify(suite: CipherSuite) -> None:
    key = suite.generate_signature_key(os.urandom)
    pub = key.public_bytes()
    assert len(pub) == suite.signature_public_key_len
    sig = suite.sign(key, b"message")
    suite.verify(pub, b"message", sig)
    suite.verify(bytearray(pub), b"message", sig)  # type: ignore[arg-type]  # bytes-like works too
    with pytest.raises(InvalidSignature):
        suite.verify(pub, b"messagf", sig)
    other = suite.generate_signature_key(os.urandom)
    with pytest.raises(InvalidSignature):
        suite.verify(other.public_bytes(), b"message", sig)


def test_tampered_signature_raises(suite: CipherSuite) -> None:
    key = suite.generate_signature_key(os.urandom)
    sig = suite.sign(key, b"message")
    for i in (0, len(sig) // 2, len(sig) - 1):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        with pytest.raises(InvalidSignature):
            suite.verify(key.public_bytes(), b"message", bytes(bad))
    for bad_sig in (b"", sig[:-1], sig + b"\x00", b"\x30\x00", b"\xff" * 200):
        with pytest.raises(InvalidSignature):
            suite.verify(key.public_bytes(), b"message", bad_sig)


def test_malformed_public_key_raises_invalid_signature(suite: CipherSuite) -> None:
    key = suite.generate_signature_key(os.urandom)
    sig = suite.sign(key, b"message")
    pub = key.public_bytes()
    not_on_curve = b"\x04" + b"\x01" * (len(pub) - 1)
    for bad_pub in (b"", pub[:-1], pub + b"\x00", b"\xff" * len(pub), not_on_curve):
        with pytest.raises(InvalidSignature):  # InvalidSignature is not a ValueError: a leak would fail here
            suite.verify(bad_pub, b"message", sig)


def test_signature_key_bytes_round_trip(suite: CipherSuite) -> None:
    key = suite.generate_signature_key(os.urandom)
    again = suite.signature_key_from_bytes(key.to_bytes())
    assert again == key
    assert again.public_bytes() == key.public_bytes()
    suite.verify(key.public_bytes(), b"m", suite.sign(again, b"m"))
    assert key.to_bytes().hex() not in repr(key)


def test_generate_signature_key_uses_injected_randomness(suite: CipherSuite) -> None:
    a = suite.generate_signature_key(seeded(7).randbytes)
    b = suite.generate_signature_key(seeded(7).randbytes)
    c = suite.generate_signature_key(seeded(8).randbytes)
    assert a.to_bytes() == b.to_bytes()
    assert a.to_bytes() != c.to_bytes()


def test_signature_key_from_bad_bytes(suite: CipherSuite) -> None:
    n = len(suite.generate_signature_key(os.urandom).to_bytes())
    with pytest.raises(InvalidKey):
        suite.signature_key_from_bytes(b"\x01" * (n + 1))
    if suite.signature_scheme.startswith("ecdsa"):
        for bad in (bytes(n), b"\xff" * n):  # zero, and at least the group order
            with pytest.raises(InvalidKey):
                suite.signature_key_from_bytes(bad)


def test_signing_with_a_key_of_another_scheme_is_misuse() -> None:
    ed_key = get_suite(1).generate_signature_key(os.urandom)
    with pytest.raises(LocalMLSError):
        get_suite(2).sign(ed_key, b"m")
    get_suite(3).sign(ed_key, b"m")  # suites 1 and 3 share Ed25519


def test_ecdsa_is_deterministic_when_supported() -> None:
    from cryptography.hazmat.backends.openssl.backend import backend

    if not backend.ecdsa_deterministic_supported():
        pytest.skip("OpenSSL without RFC 6979 support")
    suite = get_suite(2)
    key = suite.generate_signature_key(os.urandom)
    assert suite.sign(key, b"m") == suite.sign(key, b"m")


@pytest.mark.parametrize("curve", [P256, P384, P521], ids=lambda c: c.name)
def test_curve_orders(curve: Curve) -> None:
    ec.derive_private_key(curve.order - 1, curve.curve)
    with pytest.raises(ValueError):
        ec.derive_private_key(curve.order, curve.curve)


# --- AEAD ---------------------------------------------------------------------------------------------------


def test_aead_round_trip_and_tamper(suite: CipherSuite) -> None:
    key = os.urandom(suite.aead_key_len)
    nonce = os.urandom(12)
    ct = suite.aead_seal(key, nonce, b"aad", b"plaintext")
    assert len(ct) == len(b"plaintext") + 16
    assert suite.aead_open(key, nonce, b"aad", ct) == b"plaintext"
    assert suite.aead_open(bytearray(key), nonce, b"aad", ct) == b"plaintext"  # type: ignore[arg-type]
    bad = bytearray(ct)
    bad[0] ^= 1
    for args in (
        (key, nonce, b"aad", bytes(bad)),
        (key, nonce, b"aae", ct),
        (key, os.urandom(12), b"aad", ct),
        (os.urandom(suite.aead_key_len), nonce, b"aad", ct),
        (key, nonce, b"aad", ct[:10]),
        (key, nonce, b"aad", b""),
    ):
        with pytest.raises(DecryptError):
            suite.aead_open(*args)


def test_aead_rejects_wrong_lengths(suite: CipherSuite) -> None:
    with pytest.raises(LocalMLSError):
        suite.aead_seal(bytes(suite.aead_key_len + 8), bytes(12), b"", b"x")
    with pytest.raises(LocalMLSError):
        suite.aead_seal(bytes(suite.aead_key_len), bytes(16), b"", b"x")


# --- HPKE ---------------------------------------------------------------------------------------------------


def test_hpke_round_trip_and_tamper(suite: CipherSuite) -> None:
    key = suite.hpke_generate_key_pair(os.urandom)
    pub = key.public_bytes()
    kem_output, ct = suite.hpke_seal(pub, b"info", b"aad", b"secret message", os.urandom)
    assert len(kem_output) == suite.hpke_enc_len
    assert suite.hpke_open(key, kem_output, b"info", b"aad", ct) == b"secret message"
    bad_ct = bytearray(ct)
    bad_ct[-1] ^= 1
    bad_enc = bytearray(kem_output)
    bad_enc[-1] ^= 1
    other = suite.hpke_generate_key_pair(os.urandom)
    for k, enc, info, aad, c in (
        (key, kem_output, b"info", b"aad", bytes(bad_ct)),
        (key, bytes(bad_enc), b"info", b"aad", ct),
        (key, kem_output, b"infO", b"aad", ct),
        (key, kem_output, b"info", b"aaD", ct),
        (other, kem_output, b"info", b"aad", ct),
        (key, kem_output[:-1], b"info", b"aad", ct),
        (key, b"", b"info", b"aad", ct),
        (key, kem_output, b"info", b"aad", ct[:5]),
    ):
        with pytest.raises(DecryptError):
            suite.hpke_open(k, enc, info, aad, c)


def test_hpke_seal_to_malformed_key(suite: CipherSuite) -> None:
    bad_keys = [b"", b"\x00" * 5, b"\x01" * (suite.hpke_public_key_len + 1)]
    if suite.id in (
        2,
        5,
        7,
    ):  # any X25519/X448 string of the right length is a key; NIST points must be on the curve
        bad_keys.append(b"\x04" + b"\x01" * (suite.hpke_public_key_len - 1))
    for bad in bad_keys:
        with pytest.raises(InvalidKey):
            suite.hpke_seal(bad, b"", b"", b"x", os.urandom)
        with pytest.raises(InvalidKey):
            suite.hpke_validate_public_key(bad)
    suite.hpke_validate_public_key(suite.hpke_generate_key_pair(os.urandom).public_bytes())


def test_hpke_seal_is_a_function_of_the_random_source(suite: CipherSuite) -> None:
    pub = suite.hpke_derive_key_pair(b"r" * 32).public_bytes()
    a = suite.hpke_seal(pub, b"", b"", b"x", seeded(1).randbytes)
    b = suite.hpke_seal(pub, b"", b"", b"x", seeded(1).randbytes)
    c = suite.hpke_seal(pub, b"", b"", b"x", seeded(2).randbytes)
    assert a == b != c


def test_hpke_contexts_and_export(suite: CipherSuite) -> None:
    key = suite.hpke_generate_key_pair(os.urandom)
    kem_output, sender = suite.hpke_setup_sender(key.public_bytes(), b"info", os.urandom)
    receiver = suite.hpke_setup_receiver(key, kem_output, b"info")
    for i in range(3):
        msg = f"message {i}".encode()
        assert receiver.open(b"", sender.seal(b"", msg)) == msg
    assert sender.export(b"ctx", 40) == receiver.export(b"ctx", 40)
    assert sender.export(b"ctx", 40) != sender.export(b"ctX", 40)
    with pytest.raises(DecryptError):
        suite.hpke_setup_receiver(key, kem_output[:-1], b"info")


def test_hpke_single_shot_export(suite: CipherSuite) -> None:
    key = suite.hpke_generate_key_pair(os.urandom)
    kem_output, secret = suite.hpke_send_export(
        key.public_bytes(), b"", b"MLS 1.0 external init secret", suite.hash_len, os.urandom
    )
    assert len(secret) == suite.hash_len
    got = suite.hpke_receive_export(key, kem_output, b"", b"MLS 1.0 external init secret", suite.hash_len)
    assert got == secret
    ctx = suite.hpke_setup_receiver(key, kem_output, b"")
    assert ctx.export(b"MLS 1.0 external init secret", suite.hash_len) == secret


def test_hpke_derive_key_pair_is_deterministic(suite: CipherSuite) -> None:
    a = suite.hpke_derive_key_pair(b"\x01" * 32)
    b = suite.hpke_derive_key_pair(b"\x01" * 32)
    c = suite.hpke_derive_key_pair(b"\x02" * 32)
    assert a == b and a.to_bytes() == b.to_bytes() and a.public_bytes() == b.public_bytes()
    assert a.public_bytes() != c.public_bytes()
    assert len(a.to_bytes()) == suite.hpke_private_key_len
    assert len(a.public_bytes()) == suite.hpke_public_key_len
    assert suite.hpke_private_key_from_bytes(a.to_bytes()).public_bytes() == a.public_bytes()


def test_hpke_private_key_from_bad_bytes(suite: CipherSuite) -> None:
    with pytest.raises(InvalidKey):
        suite.hpke_private_key_from_bytes(b"\x01" * (suite.hpke_private_key_len + 1))
    if suite.id in (2, 5, 7):
        with pytest.raises(InvalidKey):
            suite.hpke_private_key_from_bytes(bytes(suite.hpke_private_key_len))


def test_hpke_key_of_another_kem_is_misuse() -> None:
    x25519_key = get_suite(1).hpke_generate_key_pair(os.urandom)
    kem_output, ct = get_suite(1).hpke_seal(x25519_key.public_bytes(), b"", b"", b"x", os.urandom)
    with pytest.raises(LocalMLSError):
        get_suite(4).hpke_open(x25519_key, bytes(56), b"", b"", ct)
    assert get_suite(3).hpke_setup_receiver(x25519_key, kem_output, b"") is not None  # same KEM


def test_hpke_rejects_low_order_x25519_point() -> None:
    suite = get_suite(3)
    key = suite.hpke_generate_key_pair(os.urandom)
    with pytest.raises(InvalidKey):
        suite.hpke_seal(bytes(32), b"", b"", b"x", os.urandom)
    with pytest.raises(DecryptError):
        suite.hpke_open(key, bytes(32), b"", b"", bytes(17))


def test_random_source_length_is_checked() -> None:
    with pytest.raises(LocalMLSError):
        get_suite(3).hpke_generate_key_pair(lambda n: b"short")


# --- labeled helpers ----------------------------------------------------------------------------------------


def test_labels_match_manual_encoding(suite: CipherSuite) -> None:
    secret = bytes(range(suite.hash_len))
    kdf_label = (16).to_bytes(2, "big") + bytes([8 + 3]) + b"MLS 1.0 foo" + bytes([3]) + b"ctx"
    assert expand_with_label(suite, secret, "foo", b"ctx", 16) == suite.expand(secret, kdf_label, 16)
    assert derive_secret(suite, secret, "foo") == expand_with_label(suite, secret, "foo", b"", suite.hash_len)
    assert derive_tree_secret(suite, secret, "foo", 7, 12) == expand_with_label(
        suite, secret, "foo", b"\x00\x00\x00\x07", 12
    )
    value = b"v" * 100  # a two-byte varint length
    want = suite.hash(bytes([28]) + b"MLS 1.0 KeyPackage Reference" + b"\x40\x64" + value)
    assert (
        make_key_package_ref(suite, value) == want == ref_hash(suite, "MLS 1.0 KeyPackage Reference", value)
    )
    assert make_proposal_ref(suite, value) == ref_hash(suite, "MLS 1.0 Proposal Reference", value)


def test_label_ranges() -> None:
    suite = get_suite(3)
    with pytest.raises(EncodeError):
        expand_with_label(suite, bytes(32), "x", b"", 0x10000)
    with pytest.raises(EncodeError):
        derive_tree_secret(suite, bytes(32), "x", 1 << 32, 32)


def test_sign_and_encrypt_with_label(suite: CipherSuite) -> None:
    key = suite.generate_signature_key(os.urandom)
    sig = sign_with_label(suite, key, "LeafNodeTBS", b"content")
    verify_with_label(suite, key.public_bytes(), "LeafNodeTBS", b"content", sig)
    with pytest.raises(InvalidSignature):
        verify_with_label(suite, key.public_bytes(), "GroupInfoTBS", b"content", sig)
    with pytest.raises(InvalidSignature):  # the label is bound: a plain signature over content does not pass
        verify_with_label(suite, key.public_bytes(), "LeafNodeTBS", b"content", suite.sign(key, b"content"))

    hpke_key = suite.hpke_generate_key_pair(os.urandom)
    kem_output, ct = encrypt_with_label(
        suite, hpke_key.public_bytes(), "UpdatePathNode", b"gc", b"pt", os.urandom
    )
    assert decrypt_with_label(suite, hpke_key, "UpdatePathNode", b"gc", kem_output, ct) == b"pt"
    with pytest.raises(DecryptError):
        decrypt_with_label(suite, hpke_key, "UpdatePathNode", b"gC", kem_output, ct)
    with pytest.raises(DecryptError):
        decrypt_with_label(suite, hpke_key, "Welcome", b"gc", kem_output, ct)


# --- the official vectors -----------------------------------------------------------------------------------
