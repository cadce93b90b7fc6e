"""The archive's record encryption: AES-256-GCM with no associated data, record ``i`` under ``nonce0 + i`` (the
12 nonce bytes read as a little-endian 96-bit counter, wrapping), as libxmtp's ``xmtp_archive`` does.

The key is caller-supplied and must be at least 32 bytes; only the first 32 are used (libxmtp's rule). It lives
only inside the :class:`~cryptography.hazmat.primitives.ciphers.aead.AESGCM` object: no attribute, repr or
message holds it.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import ArchiveArgumentError

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
_NONCE_MOD = 1 << (8 * NONCE_SIZE)


class RecordCipher:
    """Seals and opens records in order, keeping the running nonce."""

    __slots__ = ("_aead", "_nonce")

    def __init__(self, key: bytes | bytearray | memoryview, nonce0: bytes = bytes(NONCE_SIZE)) -> None:
        if not isinstance(key, bytes | bytearray | memoryview):
            raise ArchiveArgumentError(f"an archive key must be bytes, not {type(key).__name__}")
        if len(key) < KEY_SIZE:
            raise ArchiveArgumentError(f"an archive key must be at least {KEY_SIZE} bytes, got {len(key)}")
        self._aead = AESGCM(bytes(key[:KEY_SIZE]))
        self._nonce = 0
        self.restart(nonce0)

    def restart(self, nonce0: bytes) -> None:
        """Let the next record be record 0 under ``nonce0``."""
        if len(nonce0) != NONCE_SIZE:
            raise ArchiveArgumentError(f"an archive nonce must be {NONCE_SIZE} bytes, got {len(nonce0)}")
        self._nonce = int.from_bytes(nonce0, "little")

    def __repr__(self) -> str:
        return "RecordCipher(<key hidden>)"

    @staticmethod
    def _bytes(counter: int) -> bytes:
        return (counter % _NONCE_MOD).to_bytes(NONCE_SIZE, "little")

    def seal(self, plaintext: bytes) -> bytes:
        sealed = self._aead.encrypt(self._bytes(self._nonce), plaintext, None)
        self._nonce += 1
        return sealed

    def open(self, ciphertext: bytes) -> bytes | None:
        """The next record's plaintext, or None if it authenticates under neither its nonce nor (libxmtp's
        tolerance for legacy archives, whose records all share one nonce) the one before it; in that case the
        running nonce stays one lower."""
        try:
            plaintext = self._aead.decrypt(self._bytes(self._nonce), ciphertext, None)
        except InvalidTag:
            try:
                plaintext = self._aead.decrypt(self._bytes(self._nonce - 1), ciphertext, None)
            except InvalidTag:
                return None
            self._nonce -= 1
        self._nonce += 1
        return plaintext
