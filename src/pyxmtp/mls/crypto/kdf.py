"""SHA-2 hashing, HMAC and HKDF (RFC 5869) as MLS and HPKE use them.

HMAC (RFC 2104) is computed as two ``hashlib`` one-shot hashes over ``key XOR opad`` / ``key XOR ipad`` (the pads
applied with ``bytes.translate``): on CPython 3.11 this takes about 60 % of the time of ``hmac.digest``, whose
OpenSSL HMAC context setup dominates for the short inputs MLS hashes (one HKDF block, a few dozen bytes). It is
checked against ``hmac.digest`` by the tests. An empty HKDF salt equals the all-zero ``Nh``-byte salt RFC 5869
specifies, because HMAC zero-pads its key to the block size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

from ..errors import LocalMLSError

_LONG = 2048  # longer messages are hashed in place rather than copied behind the padded key
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class HashObject(Protocol):
    def digest(self) -> bytes: ...

    def update(self, data: bytes, /) -> None: ...


MacFunction = Callable[[bytes, bytes], bytes]
"""``mac(key, data) -> HMAC tag``."""

MacEachFunction = Callable[[bytes, Sequence[bytes]], list[bytes]]
"""``mac_each(key, [data, ...]) -> [HMAC tag, ...]``: several tags under one key (the key is padded once)."""


def make_hmac(hash_name: str) -> MacFunction:
    """One-shot ``HMAC-<hash_name>(key, data)`` as a plain function (see the module docstring)."""
    new: Callable[[bytes], HashObject] = getattr(hashlib, hash_name)
    block: int = getattr(hashlib, hash_name)().block_size
    ipad, opad = _IPAD, _OPAD

    def mac(key: bytes, data: bytes) -> bytes:
        if type(key) is not bytes:
            key = bytes(key)
        if len(key) > block:
            key = new(key).digest()
        key = key.ljust(block, b"\0")
        if len(data) > _LONG:
            inner = new(key.translate(ipad))
            inner.update(data)
            return new(key.translate(opad) + inner.digest()).digest()
        return new(key.translate(opad) + new(key.translate(ipad) + data).digest()).digest()

    mac.__name__ = mac.__qualname__ = f"hmac_{hash_name}"
    return mac


def make_hmac_each(hash_name: str) -> MacEachFunction:
    """``HMAC-<hash_name>`` of several messages under one key, as a plain function."""
    new: Callable[[bytes], HashObject] = getattr(hashlib, hash_name)
    block: int = getattr(hashlib, hash_name)().block_size
    ipad, opad = _IPAD, _OPAD

    def mac_each(key: bytes, data: Sequence[bytes]) -> list[bytes]:
        if type(key) is not bytes:
            key = bytes(key)
        if len(key) > block:
            key = new(key).digest()
        key = key.ljust(block, b"\0")
        inner, outer = key.translate(ipad), key.translate(opad)
        return [new(outer + new(inner + d).digest()).digest() for d in data]

    mac_each.__name__ = mac_each.__qualname__ = f"hmac_{hash_name}_each"
    return mac_each


class HKDF:
    """A hash function with its HMAC and HKDF (RFC 9180 ``kdf_id`` 1, 2 or 3)."""

    __slots__ = ("_new", "hash_len", "hash_name", "hmac", "hmac_each", "kdf_id", "name")

    def __init__(self, kdf_id: int, hash_name: str) -> None:
        new: Callable[[bytes], HashObject] = getattr(hashlib, hash_name)
        self._new = new
        self.hmac: MacFunction = make_hmac(hash_name)
        """HMAC as a plain function (no method dispatch: hot loops call it directly)."""
        self.hmac_each: MacEachFunction = make_hmac_each(hash_name)
        """HMAC of several messages under one key."""
        self.kdf_id = kdf_id
        self.hash_name = hash_name
        self.name = f"HKDF-{hash_name.upper().replace('SHA', 'SHA-')}"
        self.hash_len: int = len(new(b"").digest())

    def __repr__(self) -> str:
        return f"<HKDF {self.name}>"

    def hash(self, data: bytes) -> bytes:
        return self._new(data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        return self.hmac(key, data)

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        """HKDF-Extract; ``salt`` may be empty (same as ``Nh`` zero bytes)."""
        return self.hmac(salt, ikm)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        """HKDF-Expand to ``length`` bytes (at most 255 * Nh)."""
        n = self.hash_len
        if 0 < length <= n:  # the common case: one HMAC block
            out = self.hmac(prk, info + b"\x01")
            return out if length == n else out[:length]
        if length == 0:
            return b""
        if length < 0 or length > 255 * n:
            raise LocalMLSError(f"{self.name}: cannot expand to {length} bytes (max {255 * n})")
        blocks: list[bytes] = []
        t = b""
        mac = self.hmac
        for i in range(1, -(-length // n) + 1):
            t = mac(prk, t + info + bytes((i,)))
            blocks.append(t)
        return b"".join(blocks)[:length]


HKDF_SHA256 = HKDF(0x0001, "sha256")
HKDF_SHA384 = HKDF(0x0002, "sha384")
HKDF_SHA512 = HKDF(0x0003, "sha512")
