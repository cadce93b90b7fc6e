"""Ethereum wallets: Keccak-256, EIP-191 ``personal_sign``, address recovery, a local private-key signer.

Signatures are 65 bytes ``r || s || v``. As in libxmtp (``to_lower_s`` then alloy's recovery): ``r`` and ``s``
must lie in ``[1, n-1]``; a high ``s`` is replaced by ``n - s`` while ``v`` is kept as given; ``v`` may be
0/1 or 27/28 and anything else is an :class:`InvalidSignature` (``invalid_recovery_id``). The normalised bytes
are what identity updates remember for replay protection.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import coincurve
from Crypto.Hash import keccak

from pyxmtp.identity.errors import InvalidSignature, Rule
from pyxmtp.identity.members import MemberIdentifier

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
_EIP191_PREFIX = b"\x19Ethereum Signed Message:\n"
_V_TO_PARITY = {0: 0, 1: 1, 27: 0, 28: 1}


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (the pre-standard SHA-3 Ethereum uses)."""
    return keccak.new(digest_bits=256, data=data).digest()


def eip191_hash(text: str | bytes) -> bytes:
    """EIP-191 personal-message hash: keccak256("\\x19Ethereum Signed Message:\\n" + len + message)."""
    message = text.encode() if isinstance(text, str) else text
    return keccak256(_EIP191_PREFIX + str(len(message)).encode() + message)


def address_from_public_key(public_key: bytes) -> str:
    """Lowercase ``0x`` address of a secp256k1 public key (SEC1, compressed or uncompressed)."""
    try:
        point = coincurve.PublicKey(public_key).format(compressed=False)
    except Exception as exc:  # coincurve raises ValueError / TypeError for bad encodings
        raise InvalidSignature(Rule.INVALID_PUBLIC_KEY, f"not a secp256k1 public key: {exc}") from exc
    return "0x" + keccak256(bytes(point)[1:])[12:].hex()


def normalize_signature(signature: bytes) -> bytes:
    """libxmtp's ``to_lower_s`` on a 65-byte ``r || s || v``: check ranges, lower ``s``, keep ``v`` as given."""
    if len(signature) != 65:
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, f"ECDSA signature is {len(signature)} bytes, not 65")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, "ECDSA r or s out of range")
    if s > _HALF_N:
        return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + signature[64:]
    return bytes(signature)


def recover_address_from_hash(digest: bytes, signature: bytes) -> str:
    """Recover the signer's lowercase address from a 32-byte digest and a 65-byte signature."""
    normalized = normalize_signature(signature)
    parity = _V_TO_PARITY.get(normalized[64])
    if parity is None:
        raise InvalidSignature(Rule.INVALID_RECOVERY_ID, f"v = {normalized[64]} (want 0, 1, 27 or 28)")
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            normalized[:64] + bytes([parity]), digest, hasher=None
        )
    except Exception as exc:  # no point with that r, or libsecp256k1 refused the signature
        raise InvalidSignature(Rule.INVALID_SIGNATURE, f"ECDSA public key recovery failed: {exc}") from exc
    return "0x" + keccak256(bytes(public.format(compressed=False))[1:])[12:].hex()


def recover_address(text: str | bytes, signature: bytes) -> str:
    """The lowercase address whose key EIP-191-signed ``text`` (any key recovers to *some* address)."""
    return recover_address_from_hash(eip191_hash(text), signature)


def verify_personal_signature(text: str | bytes, signature: bytes, address: str) -> None:
    """Raise :class:`InvalidSignature` unless ``signature`` is ``address``'s EIP-191 signature of ``text``."""
    if recover_address(text, signature) != address.lower():
        raise InvalidSignature(Rule.INVALID_SIGNATURE, f"EIP-191 signature is not by {address}")


def sign_personal(private_key: bytes, text: str | bytes) -> bytes:
    """EIP-191 ``personal_sign``: 65 bytes ``r || s || v`` with low ``s`` and ``v`` = 27/28 (RFC 6979 nonce)."""
    sig = bytes(coincurve.PrivateKey(private_key).sign_recoverable(eip191_hash(text), hasher=None))
    return sig[:64] + bytes([27 + sig[64]])


class LocalWalletSigner:
    """An externally owned account held in memory: a :class:`~pyxmtp.identity.signatures.Signer`."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise ValueError("a secp256k1 private key is 32 bytes")
        try:
            key = coincurve.PrivateKey(private_key)
        except Exception as exc:
            raise ValueError(f"not a secp256k1 private key: {exc}") from exc
        self._key = bytes(private_key)
        self.address = "0x" + keccak256(bytes(key.public_key.format(compressed=False))[1:])[12:].hex()

    @classmethod
    def generate(cls, randbytes: Callable[[int], bytes] = os.urandom) -> LocalWalletSigner:
        while True:
            candidate = randbytes(32)
            if 0 < int.from_bytes(candidate, "big") < SECP256K1_N:
                return cls(candidate)

    @property
    def identifier(self) -> MemberIdentifier:
        return MemberIdentifier.ethereum(self.address)

    @property
    def private_key(self) -> bytes:
        return self._key

    def sign(self, text: str) -> bytes:
        return sign_personal(self._key, text)

    def __repr__(self) -> str:
        return f"LocalWalletSigner({self.address})"
