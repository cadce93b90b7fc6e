"""Verifying the signatures carried by identity updates, and the signer / verifier interfaces.

Every signer of an update signs the same text (:mod:`pyxmtp.identity.signature_text`). Verifying a wire
``Signature`` yields a :class:`VerifiedSignature`: who signed (the recovered or proven member), with which
kind of signature, the bytes that count for replay protection, and the chain id of a smart-contract wallet.

- ``erc_191``: EIP-191 recovery (:mod:`pyxmtp.identity.eth`).
- ``installation_key``: Ed25519ph with context (:mod:`pyxmtp.identity.installation`).
- ``erc_6492``: ERC-1271 / ERC-6492 smart-contract wallets. Checked on chain, which this package cannot do:
  the caller passes a :class:`SmartContractWalletVerifier`; without one such a signature is rejected with
  :class:`VerifierError` (``no_scw_verifier``).
- ``passkey``: WebAuthn P-256, verified locally with ``cryptography``.
- ``delegated_erc_191``: a legacy (XMTP v2) identity key signed by the wallet, which signs the text; fully
  verified here (both signatures and the key-to-signer binding).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from google.protobuf.message import DecodeError as ProtoDecodeError

from pyxmtp.identity.errors import IdentityError, InvalidSignature, MalformedUpdate, Rule, VerifierError
from pyxmtp.identity.eth import (
    address_from_public_key,
    eip191_hash,
    normalize_signature,
    recover_address,
)
from pyxmtp.identity.installation import verify_installation_signature
from pyxmtp.identity.members import MemberIdentifier, MemberKind, sanitize_address
from pyxmtp.proto.identity.associations import signature_pb2
from pyxmtp.proto.message_contents import public_key_pb2

_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_CHAIN_ID_RE = re.compile(r"\A[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}\Z")
_ACCOUNT_ADDRESS_RE = re.compile(r"\A[-.%a-zA-Z0-9]{1,128}\Z")
_U64_MAX = 2**64 - 1


class SignatureKind(Enum):
    ERC191 = "erc-191"
    ERC1271 = "erc-1271"
    INSTALLATION_KEY = "installation-key"
    LEGACY_DELEGATED = "legacy-delegated"
    P256 = "p256"


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature that verified over the update's text.

    ``raw_bytes`` is what replay protection remembers: the low-s ECDSA bytes, the Ed25519 bytes, the SCW
    signature bytes, the P-256 ``r || s``, or (legacy) the wallet's signature of the legacy key.
    """

    signer: MemberIdentifier
    kind: SignatureKind
    raw_bytes: bytes
    chain_id: int | None = None


@runtime_checkable
class Signer(Protocol):
    """Something that signs identity-update texts: a wallet (EIP-191, 65 bytes) or an installation key.

    Apps implement this for their own wallets; :class:`pyxmtp.identity.eth.LocalWalletSigner` and
    :class:`pyxmtp.identity.installation.InstallationKey` are the in-memory implementations.
    """

    @property
    def identifier(self) -> MemberIdentifier: ...

    def sign(self, text: str) -> bytes: ...


