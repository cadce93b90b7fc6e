"""Signature requests: one unsigned identity update, the text every signer signs, and the signatures collected.

This is the flow libxmtp and its SDKs use for every identity change (node-sdk's ``SignatureRequestHandle``): the
client builds the update (:mod:`pyxmtp.identity.builder`), signs what it can itself (its installation key), and
hands the request to the app, which shows :attr:`SignatureRequest.signature_text` to each wallet or passkey still
missing (:meth:`SignatureRequest.missing_address_signatures`) and adds what they return; the client then publishes
:meth:`SignatureRequest.build_identity_update`.

Ways to add a signature; each is verified over the text at once, and one that does not verify, or whose signer the
request does not (or no longer) need, raises and changes nothing:

- :meth:`~SignatureRequest.sign_with`: a :class:`~pyxmtp.identity.signatures.Signer` (an EOA wallet's 65-byte
  EIP-191 signature, or an installation key), or a :class:`WireSigner` (any kind: passkeys, smart-contract
  wallets);
- :meth:`~SignatureRequest.add_ecdsa_signature` (EOA), :meth:`~SignatureRequest.add_scw_signature` (ERC-1271 /
  ERC-6492, checked by the request's :class:`~pyxmtp.identity.signatures.SmartContractWalletVerifier`),
  :meth:`~SignatureRequest.add_passkey_signature` (WebAuthn), :meth:`~SignatureRequest.add_installation_signature`;
- :meth:`~SignatureRequest.add_signature`: a wire ``Signature`` of any kind.

One signature serves every action its signer must sign (a wallet revoking three installations signs once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pyxmtp.identity.actions import UnsignedAction, UnsignedIdentityUpdate, action_to_proto
from pyxmtp.identity.errors import Rule, SignatureRequestError
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.signature_text import signature_text
from pyxmtp.identity.signatures import (
    Signer,
    SmartContractWalletVerifier,
    VerifiedSignature,
    erc191_signature,
    installation_signature,
    scw_signature,
    verify_signature,
)
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2


@runtime_checkable
class WireSigner(Protocol):
    """A signer that returns the wire ``Signature`` itself (a passkey, a smart-contract wallet, a hardware
    wallet's own encoding): what :meth:`SignatureRequest.sign_with` takes besides a plain ``Signer``."""

    @property
    def identifier(self) -> MemberIdentifier: ...

    def wire_signature(self, text: str) -> signature_pb2.Signature: ...


@dataclass(frozen=True, slots=True)
class PendingAction:
    """An unsigned action and who must sign it, in wire order (Add: existing member, then new member)."""

    action: UnsignedAction
    signers: tuple[MemberIdentifier, ...]


class SignatureRequest:
    """An unsigned update and its signature text, collecting the signatures of every required signer."""

    def __init__(
        self,
        inbox_id: str,
        client_timestamp_ns: int,
        pending: tuple[PendingAction, ...],
        *,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> None:
        self.inbox_id = inbox_id
        self.client_timestamp_ns = client_timestamp_ns
        self.pending = pending
        self.scw_verifier = scw_verifier
        self.unsigned = UnsignedIdentityUpdate(
            inbox_id, client_timestamp_ns, tuple(p.action for p in pending)
        )
        self.signature_text: str = signature_text(self.unsigned)
        self._signatures: dict[MemberIdentifier, signature_pb2.Signature] = {}

    def __repr__(self) -> str:
        actions = ", ".join(type(p.action).__name__ for p in self.pending)
        return f"SignatureRequest(inbox {self.inbox_id}: [{actions}], missing {self.missing_signatures()!r})"

    @property
    def actions(self) -> tuple[UnsignedAction, ...]:
        return self.unsigned.actions

    def required_signers(self) -> list[MemberIdentifier]:
        """Every signer the update needs, each once, in first-use order."""
        return list(dict.fromkeys(s for p in self.pending for s in p.signers))

    def missing_signatures(self) -> list[MemberIdentifier]:
        return [s for s in self.required_signers() if s not in self._signatures]

    def missing_address_signatures(self) -> list[MemberIdentifier]:
        """Missing signers that are wallets or passkeys (installation keys usually sign first, in-app)."""
        return [s for s in self.missing_signatures() if s.kind is not MemberKind.INSTALLATION]

    def is_ready(self) -> bool:
        return not self.missing_signatures()

    def add_signature(
        self, signature: signature_pb2.Signature, *, scw_verifier: SmartContractWalletVerifier | None = None
    ) -> VerifiedSignature:
        """Verify ``signature`` over the text and file it under its signer.

        Raises the verification error (an :class:`~pyxmtp.identity.errors.IdentityError` naming the rule), or
        :class:`SignatureRequestError` (``unknown_signer``) when the signer is not one this update still needs.
        ``scw_verifier`` overrides the request's own for a smart-contract-wallet signature.
        """
        verifier = scw_verifier if scw_verifier is not None else self.scw_verifier
        verified = verify_signature(signature, self.signature_text, scw_verifier=verifier)
        if verified.signer not in self.missing_signatures():
            needed = ", ".join(repr(s) for s in self.missing_signatures()) or "nobody"
            raise SignatureRequestError(
                Rule.UNKNOWN_SIGNER, f"{verified.signer!r} is not a missing signer (still needed: {needed})"
            )
        self._signatures[verified.signer] = signature
        return verified

    def add_ecdsa_signature(self, signature: bytes) -> VerifiedSignature:
        """An EOA wallet's 65-byte EIP-191 ``personal_sign`` of :attr:`signature_text` (``v`` 0/1 or 27/28)."""
        return self.add_signature(erc191_signature(signature))

    def add_installation_signature(self, public_key: bytes, signature: bytes) -> VerifiedSignature:
        """An installation key's Ed25519ph signature (context ``IDENTITY UPDATE SIGNATURE``) of the text."""
        return self.add_signature(installation_signature(signature, public_key))

    def add_scw_signature(
        self,
        address: str,
        signature: bytes,
        chain_id: int,
        block_number: int,
        *,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> VerifiedSignature:
        """A smart-contract wallet's ERC-1271 / ERC-6492 signature, checked at ``block_number`` of EVM chain
        ``chain_id`` by ``scw_verifier`` (default: the request's; without one, ``no_scw_verifier``)."""
        if not 0 <= chain_id < 2**64 or not 0 <= block_number < 2**64:
            raise ValueError("chain_id and block_number are u64")
        account_id = f"eip155:{chain_id}:{address}"
        return self.add_signature(
            scw_signature(account_id, block_number, signature), scw_verifier=scw_verifier
        )

    def add_passkey_signature(
        self, public_key: bytes, signature: bytes, authenticator_data: bytes, client_data_json: bytes
    ) -> VerifiedSignature:
        """A WebAuthn assertion whose challenge is the base64url text: the P-256 ``public_key`` (SEC1), the DER
        ``signature`` over ``authenticator_data || SHA-256(client_data_json)``."""
        return self.add_signature(
            signature_pb2.Signature(
                passkey=signature_pb2.RecoverablePasskeySignature(
                    public_key=public_key,
                    signature=signature,
                    authenticator_data=authenticator_data,
                    client_data_json=client_data_json,
                )
            )
        )

    def sign_with(self, signer: Signer | WireSigner) -> VerifiedSignature:
        """Have ``signer`` sign the text and add the signature: a :class:`WireSigner` returns it whole; a
        ``Signer`` returns bytes (a wallet: EIP-191; an installation key: Ed25519ph)."""
        if isinstance(signer, WireSigner):
            return self.add_signature(signer.wire_signature(self.signature_text))
        identifier = signer.identifier
        if identifier.kind is MemberKind.ETHEREUM:
            return self.add_ecdsa_signature(signer.sign(self.signature_text))
        if identifier.kind is MemberKind.INSTALLATION:
            return self.add_installation_signature(identifier.key, signer.sign(self.signature_text))
        raise SignatureRequestError(
            Rule.UNSUPPORTED_SIGNER,
            "a passkey signs through a WireSigner, add_passkey_signature or add_signature, not raw bytes",
        )

    def build_identity_update(self) -> association_pb2.IdentityUpdate:
        """The signed ``IdentityUpdate``; :class:`SignatureRequestError` (``missing_signer``) if incomplete."""
        missing = self.missing_signatures()
        if missing:
            raise SignatureRequestError(Rule.MISSING_SIGNER, f"still unsigned by {missing!r}")
        return association_pb2.IdentityUpdate(
            actions=[
                action_to_proto(p.action, [self._signatures[s] for s in p.signers]) for p in self.pending
            ],
            client_timestamp_ns=self.client_timestamp_ns,
            inbox_id=self.inbox_id,
        )
