"""The seven RFC 9420 cipher suites (section 17.1), each composed from a KDF, an AEAD, a signature scheme
and an HPKE suite.

=====  =====================================================  ======  =================  =======  =========
id     name                                                   KEM     AEAD               hash     signature
=====  =====================================================  ======  =================  =======  =========
0x0001 MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519           X25519  AES-128-GCM        SHA-256  Ed25519
0x0002 MLS_128_DHKEMP256_AES128GCM_SHA256_P256                P-256   AES-128-GCM        SHA-256  P-256
0x0003 MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519    X25519  ChaCha20-Poly1305  SHA-256  Ed25519
0x0004 MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448               X448    AES-256-GCM        SHA-512  Ed448
0x0005 MLS_256_DHKEMP521_AES256GCM_SHA512_P521                P-521   AES-256-GCM        SHA-512  P-521
0x0006 MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448        X448    ChaCha20-Poly1305  SHA-512  Ed448
0x0007 MLS_256_DHKEMP384_AES256GCM_SHA384_P384                P-384   AES-256-GCM        SHA-384  P-384
=====  =====================================================  ======  =================  =======  =========

The HPKE KDF is the suite's KDF. Hot-path methods call ``hashlib``, the KDF's HMAC function and the cached AEAD
objects directly rather than through another layer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ..errors import LocalMLSError, UnsupportedError
from . import hpke as _hpke
from .aead import AEAD, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305, NONCE_LEN, AEADKey, open_with
from .hpke import HPKE, KEM, ReceiverContext, SenderContext
from .kdf import HKDF, HKDF_SHA256, HKDF_SHA384, HKDF_SHA512, HashObject, MacEachFunction, MacFunction
from .keys import HPKEPrivateKey, RandomSource, SignaturePrivateKey
from .signature import (
    ECDSA_P256_SHA256,
    ECDSA_P384_SHA384,
    ECDSA_P521_SHA512,
    ED448,
    ED25519,
    SignatureScheme,
)
from .suite import CipherSuite


class ComposedCipherSuite(CipherSuite):
    """A cipher suite built from its parts; ``kdf``, ``aead``, ``signature`` and ``hpke`` are public."""

    def __init__(
        self, suite_id: int, name: str, kdf: HKDF, aead: AEAD, signature: SignatureScheme, kem: KEM
    ) -> None:
        self.id = suite_id
        self.name = name
        self.kdf = kdf
        self.aead = aead
        self.signature = signature
        self.hpke = HPKE(kem, kdf, aead)
        self.hash_len = kdf.hash_len
        self.aead_key_len = aead.key_len
        self.aead_nonce_len = aead.nonce_len
        self.aead_tag_len = aead.tag_len
        self.hpke_public_key_len = kem.public_key_len
        self.hpke_private_key_len = kem.private_key_len
        self.hpke_enc_len = kem.enc_len
        self.signature_scheme = signature.name
        self.signature_public_key_len = signature.public_key_len
        self._aead_cached = aead.cached_key_object
        self._hmac = kdf.hmac
        self._new_hash: Callable[[bytes], HashObject] = getattr(hashlib, kdf.hash_name)

    # hash, MAC, KDF (inlined kdf.HKDF for the one-block case)
    def hash(self, data: bytes) -> bytes:
        return self._new_hash(data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        return self._hmac(key, data)

    def mac_function(self) -> MacFunction:
        return self._hmac

    def mac_each_function(self) -> MacEachFunction:
        return self.kdf.hmac_each

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        return self._hmac(salt, ikm)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        if 0 < length <= self.hash_len:
            out = self._hmac(prk, info + b"\x01")
            return out if length == self.hash_len else out[:length]
        return self.kdf.expand(prk, info, length)

    # AEAD (inlined aead.AEAD.seal / open: nonce check, cached key object)
    def _aead_key(self, key: bytes, nonce: bytes) -> AEADKey:
        if len(nonce) != NONCE_LEN:
            raise LocalMLSError(f"{self.aead.name}: nonce must be {NONCE_LEN} bytes, got {len(nonce)}")
        try:
            return self._aead_cached(key)
        except TypeError:  # unhashable buffer
            return self._aead_cached(bytes(key))

    def aead_seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        return self._aead_key(key, nonce).encrypt(nonce, plaintext, aad)

    def aead_open(self, key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        return open_with(self._aead_key(key, nonce), self.aead.name, nonce, aad, ciphertext)

    # signatures
    def generate_signature_key(self, rng: RandomSource) -> SignaturePrivateKey:
        return self.signature.generate(rng)

    def signature_key_from_bytes(self, data: bytes) -> SignaturePrivateKey:
        return self.signature.private_key_from_bytes(data)

    def sign(self, key: SignaturePrivateKey, message: bytes) -> bytes:
        return self.signature.sign(key, message)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        self.signature.verify(public_key, message, signature)

    # HPKE
    def hpke_derive_key_pair(self, ikm: bytes) -> HPKEPrivateKey:
        return self.hpke.kem.derive_key_pair(ikm)

    def hpke_generate_key_pair(self, rng: RandomSource) -> HPKEPrivateKey:
        return self.hpke.kem.generate_key_pair(rng)

    def hpke_private_key_from_bytes(self, data: bytes) -> HPKEPrivateKey:
        return self.hpke.kem.private_key_from_bytes(data)

    def hpke_validate_public_key(self, data: bytes) -> None:
        self.hpke.kem.validate_public_key(data)

    def hpke_seal(
        self, public_key: bytes, info: bytes, aad: bytes, plaintext: bytes, rng: RandomSource
    ) -> tuple[bytes, bytes]:
        return self.hpke.seal(public_key, info, aad, plaintext, rng)

    def hpke_open(
        self, private_key: HPKEPrivateKey, kem_output: bytes, info: bytes, aad: bytes, ciphertext: bytes
    ) -> bytes:
        return self.hpke.open(private_key, kem_output, info, aad, ciphertext)

    def hpke_setup_sender(
        self, public_key: bytes, info: bytes, rng: RandomSource
    ) -> tuple[bytes, SenderContext]:
        return self.hpke.setup_sender(public_key, info, rng)

    def hpke_setup_receiver(
        self, private_key: HPKEPrivateKey, kem_output: bytes, info: bytes
    ) -> ReceiverContext:
        return self.hpke.setup_receiver(private_key, kem_output, info)

    def hpke_send_export(
        self, public_key: bytes, info: bytes, exporter_context: bytes, length: int, rng: RandomSource
    ) -> tuple[bytes, bytes]:
        return self.hpke.send_export(public_key, info, exporter_context, length, rng)

    def hpke_receive_export(
        self,
        private_key: HPKEPrivateKey,
        kem_output: bytes,
        info: bytes,
        exporter_context: bytes,
        length: int,
    ) -> bytes:
        return self.hpke.receive_export(private_key, kem_output, info, exporter_context, length)


_TABLE: dict[int, tuple[str, HKDF, AEAD, SignatureScheme, KEM]] = {
    0x0001: (
        "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
        HKDF_SHA256,
        AES_128_GCM,
        ED25519,
        _hpke.DHKEM_X25519_HKDF_SHA256,
    ),
    0x0002: (
        "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
        HKDF_SHA256,
        AES_128_GCM,
        ECDSA_P256_SHA256,
        _hpke.DHKEM_P256_HKDF_SHA256,
    ),
    0x0003: (
        "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
        HKDF_SHA256,
        CHACHA20_POLY1305,
        ED25519,
        _hpke.DHKEM_X25519_HKDF_SHA256,
    ),
    0x0004: (
        "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
        HKDF_SHA512,
        AES_256_GCM,
        ED448,
        _hpke.DHKEM_X448_HKDF_SHA512,
    ),
    0x0005: (
        "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
        HKDF_SHA512,
        AES_256_GCM,
        ECDSA_P521_SHA512,
        _hpke.DHKEM_P521_HKDF_SHA512,
    ),
    0x0006: (
        "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
        HKDF_SHA512,
        CHACHA20_POLY1305,
        ED448,
        _hpke.DHKEM_X448_HKDF_SHA512,
    ),
    0x0007: (
        "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
        HKDF_SHA384,
        AES_256_GCM,
        ECDSA_P384_SHA384,
        _hpke.DHKEM_P384_HKDF_SHA384,
    ),
}

SUPPORTED_SUITES: tuple[int, ...] = tuple(_TABLE)


def build_suite(suite_id: int) -> CipherSuite:
    """A new instance of a standard suite (use :func:`~.suite.get_suite` for the cached one)."""
    try:
        name, kdf, aead, signature, kem = _TABLE[suite_id]
    except (KeyError, TypeError):
        raise UnsupportedError(f"unsupported cipher suite {suite_id!r}") from None
    return ComposedCipherSuite(suite_id, name, kdf, aead, signature, kem)
