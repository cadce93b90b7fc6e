"""Deterministic keys and signed identity updates for the identity tests.

Everything here is real cryptography: wallets are secp256k1 keys, installations Ed25519 keys, passkeys P-256
keys (WebAuthn assertions built as a browser would), legacy keys are v2 secp256k1 identity keys signed by a
wallet. The smart-contract-wallet verifier stands in for an ERC-1271 contract whose owner is an EOA: a
signature is valid when it recovers to the owner.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import coincurve
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pyxmtp.identity.actions import UnsignedAction, action_to_proto
from pyxmtp.identity.builder import IdentityUpdateBuilder, SignatureRequest
from pyxmtp.identity.eth import LocalWalletSigner, recover_address_from_hash, sign_personal
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signature_text import build_signature_text
from pyxmtp.identity.signatures import AccountId, erc191_signature, installation_signature, legacy_key_text
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2
from pyxmtp.proto.message_contents import public_key_pb2
from pyxmtp.proto.message_contents import signature_pb2 as legacy_signature_pb2

TS = 1_700_000_000_123_456_789


def wallet(n: int) -> LocalWalletSigner:
    return LocalWalletSigner(hashlib.sha256(b"wallet %d" % n).digest())


def installation(n: int) -> InstallationKey:
    return InstallationKey(hashlib.sha256(b"installation %d" % n).digest())


class PasskeySigner:
    """A WebAuthn authenticator holding a P-256 key."""

    def __init__(self, n: int, origin: str = "https://app.example") -> None:
        scalar = int.from_bytes(hashlib.sha256(b"passkey %d" % n).digest(), "big") % (2**255) + 1
        self._key = ec.derive_private_key(scalar, ec.SECP256R1())
        self.public_key = self._key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        self.origin = origin

    @property
    def identifier(self) -> MemberIdentifier:
        return MemberIdentifier.passkey(self.public_key, self.origin)

    def signature(self, text: str, *, challenge: str | None = None) -> signature_pb2.Signature:
        if challenge is None:
            challenge = base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()
        authenticator_data = hashlib.sha256(b"app.example").digest() + b"\x05" + b"\x00\x00\x00\x01"
        der = self._key.sign(
            authenticator_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return signature_pb2.Signature(
            passkey=signature_pb2.RecoverablePasskeySignature(
                public_key=self.public_key,
                signature=der,
                authenticator_data=authenticator_data,
                client_data_json=client_data,
            )
        )


@dataclass
class LegacyKey:
    """An XMTP v2 identity key (secp256k1) created by ``owner``."""

    owner: LocalWalletSigner
    private_key: bytes
    created_ns: int = 1_600_000_000_000_000_000
    signed: public_key_pb2.SignedPublicKey = field(init=False)

    def __post_init__(self) -> None:
        public = coincurve.PrivateKey(self.private_key).public_key.format(compressed=False)
        unsigned = public_key_pb2.UnsignedPublicKey(
            created_ns=self.created_ns,
            secp256k1_uncompressed=public_key_pb2.UnsignedPublicKey.Secp256k1Uncompressed(bytes=public),
        )
        key_bytes = unsigned.SerializeToString()
        wallet_sig = self.owner.sign(legacy_key_text(key_bytes))
        self.signed = public_key_pb2.SignedPublicKey(
            key_bytes=key_bytes,
            signature=legacy_signature_pb2.Signature(
                wallet_ecdsa_compact=legacy_signature_pb2.Signature.WalletECDSACompact(
                    bytes=wallet_sig[:64], recovery=wallet_sig[64] - 27
                )
            ),
        )

    def signature(self, text: str) -> signature_pb2.Signature:
        return signature_pb2.Signature(
            delegated_erc_191=signature_pb2.LegacyDelegatedSignature(
                delegated_key=self.signed,
                signature=signature_pb2.RecoverableEcdsaSignature(
                    bytes=sign_personal(self.private_key, text)
                ),
            )
        )


def legacy_key(owner: LocalWalletSigner, n: int = 0) -> LegacyKey:
    return LegacyKey(owner, hashlib.sha256(b"legacy %d" % n).digest())


class OwnerScwVerifier:
    """An ERC-1271 wallet per account whose ``isValidSignature`` accepts its owner's ECDSA signature."""

    def __init__(self, owners: dict[str, LocalWalletSigner]) -> None:
        self.owners = {addr.lower(): owner for addr, owner in owners.items()}
        self.calls: list[tuple[str, int | None, bytes, bytes]] = []

    def verify(self, account_id: str, block_number: int | None, signature: bytes, hash: bytes) -> bool:
        self.calls.append((account_id, block_number, signature, hash))
        owner = self.owners.get(AccountId.parse(account_id).account_address.lower())
        if owner is None:
            return False
        try:
            return recover_address_from_hash(hash, signature) == owner.address
        except Exception:
            return False


def scw_signature(
    owner: LocalWalletSigner, account_address: str, chain_id: int, text: str
) -> signature_pb2.Signature:
    return signature_pb2.Signature(
        erc_6492=signature_pb2.SmartContractWalletSignature(
            account_id=f"eip155:{chain_id}:{account_address}", block_number=12345, signature=owner.sign(text)
        )
    )


def register(
    owner: LocalWalletSigner, inst: InstallationKey, *, nonce: int = 0, ts: int = TS
) -> association_pb2.IdentityUpdate:
    """A new inbox's first update, signed by the wallet and the installation (libxmtp's registration)."""
    request = (
        IdentityUpdateBuilder(inbox_id_for(owner.identifier, nonce), client_timestamp_ns=ts)
        .create_inbox(owner.identifier, nonce)
        .add_association(inst.identifier, owner.identifier)
        .build()
    )
    request.sign_with(inst)
    request.sign_with(owner)
    return request.build_identity_update()


def builder(inbox_id: str, ts: int = TS) -> IdentityUpdateBuilder:
    return IdentityUpdateBuilder(inbox_id, client_timestamp_ns=ts)


def signed(
    request: SignatureRequest, *signers: LocalWalletSigner | InstallationKey
) -> association_pb2.IdentityUpdate:
    for s in signers:
        request.sign_with(s)
    return request.build_identity_update()


def unsigned_update(
    inbox_id: str, ts: int, actions: list[association_pb2.IdentityAction]
) -> association_pb2.IdentityUpdate:
    return association_pb2.IdentityUpdate(inbox_id=inbox_id, client_timestamp_ns=ts, actions=actions)


SigSource = LocalWalletSigner | InstallationKey | Callable[[str], signature_pb2.Signature]


def make_update(
    inbox_id: str, actions: list[tuple[UnsignedAction, list[SigSource]]], ts: int = TS
) -> association_pb2.IdentityUpdate:
    """Any update, valid or not: each action signed by the given sources over the update's signature text.

    Signature order per action is the wire order: CreateInbox/Revoke/Change one; Add existing, then new.
    """
    text = build_signature_text(inbox_id, ts, [a for a, _ in actions])

    def sign(source: SigSource) -> signature_pb2.Signature:
        if isinstance(source, LocalWalletSigner):
            return erc191_signature(source.sign(text))
        if isinstance(source, InstallationKey):
            return installation_signature(source.sign(text), source.public_key)
        return source(text)

    return association_pb2.IdentityUpdate(
        inbox_id=inbox_id,
        client_timestamp_ns=ts,
        actions=[action_to_proto(a, [sign(s) for s in sources]) for a, sources in actions],
    )
