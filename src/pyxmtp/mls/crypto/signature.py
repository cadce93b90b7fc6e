"""Signature schemes of the MLS cipher suites (RFC 9420 section 5.1.2).

Ed25519 and Ed448 (RFC 8032; private key = seed, public key raw) and ECDSA over P-256/SHA-256,
P-384/SHA-384 and P-521/SHA-512 (private key = big-endian scalar, public key = uncompressed point, signature
DER-encoded ``ECDSA-Sig-Value``). ECDSA signs deterministically (RFC 6979) when OpenSSL supports it, so
signing never needs randomness; verification accepts any valid signature.

:meth:`SignatureScheme.verify` raises :class:`~pyxmtp.mls.errors.InvalidSignature` for every failure,
including a malformed public key or signature, and never returns a value. Parsed public keys are kept in a
small LRU cache per scheme because the same member keys are verified over and over.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.backends.openssl.backend import backend as _backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519

from ..errors import InvalidKey, InvalidSignature, LocalMLSError
from .keys import RandomSource, SignaturePrivateKey
from .nist import P256, P384, P521, Curve

_VERIFY_FAILURES = (_CryptoInvalidSignature, ValueError, TypeError, UnsupportedAlgorithm)
_PUBLIC_KEY_CACHE = 256


class SignatureScheme(ABC):
    """One TLS ``SignatureScheme`` (``name`` is its RFC 8446 name, e.g. ``ed25519``)."""

    name: str
    private_key_len: int
    public_key_len: int

    def __repr__(self) -> str:
        return f"<SignatureScheme {self.name}>"

    @abstractmethod
    def generate(self, rng: RandomSource) -> SignaturePrivateKey:
        """A fresh key pair drawn from ``rng``."""

    @abstractmethod
    def private_key_from_bytes(self, data: bytes) -> SignaturePrivateKey:
        """Parse a serialised private key; :class:`InvalidKey` if malformed."""

    @abstractmethod
    def sign(self, key: SignaturePrivateKey, message: bytes) -> bytes: ...

    @abstractmethod
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Return if ``signature`` is valid, else raise :class:`InvalidSignature` (whatever is malformed)."""


class _SigKey(SignaturePrivateKey):
    __slots__ = ("_public", "_raw", "_scheme", "_sign")

    def __init__(
        self, scheme: SignatureScheme, sign: Callable[[bytes], bytes], raw: bytes, public: bytes
    ) -> None:
        self._scheme = scheme
        self._sign = sign  # the bound signing function of the underlying key object
        self._raw = raw
        self._public = public

    @property
    def algorithm(self) -> str:
        return self._scheme.name

    def to_bytes(self) -> bytes:
        return self._raw

    def public_bytes(self) -> bytes:
        return self._public


def _own_key(scheme: SignatureScheme, key: SignaturePrivateKey) -> _SigKey:
    if type(key) is not _SigKey or key._scheme is not scheme:
        raise LocalMLSError(f"{scheme.name}: cannot sign with a {key.algorithm} key")
    return key


class _EdDSA(SignatureScheme):
    def __init__(
        self,
        name: str,
        key_len: int,
        private_cls: type[ed25519.Ed25519PrivateKey] | type[ed448.Ed448PrivateKey],
        public_cls: type[ed25519.Ed25519PublicKey] | type[ed448.Ed448PublicKey],
    ) -> None:
        self.name = name
        self.private_key_len = key_len
        self.public_key_len = key_len
        self._private_cls = private_cls
        parse: Callable[[bytes], ed25519.Ed25519PublicKey | ed448.Ed448PublicKey] = (
            public_cls.from_public_bytes
        )
        self._public = functools.lru_cache(maxsize=_PUBLIC_KEY_CACHE)(parse)

    def private_key_from_bytes(self, data: bytes) -> SignaturePrivateKey:
        if len(data) != self.private_key_len:
            raise InvalidKey(f"{self.name} private key must be {self.private_key_len} bytes, got {len(data)}")
        raw = bytes(data)
        key = self._private_cls.from_private_bytes(raw)
        return _SigKey(self, key.sign, raw, key.public_key().public_bytes_raw())

    def generate(self, rng: RandomSource) -> SignaturePrivateKey:
        return self.private_key_from_bytes(rng(self.private_key_len))

    def sign(self, key: SignaturePrivateKey, message: bytes) -> bytes:
        return _own_key(self, key)._sign(message)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        try:
            if type(public_key) is not bytes:
                public_key = bytes(public_key)
            self._public(public_key).verify(signature, message)
        except _VERIFY_FAILURES:
            raise InvalidSignature(f"{self.name} signature does not verify") from None


class _ECDSA(SignatureScheme):
    def __init__(self, name: str, curve: Curve, hash_alg: hashes.HashAlgorithm) -> None:
        self.name = name
        self.private_key_len = curve.scalar_len
        self.public_key_len = curve.point_len
        self._curve = curve
        deterministic = _backend.ecdsa_deterministic_supported()
        self._sign_alg = ec.ECDSA(hash_alg, deterministic_signing=deterministic)
        self._verify_alg = ec.ECDSA(hash_alg)
        self._public = functools.lru_cache(maxsize=_PUBLIC_KEY_CACHE)(curve.public_key)

    def private_key_from_bytes(self, data: bytes) -> SignaturePrivateKey:
        c = self._curve
        # Big-endian scalars may arrive without leading zero bytes (e.g. a 65-byte P-521 key); normalise.
        raw = bytes(data).rjust(c.scalar_len, b"\0")
        key = c.private_key(raw)
        alg = self._sign_alg
        return _SigKey(self, lambda m: key.sign(m, alg), raw, c.point_bytes(key.public_key()))

    def generate(self, rng: RandomSource) -> SignaturePrivateKey:
        return self.private_key_from_bytes(self._curve.random_scalar(rng))

    def sign(self, key: SignaturePrivateKey, message: bytes) -> bytes:
        return _own_key(self, key)._sign(message)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        try:
            if type(public_key) is not bytes:
                public_key = bytes(public_key)
            self._public(public_key).verify(signature, message, self._verify_alg)
        except _VERIFY_FAILURES:
            raise InvalidSignature(f"{self.name} signature does not verify") from None


ED25519: SignatureScheme = _EdDSA("ed25519", 32, ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)
ED448: SignatureScheme = _EdDSA("ed448", 57, ed448.Ed448PrivateKey, ed448.Ed448PublicKey)
ECDSA_P256_SHA256: SignatureScheme = _ECDSA("ecdsa_secp256r1_sha256", P256, hashes.SHA256())
ECDSA_P384_SHA384: SignatureScheme = _ECDSA("ecdsa_secp384r1_sha384", P384, hashes.SHA384())
ECDSA_P521_SHA512: SignatureScheme = _ECDSA("ecdsa_secp521r1_sha512", P521, hashes.SHA512())
