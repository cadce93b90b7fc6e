"""Building identity updates: unsigned actions, one signature text, and the signatures of every required signer.

::

    request = (
        IdentityUpdateBuilder(inbox_id, client_timestamp_ns=time.time_ns())
        .create_inbox(wallet.identifier, nonce=0)
        .add_association(installation.identifier, existing_member=wallet.identifier)
        .build()
    )
    request.sign_with(installation)          # Signer: InstallationKey, LocalWalletSigner, an app's wallet
    request.sign_with(wallet)                # one signature serves every action the wallet must sign
    update = request.build_identity_update()  # association_pb2.IdentityUpdate, ready to publish

Signatures are verified as they are added, and only signatures by a still-missing signer are taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from pyxmtp.identity.actions import (
    AddAssociation,
    ChangeRecoveryAddress,
    CreateInbox,
    RevokeAssociation,
    UnsignedAction,
    UnsignedIdentityUpdate,
    action_to_proto,
)
from pyxmtp.identity.errors import Rule, SignatureRequestError
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.signature_text import signature_text
from pyxmtp.identity.signatures import (
    Signer,
    SmartContractWalletVerifier,
    VerifiedSignature,
    erc191_signature,
    installation_signature,
    verify_signature,
)
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2


@dataclass(frozen=True, slots=True)
class PendingAction:
    """An unsigned action and who must sign it, in wire order (Add: existing member, then new member)."""

    action: UnsignedAction
    signers: tuple[MemberIdentifier, ...]


class IdentityUpdateBuilder:
    """Collects the actions of one identity update (see the module docstring)."""

    def __init__(self, inbox_id: str, *, client_timestamp_ns: int) -> None:
        if not 0 <= client_timestamp_ns < 2**64:
            raise ValueError("client_timestamp_ns must be a u64")
        self.inbox_id = inbox_id
        self.client_timestamp_ns = client_timestamp_ns
        self._pending: list[PendingAction] = []

    def create_inbox(self, identifier: MemberIdentifier, nonce: int) -> Self:
        """Create the inbox ``hash(identifier, nonce)``; must come first in the first update of an inbox."""
        if not identifier.is_identifier:
            raise ValueError("an inbox is owned by an Ethereum address or a passkey")
        if not 0 <= nonce < 2**64:
            raise ValueError("nonce must be a u64")
        self._pending.append(PendingAction(CreateInbox(identifier, nonce), (identifier,)))
        return self

    def add_association(self, new_member: MemberIdentifier, existing_member: MemberIdentifier) -> Self:
        self._pending.append(PendingAction(AddAssociation(new_member), (existing_member, new_member)))
        return self

    def revoke_association(self, recovery_identifier: MemberIdentifier, member: MemberIdentifier) -> Self:
        self._pending.append(PendingAction(RevokeAssociation(member), (recovery_identifier,)))
        return self

    def change_recovery_address(
        self, recovery_identifier: MemberIdentifier, new_recovery_identifier: MemberIdentifier
    ) -> Self:
        if not new_recovery_identifier.is_identifier:
            raise ValueError("the recovery identifier is an Ethereum address or a passkey")
        self._pending.append(
            PendingAction(ChangeRecoveryAddress(new_recovery_identifier), (recovery_identifier,))
        )
        return self

    def build(self) -> SignatureRequest:
        return SignatureRequest(self.inbox_id, self.client_timestamp_ns, tuple(self._pending))


class SignatureRequest:
    """An unsigned update and its signature text, collecting the signatures of every required signer."""

    def __init__(self, inbox_id: str, client_timestamp_ns: int, pending: tuple[PendingAction, ...]) -> None:
        self.inbox_id = inbox_id
        self.client_timestamp_ns = client_timestamp_ns
        self.pending = pending
        self.unsigned = UnsignedIdentityUpdate(
            inbox_id, client_timestamp_ns, tuple(p.action for p in pending)
        )
        self.signature_text: str = signature_text(self.unsigned)
        self._signatures: dict[MemberIdentifier, signature_pb2.Signature] = {}

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

        Raises the verification error, or :class:`SignatureRequestError` (``unknown_signer``) when the signer
        is not one this update still needs.
        """
        verified = verify_signature(signature, self.signature_text, scw_verifier=scw_verifier)
        if verified.signer not in self.missing_signatures():
            raise SignatureRequestError(Rule.UNKNOWN_SIGNER, f"{verified.signer!r} is not a missing signer")
        self._signatures[verified.signer] = signature
        return verified

    def sign_with(self, signer: Signer) -> VerifiedSignature:
        """Have ``signer`` sign the text (a wallet: ERC-191; an installation key: Ed25519ph) and add it."""
        identifier = signer.identifier
        raw = signer.sign(self.signature_text)
        if identifier.kind is MemberKind.ETHEREUM:
            return self.add_signature(erc191_signature(raw))
        if identifier.kind is MemberKind.INSTALLATION:
            return self.add_signature(installation_signature(raw, identifier.key))
        raise SignatureRequestError(
            Rule.UNSUPPORTED_SIGNER, "passkey and smart-contract-wallet signatures go through add_signature"
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


def create_inbox_request(
    owner: MemberIdentifier, installation_public_key: bytes, *, nonce: int, client_timestamp_ns: int
) -> SignatureRequest:
    """A new inbox's first update, as libxmtp registers: ``[CreateInbox(owner), AddAssociation(installation)]``."""
    installation = MemberIdentifier.installation(installation_public_key)
    return (
        IdentityUpdateBuilder(inbox_id_for(owner, nonce), client_timestamp_ns=client_timestamp_ns)
        .create_inbox(owner, nonce)
        .add_association(installation, owner)
        .build()
    )


def add_installation_request(
    inbox_id: str,
    existing_member: MemberIdentifier,
    installation_public_key: bytes,
    *,
    client_timestamp_ns: int,
) -> SignatureRequest:
    """Register another installation into an existing inbox, vouched for by ``existing_member``."""
    return (
        IdentityUpdateBuilder(inbox_id, client_timestamp_ns=client_timestamp_ns)
        .add_association(MemberIdentifier.installation(installation_public_key), existing_member)
        .build()
    )