class SmartContractWalletVerifier(Protocol):
    """On-chain check of an ERC-1271 / ERC-6492 signature (the node may delegate it to a chain RPC).

    ``account_id`` is CAIP-10 ``eip155:<chain id>:<address>``, ``hash`` is :func:`pyxmtp.identity.eth.eip191_hash`
    of the signature text, ``block_number`` the block to check at (``None``: latest). Return ``True`` when the
    signature is valid and ``False`` when it is not. Raising an :class:`IdentityError` passes it through;
    any other exception (RPC down, timeout) becomes :class:`VerifierError` (``scw_verifier_failed``), which
    callers can tell apart from a proven-invalid signature.
    """

    def verify(self, account_id: str, block_number: int | None, signature: bytes, hash: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccountId:
    """A CAIP-10 account id as libxmtp parses it (``namespace:reference:address``)."""

    chain_id: str
    account_address: str

    @classmethod
    def parse(cls, text: str) -> AccountId:
        parts = text.split(":")
        if len(parts) != 3:
            raise MalformedUpdate(
                Rule.INVALID_ACCOUNT_ID, f"{text[:140]!r} is not namespace:reference:address"
            )
        chain_id = f"{parts[0]}:{parts[1]}"
        if not _CHAIN_ID_RE.match(chain_id) or not _ACCOUNT_ADDRESS_RE.match(parts[2]):
            raise MalformedUpdate(Rule.INVALID_ACCOUNT_ID, f"{text[:140]!r} is not a well-formed CAIP-10 id")
        return cls(chain_id, parts[2])

    def evm_chain_id(self) -> int:
        """The numeric chain id of an ``eip155:<n>`` account; :class:`MalformedUpdate` otherwise."""
        namespace, _, reference = self.chain_id.partition(":")
        if namespace != "eip155":
            raise MalformedUpdate(Rule.INVALID_ACCOUNT_ID, f"chain id {self.chain_id!r} is not eip155")
        if not reference.isdigit() or not reference.isascii() or int(reference) > _U64_MAX:
            raise MalformedUpdate(Rule.INVALID_ACCOUNT_ID, f"chain id {self.chain_id!r} is not a u64")
        return int(reference)

    def __str__(self) -> str:
        return f"{self.chain_id}:{self.account_address}"


def _verify_erc191(text: str, signature: bytes) -> VerifiedSignature:
    normalized = normalize_signature(signature)
    address = recover_address(text, normalized)
    return VerifiedSignature(MemberIdentifier.ethereum(address), SignatureKind.ERC191, normalized)


def _verify_installation(text: str, sig: signature_pb2.RecoverableEd25519Signature) -> VerifiedSignature:
    verify_installation_signature(sig.public_key, text, sig.bytes)
    return VerifiedSignature(
        MemberIdentifier.installation(sig.public_key), SignatureKind.INSTALLATION_KEY, sig.bytes
    )


def _verify_scw(
    text: str, sig: signature_pb2.SmartContractWalletSignature, verifier: SmartContractWalletVerifier | None
) -> VerifiedSignature:
    account = AccountId.parse(sig.account_id)
    chain_id = account.evm_chain_id()
    signer = MemberIdentifier(MemberKind.ETHEREUM, sanitize_address(account.account_address))
    if verifier is None:
        raise VerifierError(
            Rule.NO_SCW_VERIFIER,
            f"smart-contract-wallet signature by {account} needs a SmartContractWalletVerifier",
        )
    try:
        valid = verifier.verify(str(account), sig.block_number, sig.signature, eip191_hash(text))
    except IdentityError:
        raise
    except Exception as exc:
        raise VerifierError(Rule.SCW_VERIFIER_FAILED, f"{account}: {exc!r}") from exc
    if not valid:
        raise InvalidSignature(
            Rule.INVALID_SIGNATURE, f"smart-contract-wallet signature by {account} is invalid"
        )
    return VerifiedSignature(signer, SignatureKind.ERC1271, sig.signature, chain_id)


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _verify_passkey(text: str, sig: signature_pb2.RecoverablePasskeySignature) -> VerifiedSignature:
    try:
        client_data = json.loads(
            sig.client_data_json.decode("utf-8"),
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidSignature(Rule.INVALID_CLIENT_DATA, f"client_data_json: {exc}") from exc
    if not isinstance(client_data, dict):
        raise InvalidSignature(Rule.INVALID_CLIENT_DATA, "client_data_json is not an object")
    origin, challenge = client_data.get("origin"), client_data.get("challenge")
    if not isinstance(origin, str) or not isinstance(challenge, str):
        raise InvalidSignature(Rule.INVALID_CLIENT_DATA, "client_data_json lacks origin or challenge")
    if challenge != base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode():
        raise InvalidSignature(Rule.INVALID_CLIENT_DATA, "passkey challenge is not the signature text")
    try:
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sig.public_key)
    except ValueError as exc:
        raise InvalidSignature(Rule.INVALID_PUBLIC_KEY, "not a P-256 public key") from exc
    try:
        r, s = decode_dss_signature(sig.signature)
    except ValueError as exc:
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, "passkey signature is not DER") from exc
    if not (0 < r < _P256_N and 0 < s < _P256_N):
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, "P-256 r or s out of range")
    signed = sig.authenticator_data + hashlib.sha256(sig.client_data_json).digest()
    try:
        public_key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    except CryptoInvalidSignature as exc:
        raise InvalidSignature(Rule.INVALID_SIGNATURE, "passkey signature does not verify") from exc
    signer = MemberIdentifier.passkey(sig.public_key, origin)
    return VerifiedSignature(signer, SignatureKind.P256, r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def legacy_key_text(key_bytes: bytes) -> str:
    """What a wallet signed to create an XMTP v2 identity key (``XMTP : Create Identity``)."""
    return f"XMTP : Create Identity\n{key_bytes.hex()}\n\nFor more info: https://xmtp.org/signatures/"


@dataclass(frozen=True, slots=True)
class LegacySignedKey:
    """A validated XMTP v2 identity key: the wallet that signed it, and the secp256k1 key itself."""

    wallet_address: str
    public_key: bytes
    created_ns: int
    wallet_signature: bytes


def verify_legacy_signed_public_key(key: public_key_pb2.SignedPublicKey) -> LegacySignedKey:
    """Check a v2 ``SignedPublicKey``: the wallet's EIP-191 signature of :func:`legacy_key_text`, a secp256k1 key."""
    which = key.signature.WhichOneof("union") if key.HasField("signature") else None
    if which is None:
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, "legacy key carries no wallet signature")
    compact = getattr(key.signature, which)
    wallet_signature = normalize_signature(compact.bytes + bytes([compact.recovery & 0xFF]))
    wallet = recover_address(legacy_key_text(key.key_bytes), wallet_signature)
    try:
        unsigned = public_key_pb2.UnsignedPublicKey.FromString(key.key_bytes)
    except ProtoDecodeError as exc:
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, "legacy key bytes do not decode") from exc
    if not unsigned.HasField("secp256k1_uncompressed"):
        raise InvalidSignature(Rule.MALFORMED_SIGNATURE, "legacy key is not secp256k1")
    return LegacySignedKey(
        wallet, unsigned.secp256k1_uncompressed.bytes, unsigned.created_ns, wallet_signature
    )


