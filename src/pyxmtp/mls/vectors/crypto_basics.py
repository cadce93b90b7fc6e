"""crypto-basics.json: RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret, SignWithLabel and
EncryptWithLabel for one cipher suite per case (RFC 9420 section 5; test-vectors.md "Cryptographic Basics").

Beyond reproducing the deterministic outputs, each case checks that the given signature verifies (and a
tampered one does not), that our own signature verifies (and equals the vector's for the deterministic
EdDSA suites), that the given ciphertext decrypts, and that our own encryption round-trips (with a seeded random source, so
runs are reproducible).
"""

from __future__ import annotations

import random

from ..crypto import (
    CipherSuite,
    decrypt_with_label,
    derive_secret,
    derive_tree_secret,
    encrypt_with_label,
    expand_with_label,
    get_suite,
    ref_hash,
    sign_with_label,
    verify_with_label,
)
from ..errors import DecryptError, InvalidSignature
from . import Case, VectorMismatch, expect


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])

    v = case["ref_hash"]
    expect("ref_hash", ref_hash(suite, v["label"], _h(v["value"])), _h(v["out"]))

    v = case["expand_with_label"]
    got = expand_with_label(suite, _h(v["secret"]), v["label"], _h(v["context"]), v["length"])
    expect("expand_with_label", got, _h(v["out"]))

    v = case["derive_secret"]
    expect("derive_secret", derive_secret(suite, _h(v["secret"]), v["label"]), _h(v["out"]))

    v = case["derive_tree_secret"]
    got = derive_tree_secret(suite, _h(v["secret"]), v["label"], v["generation"], v["length"])
    expect("derive_tree_secret", got, _h(v["out"]))

    _check_sign_with_label(suite, case["sign_with_label"])
    _check_encrypt_with_label(suite, case["encrypt_with_label"])


def _check_sign_with_label(suite: CipherSuite, v: Case) -> None:
    key = suite.signature_key_from_bytes(_h(v["priv"]))
    pub, label, content, signature = _h(v["pub"]), v["label"], _h(v["content"]), _h(v["signature"])
    expect("sign_with_label.pub", key.public_bytes(), pub)
    verify_with_label(suite, pub, label, content, signature)
    tampered = bytearray(content or b"\x00")
    tampered[0] ^= 1
    try:
        verify_with_label(suite, pub, label, bytes(tampered), signature)
    except InvalidSignature:
        pass
    else:
        raise VectorMismatch("sign_with_label: signature verified over tampered content")
    ours = sign_with_label(suite, key, label, content)
    verify_with_label(suite, pub, label, content, ours)
    if suite.signature_scheme in ("ed25519", "ed448"):  # deterministic: must match byte for byte
        expect("sign_with_label.signature", ours, signature)


def _check_encrypt_with_label(suite: CipherSuite, v: Case) -> None:
    key = suite.hpke_private_key_from_bytes(_h(v["priv"]))
    pub, label, context, plaintext = _h(v["pub"]), v["label"], _h(v["context"]), _h(v["plaintext"])
    expect("encrypt_with_label.pub", key.public_bytes(), pub)
    got = decrypt_with_label(suite, key, label, context, _h(v["kem_output"]), _h(v["ciphertext"]))
    expect("encrypt_with_label.plaintext", got, plaintext)
    kem_output, ciphertext = encrypt_with_label(
        suite, pub, label, context, plaintext, random.Random(suite.id).randbytes
    )
    expect(
        "encrypt_with_label.round_trip",
        decrypt_with_label(suite, key, label, context, kem_output, ciphertext),
        plaintext,
    )
    try:
        decrypt_with_label(suite, key, label + "x", context, kem_output, ciphertext)
    except DecryptError:
        pass
    else:
        raise VectorMismatch("encrypt_with_label: decrypted under a different label")
