"""Typed errors of the MLS core.

Two families, after h11/h2: :class:`LocalMLSError` is misuse by the caller of this library (a bug on our side
of the API), :class:`RemoteMLSError` is misbehaviour by a peer (bytes, signatures, proposals or commits that
RFC 9420 forbids). Every error names what was wrong. A failed operation leaves the group state unchanged.
"""

from __future__ import annotations


class MLSError(Exception):
    """Base of every error raised by :mod:`pyxmtp.mls`."""


class LocalMLSError(MLSError):
    """The caller misused the API (wrong state, bad argument, value that cannot be encoded)."""


class RemoteMLSError(MLSError):
    """A peer sent something invalid."""


class EncodeError(LocalMLSError):
    """A value cannot be encoded (integer out of range, vector too long)."""


class DecodeError(RemoteMLSError):
    """Bytes do not parse as the named TLS structure.

    ``structure`` names what was being decoded, ``offset`` is the byte offset into the outermost input.
    """

    def __init__(self, structure: str, offset: int, reason: str) -> None:
        self.structure = structure
        self.offset = offset
        self.reason = reason
        super().__init__(f"{structure}: at offset {offset}: {reason}")


class CryptoError(RemoteMLSError):
    """A cryptographic check failed."""


class InvalidSignature(CryptoError):
    """A signature does not verify under the given key."""


class DecryptError(CryptoError):
    """AEAD or HPKE decryption failed (wrong key, tampered ciphertext or associated data)."""


class InvalidKey(CryptoError):
    """Key bytes are not a valid key for the suite (wrong length, not on the curve, ...)."""


class ValidationError(RemoteMLSError):
    """A structure parsed but violates an RFC 9420 rule; the message says which."""


class UnsupportedError(RemoteMLSError):
    """A peer used a cipher suite, version, credential or feature this implementation does not support."""


class WrongEpochError(RemoteMLSError):
    """A message belongs to an epoch that is not the current one (or one still kept)."""


class MissingKeyError(RemoteMLSError):
    """A message needs a key that was deleted (forward secrecy) or never existed."""


class StateError(LocalMLSError):
    """The operation is not allowed in the group's current state."""
