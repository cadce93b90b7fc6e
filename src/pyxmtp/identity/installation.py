"""Installation keys: Ed25519, and the Ed25519ph signatures they put on identity updates.

An installation's id is its 32-byte Ed25519 public key; the same key is its MLS leaf signature key. Identity
update signatures are RFC 8032 Ed25519ph (SHA-512 prehash) with context ``IDENTITY UPDATE SIGNATURE``. Apps may
have the installation sign their own texts (libxmtp's ``sign_with_installation_key``, node-sdk's
``signWithInstallationKey``): the same Ed25519ph, with context ``PUBLIC SIGNATURE CONTEXT``
(:meth:`InstallationKey.sign_public`, :func:`verify_public_signature`), so such a signature can never pass for
an identity-update signature, nor the other way round.

Verification follows ed25519-dalek's ``verify_prehashed`` (what libxmtp runs): ``s`` must be canonical, and the
check is the cofactorless ``encode([s]B - [k]A) == R`` over the public-key bytes as given. pycryptodome's own
``verify`` is cofactored and would accept a few crafted signatures libxmtp rejects, so only its point
arithmetic is used here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from Crypto.Hash import SHA512
from Crypto.Signature import eddsa

from pyxmtp.identity.errors import InvalidSignature, Rule
from pyxmtp.identity.members import MemberIdentifier

IDENTITY_UPDATE_CONTEXT = b"IDENTITY UPDATE SIGNATURE"
"""Context of installation signatures on identity updates (libxmtp ``INSTALLATION_KEY_SIGNATURE_CONTEXT``)."""
PUBLIC_SIGNATURE_CONTEXT = b"PUBLIC SIGNATURE CONTEXT"
"""Context of libxmtp's app-level ``sign_with_public_context``."""

_L = 2**252 + 27742317777372353535851937790883648493
_P = 2**255 - 19
_BASE = eddsa.import_public_key(bytes.fromhex("58" + "66" * 31)).pointQ  # RFC 8032 base point B
_DOM2_PREFIX = b"SigEd25519 no Ed25519 collisions"


def _encode_point(xy: tuple[int, int]) -> bytes:
    x, y = xy
    return (int(y) | ((int(x) & 1) << 255)).to_bytes(32, "little")


def verify_ed25519ph(
    public_key: bytes, message: bytes, signature: bytes, context: bytes = IDENTITY_UPDATE_CONTEXT
) -> None:
    """Verify an RFC 8032 Ed25519ph signature with ``context``; raise :class:`InvalidSignature` if it fails."""
    if len(public_key) != 32:
        raise InvalidSignature(Rule.INVALID_PUBLIC_KEY, f"Ed25519 public key is {len(public_key)} bytes")
    if len(signature) != 64:
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, f"Ed25519 signature is {len(signature)} bytes")
    if len(context) > 255:
        raise ValueError("Ed25519ph context longer than 255 bytes")
    try:
        a_point = eddsa.import_public_key(public_key).pointQ
    except ValueError as exc:
        raise InvalidSignature(Rule.INVALID_PUBLIC_KEY, "not an Ed25519 public key") from exc
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, "Ed25519 s is not canonical")
    dom2 = _DOM2_PREFIX + bytes((1, len(context))) + context
    k_digest = hashlib.sha512(dom2 + signature[:32] + public_key + hashlib.sha512(message).digest()).digest()
    k = int.from_bytes(k_digest, "little") % _L
    r_check = _BASE * s + (-a_point) * k
    if _encode_point(r_check.xy) != signature[:32]:
        raise InvalidSignature(Rule.INVALID_SIGNATURE, "Ed25519ph signature does not verify")


def verify_installation_signature(public_key: bytes, text: str, signature: bytes) -> None:
    """Verify an installation's identity-update signature over the signature ``text``."""
    verify_ed25519ph(public_key, text.encode(), signature, IDENTITY_UPDATE_CONTEXT)


def verify_public_signature(public_key: bytes, text: str, signature: bytes) -> None:
    """Verify an installation's app-level signature of ``text`` (:meth:`InstallationKey.sign_public`; libxmtp's
    ``verify_signed_with_public_context``); raise :class:`InvalidSignature` naming what failed."""
    verify_ed25519ph(public_key, text.encode(), signature, PUBLIC_SIGNATURE_CONTEXT)


class InstallationKey:
    """An installation's Ed25519 private key; also a :class:`~pyxmtp.identity.signatures.Signer`."""

    __slots__ = ("_private", "_seed", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 private key (seed) is 32 bytes")
        self._seed = bytes(seed)
        self._private = eddsa.import_private_key(self._seed)
        self.public_key: bytes = bytes(self._private.public_key().export_key(format="raw"))

    @classmethod
    def generate(cls, randbytes: Callable[[int], bytes] = os.urandom) -> InstallationKey:
        return cls(randbytes(32))

    @property
    def seed(self) -> bytes:
        """The 32-byte RFC 8032 private key (for the MLS layer's plain Ed25519 signatures)."""
        return self._seed

    @property
    def installation_id(self) -> bytes:
        return self.public_key

    @property
    def identifier(self) -> MemberIdentifier:
        return MemberIdentifier.installation(self.public_key)

    def sign_prehashed(self, message: bytes, context: bytes) -> bytes:
        """Ed25519ph signature of ``message`` with ``context``."""
        signer = eddsa.new(self._private, "rfc8032", context=context)
        return bytes(signer.sign(SHA512.new(message)))

    def sign(self, text: str) -> bytes:
        """The installation's signature of an identity-update signature text (64 bytes)."""
        return self.sign_prehashed(text.encode(), IDENTITY_UPDATE_CONTEXT)

    def sign_public(self, text: str) -> bytes:
        """The installation's signature of an app's ``text`` (64 bytes; context ``PUBLIC SIGNATURE CONTEXT``),
        as libxmtp's ``sign_with_installation_key``: anyone checks it with :func:`verify_public_signature`."""
        return self.sign_prehashed(text.encode(), PUBLIC_SIGNATURE_CONTEXT)

    def __repr__(self) -> str:
        return f"InstallationKey({self.public_key.hex()})"
