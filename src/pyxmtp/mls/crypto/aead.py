"""AEAD algorithms of the MLS cipher suites: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 (RFC 9180 ids 1-3).

Building a ``cryptography`` AEAD object costs about as much as encrypting a kilobyte with it, and MLS reuses
keys (a sender-data key opens every message of an epoch; a ratchet key may be retried), so :meth:`AEAD.seal`
and :meth:`AEAD.open` keep the most recently used key objects in a small LRU cache keyed by the key bytes.
The cache holds key material; :meth:`AEAD.clear_cache` drops it. One-shot keys (HPKE contexts) use
:meth:`AEAD.key_object` and bypass the cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ..errors import DecryptError, LocalMLSError

NONCE_LEN = 12
TAG_LEN = 16


class AEADKey(Protocol):
    """A keyed AEAD object (``cryptography``'s ``AESGCM`` / ``ChaCha20Poly1305``)."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class AEAD:
    """One AEAD algorithm: ``Nk``-byte keys, 12-byte nonces, 16-byte tags."""

    __slots__ = (
        "_factory",
        "_lru",
        "aead_id",
        "cached_key_object",
        "cipher",
        "key_len",
        "name",
        "nonce_len",
        "tag_len",
    )

    def __init__(
        self, aead_id: int, name: str, key_len: int, factory: type[AESGCM] | type[ChaCha20Poly1305]
    ) -> None:
        self.aead_id = aead_id
        self.name = name
        self.key_len = key_len
        self.nonce_len = NONCE_LEN
        self.tag_len = TAG_LEN
        self._factory = factory
        self.cipher: Callable[[bytes], AEADKey] = factory
        """The ``cryptography`` class itself: a key object without the length check or the copy of
        :meth:`key_object` (for keys this library derived, which always have the right length)."""
        self._lru = functools.lru_cache(maxsize=64)(self.key_object)
        self.cached_key_object: Callable[[bytes], AEADKey] = self._lru
        """:meth:`key_object` through the LRU cache (``bytes`` keys only: the key must be hashable)."""

    def __repr__(self) -> str:
        return f"<AEAD {self.name}>"

    def key_object(self, key: bytes) -> AEADKey:
        """A fresh keyed AEAD object (not cached); raises :class:`LocalMLSError` on a wrong key length."""
        if len(key) != self.key_len:
            raise LocalMLSError(f"{self.name}: key must be {self.key_len} bytes, got {len(key)}")
        return self._factory(bytes(key))

    def _keyed(self, key: bytes, nonce: bytes) -> AEADKey:
        if len(nonce) != NONCE_LEN:
            raise LocalMLSError(f"{self.name}: nonce must be {NONCE_LEN} bytes, got {len(nonce)}")
        try:
            return self.cached_key_object(key)
        except TypeError:  # unhashable buffer (bytearray, memoryview)
            return self.cached_key_object(bytes(key))

    def seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        """Ciphertext with the 16-byte tag appended."""
        return self._keyed(key, nonce).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        """The plaintext; :class:`DecryptError` if the tag does not verify."""
        aead = self._keyed(key, nonce)
        try:
            return aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptError(f"{self.name}: authentication tag does not verify") from None

    def clear_cache(self) -> None:
        """Forget every cached key object."""
        self._lru.cache_clear()


AES_128_GCM = AEAD(0x0001, "AES-128-GCM", 16, AESGCM)
AES_256_GCM = AEAD(0x0002, "AES-256-GCM", 32, AESGCM)
CHACHA20_POLY1305 = AEAD(0x0003, "ChaCha20-Poly1305", 32, ChaCha20Poly1305)


def open_with(aead: AEADKey, name: str, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
    """Decrypt with an already keyed object, mapping a bad tag to :class:`DecryptError`."""
    try:
        return aead.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise DecryptError(f"{name}: authentication tag does not verify") from None