def _verify_legacy(text: str, sig: signature_pb2.LegacyDelegatedSignature) -> VerifiedSignature:
    if not sig.HasField("signature"):
        raise MalformedUpdate(Rule.MISSING_FIELD, "LegacyDelegatedSignature.signature")
    if not sig.HasField("delegated_key"):
        raise MalformedUpdate(Rule.MISSING_FIELD, "LegacyDelegatedSignature.delegated_key")
    legacy_signer = recover_address(text, sig.signature.bytes)
    key = verify_legacy_signed_public_key(sig.delegated_key)
    if address_from_public_key(key.public_key) != legacy_signer:
        raise InvalidSignature(Rule.INVALID_SIGNATURE, "legacy key did not sign the text")
    return VerifiedSignature(
        MemberIdentifier.ethereum(key.wallet_address), SignatureKind.LEGACY_DELEGATED, key.wallet_signature
    )


def check_signature_shape(signature: signature_pb2.Signature) -> None:
    """The conversion checks libxmtp runs before any verification (missing parts, key shapes, CAIP-10)."""
    which = signature.WhichOneof("signature")
    if which is None:
        raise MalformedUpdate(Rule.MISSING_FIELD, "Signature has no kind")
    if which == "installation_key" and len(signature.installation_key.public_key) != 32:
        raise MalformedUpdate(Rule.INVALID_IDENTIFIER, "installation public key is not 32 bytes")
    if which == "erc_6492":
        AccountId.parse(signature.erc_6492.account_id)


def verify_signature(
    signature: signature_pb2.Signature, text: str, *, scw_verifier: SmartContractWalletVerifier | None = None
) -> VerifiedSignature:
    """Verify one wire signature over ``text``; raise an :class:`IdentityError` subclass if it fails."""
    check_signature_shape(signature)
    which = signature.WhichOneof("signature")
    if which == "erc_191":
        return _verify_erc191(text, signature.erc_191.bytes)
    if which == "installation_key":
        return _verify_installation(text, signature.installation_key)
    if which == "erc_6492":
        return _verify_scw(text, signature.erc_6492, scw_verifier)
    if which == "passkey":
        return _verify_passkey(text, signature.passkey)
    return _verify_legacy(text, signature.delegated_erc_191)


def erc191_signature(signature: bytes) -> signature_pb2.Signature:
    return signature_pb2.Signature(erc_191=signature_pb2.RecoverableEcdsaSignature(bytes=signature))


def installation_signature(signature: bytes, public_key: bytes) -> signature_pb2.Signature:
    return signature_pb2.Signature(
        installation_key=signature_pb2.RecoverableEd25519Signature(bytes=signature, public_key=public_key)
    )


def scw_signature(account_id: str, block_number: int, signature: bytes) -> signature_pb2.Signature:
    return signature_pb2.Signature(
        erc_6492=signature_pb2.SmartContractWalletSignature(
            account_id=account_id, block_number=block_number, signature=signature
        )
    )
