"""SHA-2 hashing, HMAC and HKDF (RFC 5869) as MLS and HPKE use them.

Everything goes through ``hashlib`` and the one-shot ``hmac.digest`` (OpenSSL's HMAC without Python objects),
which is the fastest way to run these on CPython. An empty HKDF salt equals the all-zero ``Nh``-byte salt
RFC 5869 specifies, because HMAC zero-pads its key to the block size.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Protocol

from ..errors import LocalMLSError


class HashObject(Protocol):
    def digest(self) -> bytes: ...


class HKDF:
    """A hash function with its HMAC and HKDF (RFC 9180 ``kdf_id`` 1, 2 or 3)."""

    __slots__ = ("_new", "hash_len", "hash_name", "kdf_id", "name")

    def __init__(self, kdf_id: int, hash_name: str) -> None:
        new: Callable[[bytes], HashObject] = getattr(hashlib, hash_name)
        self._new = new
        self.kdf_id = kdf_id
        self.hash_name = hash_name
        self.name = f"HKDF-{hash_name.upper().replace('SHA', 'SHA-')}"
        self.hash_len: int = len(new(b"").digest())

    def __repr__(self) -> str:
        return f"<HKDF {self.name}>"

    def hash(self, data: bytes) -> bytes:
        return self._new(data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, self.hash_name)

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        """HKDF-Extract; ``salt`` may be empty (same as ``Nh`` zero bytes)."""
        return hmac.digest(salt, ikm, self.hash_name)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        """HKDF-Expand to ``length`` bytes (at most 255 * Nh)."""
        n = self.hash_len
        if 0 < length <= n:  # the common case: one HMAC block
            out = hmac.digest(prk, info + b"\x01", self.hash_name)
            return out if length == n else out[:length]
        if length == 0:
            return b""
        if length < 0 or length > 255 * n:
            raise LocalMLSError(f"{self.name}: cannot expand to {length} bytes (max {255 * n})")
        blocks: list[bytes] = []
        t = b""
        for i in range(1, -(-length // n) + 1):
            t = hmac.digest(prk, t + info + bytes((i,)), self.hash_name)
            blocks.append(t)
        return b"".join(blocks)[:length]


HKDF_SHA256 = HKDF(0x0001, "sha256")
HKDF_SHA384 = HKDF(0x0002, "sha384")
HKDF_SHA512 = HKDF(0x0003, "sha512")
