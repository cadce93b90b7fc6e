"""MLS labeled cryptographic helpers (RFC 9420 sections 5.1.3, 5.1.4, 5.2 and 8).

Every label except :func:`ref_hash`'s gets the ``"MLS 1.0 "`` prefix. The TLS structures involved::

    struct { uint16 length; opaque label<V>; opaque context<V>; } KDFLabel;        // ExpandWithLabel
    struct { opaque label<V>; opaque content<V>; } SignContent;                   // SignWithLabel
    struct { opaque label<V>; opaque context<V>; } EncryptContext;                // EncryptWithLabel
    struct { opaque label<V>; opaque value<V>; } RefHashInput;                    // RefHash

They are built by plain concatenation (the encoded label is cached per label string), which is what a
:class:`~pyxmtp.mls.codec.Writer` would produce.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ..codec import encode_varint
from ..errors import EncodeError
from .keys import HPKEPrivateKey, RandomSource, SignaturePrivateKey
from .suite import CipherSuite

MLS_PREFIX = b"MLS 1.0 "
KEY_PACKAGE_REF_LABEL = "MLS 1.0 KeyPackage Reference"
PROPOSAL_REF_LABEL = "MLS 1.0 Proposal Reference"


@functools.lru_cache(maxsize=256)
def _mls_label(label: str) -> bytes:
    """``opaque label<V> = "MLS 1.0 " + label``, encoded."""
    data = MLS_PREFIX + label.encode()
    return encode_varint(len(data)) + data


@functools.lru_cache(maxsize=64)
def _raw_label(label: str) -> bytes:
    data = label.encode()
    return encode_varint(len(data)) + data


def _opaque(data: bytes) -> bytes:
    return encode_varint(len(data)) + data


def ref_hash(suite: CipherSuite, label: str, value: bytes) -> bytes:
    """``RefHash(label, value) = Hash(RefHashInput)``; ``label`` is used as given (no prefix)."""
    return suite.hash(_raw_label(label) + _opaque(value))


def make_key_package_ref(suite: CipherSuite, key_package: bytes) -> bytes:
    """``MakeKeyPackageRef``: ``RefHash("MLS 1.0 KeyPackage Reference", KeyPackage bytes)``."""
    return ref_hash(suite, KEY_PACKAGE_REF_LABEL, key_package)


def make_proposal_ref(suite: CipherSuite, authenticated_content: bytes) -> bytes:
    """``MakeProposalRef``: ``RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent bytes)``."""
    return ref_hash(suite, PROPOSAL_REF_LABEL, authenticated_content)


@functools.lru_cache(maxsize=256)
def _kdf_label_head(label: str, length: int) -> bytes:
    """``KDFLabel`` up to the context: ``uint16 length`` and the encoded label."""
    if not 0 <= length <= 0xFFFF:
        raise EncodeError(f"ExpandWithLabel: length {length} does not fit in uint16")
    return length.to_bytes(2, "big") + _mls_label(label)


def expand_with_label(suite: CipherSuite, secret: bytes, label: str, context: bytes, length: int) -> bytes:
    """``ExpandWithLabel(secret, label, context, length) = KDF.Expand(secret, KDFLabel, length)``."""
    n = len(context)
    size = bytes((n,)) if n < 0x40 else encode_varint(n)
    return suite.expand(secret, _kdf_label_head(label, length) + size + context, length)


def derive_secret(suite: CipherSuite, secret: bytes, label: str) -> bytes:
    """``DeriveSecret(secret, label) = ExpandWithLabel(secret, label, "", Nh)``."""
    n = suite.hash_len
    return suite.expand(secret, _kdf_label_head(label, n) + b"\x00", n)


def derive_tree_secret(suite: CipherSuite, secret: bytes, label: str, generation: int, length: int) -> bytes:
    """``DeriveTreeSecret = ExpandWithLabel(secret, label, uint32 generation, length)``."""
    if not 0 <= generation <= 0xFFFF_FFFF:
        raise EncodeError(f"DeriveTreeSecret: generation {generation} does not fit in uint32")
    info = _kdf_label_head(label, length) + b"\x04" + generation.to_bytes(4, "big")
    return suite.expand(secret, info, length)


def sign_with_label(suite: CipherSuite, key: SignaturePrivateKey, label: str, content: bytes) -> bytes:
    """``SignWithLabel(key, label, content) = Signature.Sign(key, SignContent)``."""
    return suite.sign(key, _mls_label(label) + _opaque(content))


def verify_with_label(
    suite: CipherSuite, public_key: bytes, label: str, content: bytes, signature: bytes
) -> None:
    """``VerifyWithLabel``; raises :class:`~pyxmtp.mls.errors.InvalidSignature` unless valid."""
    suite.verify(public_key, _mls_label(label) + _opaque(content), signature)


def _encrypt_context(label: str, context: bytes) -> bytes:
    return _mls_label(label) + _opaque(context)


def encrypt_with_label(
    suite: CipherSuite, public_key: bytes, label: str, context: bytes, plaintext: bytes, rng: RandomSource
) -> tuple[bytes, bytes]:
    """``EncryptWithLabel = SealBase(public_key, EncryptContext, "", plaintext)`` -> ``(kem_output, ciphertext)``."""
    return suite.hpke_seal(public_key, _encrypt_context(label, context), b"", plaintext, rng)


def encrypt_with_label_each(
    suite: CipherSuite,
    label: str,
    context: bytes,
    recipients: Sequence[tuple[bytes, bytes]],
    rng: RandomSource,
) -> list[tuple[bytes, bytes]]:
    """:func:`encrypt_with_label` of each ``(public_key, plaintext)`` under one ``label`` and ``context``: the
    EncryptContext is built once and the HPKE key-schedule context it gives is computed once (a Welcome's
    context is the encrypted GroupInfo, which holds the whole ratchet tree)."""
    info = _encrypt_context(label, context)
    return [suite.hpke_seal(public_key, info, b"", plaintext, rng) for public_key, plaintext in recipients]


def decrypt_with_label(
    suite: CipherSuite,
    private_key: HPKEPrivateKey,
    label: str,
    context: bytes,
    kem_output: bytes,
    ciphertext: bytes,
) -> bytes:
    """``DecryptWithLabel = OpenBase(kem_output, private_key, EncryptContext, "", ciphertext)``."""
    return suite.hpke_open(private_key, kem_output, _encrypt_context(label, context), b"", ciphertext)
