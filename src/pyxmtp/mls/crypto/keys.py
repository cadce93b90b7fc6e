"""Opaque private-key types and the injected randomness source shared by the crypto layer.

Private keys are objects, never loose bytes: :class:`SignaturePrivateKey` (the suite's signature scheme) and
:class:`HPKEPrivateKey` (the suite's HPKE KEM). Both serialise with :meth:`to_bytes` in the encoding the
official MLS test vectors use, expose the matching public key with :meth:`public_bytes`, and are built from
bytes by the owning scheme (``CipherSuite.signature_key_from_bytes``, ``CipherSuite.hpke_private_key_from_bytes``).
Public keys travel as plain bytes.

Randomness is always injected as a :data:`RandomSource`: a callable returning ``n`` fresh random bytes
(``os.urandom`` in production, a seeded generator in tests).
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable

RandomSource = Callable[[int], bytes]
"""``rng(n)`` returns ``n`` random bytes; the only way randomness enters :mod:`pyxmtp.mls`."""


class _PrivateKey(ABC):
    __slots__ = ()

    @abstractmethod
    def to_bytes(self) -> bytes:
        """The serialised private key (secret!)."""

    @abstractmethod
    def public_bytes(self) -> bytes:
        """The serialised public key."""

    @property
    @abstractmethod
    def algorithm(self) -> str:
        """Name of the scheme the key belongs to (``ed25519``, ``DHKEM(X25519, HKDF-SHA256)``, ...)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _PrivateKey) or other.algorithm != self.algorithm:
            return NotImplemented
        return hmac.compare_digest(self.to_bytes(), other.to_bytes())

    def __hash__(self) -> int:
        return hash((self.algorithm, self.public_bytes()))

    def __repr__(self) -> str:  # never shows the secret
        return f"<{type(self).__name__} {self.algorithm} public={self.public_bytes()[:8].hex()}...>"


class SignaturePrivateKey(_PrivateKey):
    """A signature private key of one scheme (Ed25519, Ed448, ECDSA P-256/P-384/P-521).

    ``to_bytes()``: the Ed25519/Ed448 seed (32/57 bytes) or the big-endian ECDSA scalar (32/48/66 bytes).
    ``public_bytes()``: the raw EdDSA public key or the uncompressed SEC1 point.
    """

    __slots__ = ()


class HPKEPrivateKey(_PrivateKey):
    """An HPKE KEM private key (``SerializePrivateKey`` / ``SerializePublicKey`` of RFC 9180 section 7.1).

    ``to_bytes()``: raw X25519/X448 key or the big-endian NIST scalar; ``public_bytes()``: raw X25519/X448 key
    or the uncompressed SEC1 point.
    """

    __slots__ = ()

    @property
    @abstractmethod
    def kem_id(self) -> int:
        """The RFC 9180 KEM identifier this key belongs to."""
