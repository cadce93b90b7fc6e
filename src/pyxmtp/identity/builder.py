"""Building identity updates: the actions of one update and who must sign each (XIP-46, libxmtp's
``SignatureRequestBuilder``), giving a :class:`~pyxmtp.identity.signature_request.SignatureRequest`.

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

The functions below build the update of each identity change as libxmtp does (same actions, same order, same
signers, so the same signature text for the same time):

========================================  ==========================================  =========================
change                                    actions                                     signed by
========================================  ==========================================  =========================
:func:`create_inbox_request`              CreateInbox(owner), Add(installation)       owner, installation
:func:`add_installation_request`          Add(installation)                           a member, installation
:func:`add_account_request`               Add(wallet or passkey)                      a member (libxmtp: the
                                                                                      installation), the new one
:func:`revoke_members_request`            Revoke(member) for each                     recovery identifier
:func:`revoke_installations_request`      Revoke(installation) for each               recovery identifier
:func:`change_recovery_request`           ChangeRecoveryAddress(new)                  recovery identifier
========================================  ==========================================  =========================

A revoke also removes every installation the revoked member added (the state machine's rule), so removing an
account revokes the installations it registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from pyxmtp.identity.actions import AddAssociation, ChangeRecoveryAddress, CreateInbox, RevokeAssociation
from pyxmtp.identity.errors import LimitExceeded, Rule
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.limits import MAX_ACTIONS_PER_UPDATE
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.signature_request import PendingAction, SignatureRequest, WireSigner
from pyxmtp.identity.signatures import SmartContractWalletVerifier

__all__ = [
    "IdentityUpdateBuilder",
    "PendingAction",
    "SignatureRequest",
    "WireSigner",
    "add_account_request",
    "add_installation_request",
    "change_recovery_request",
    "create_inbox_request",
    "revoke_installations_request",
    "revoke_members_request",
]

INSTALLATION_ID_BYTES = 32


class IdentityUpdateBuilder:
    """Collects the actions of one identity update (see the module docstring). It checks only what cannot be
    encoded; the request functions below also refuse what can never apply (an installation as recovery)."""

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

    def build(self, *, scw_verifier: SmartContractWalletVerifier | None = None) -> SignatureRequest:
        """The request; ``scw_verifier`` checks the smart-contract-wallet signatures added to it."""
        return SignatureRequest(
            self.inbox_id, self.client_timestamp_ns, tuple(self._pending), scw_verifier=scw_verifier
        )


def _check_recovery(identifier: MemberIdentifier) -> None:
    if not identifier.is_identifier:
        raise ValueError("the recovery identifier is an Ethereum address or a passkey, not an installation")


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


def add_account_request(
    inbox_id: str,
    new_member: MemberIdentifier,
    existing_member: MemberIdentifier,
    *,
    client_timestamp_ns: int,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> SignatureRequest:
    """Link a wallet or passkey to the inbox (``Link address to inbox``), signed by ``existing_member`` and by
    the new account. libxmtp's ``associate_identity`` vouches with the installation key, so the account's parent
    is that installation (revoking the installation later leaves the account)."""
    if not new_member.is_identifier:
        raise ValueError("an account is an Ethereum address or a passkey; installations register themselves")
    return (
        IdentityUpdateBuilder(inbox_id, client_timestamp_ns=client_timestamp_ns)
        .add_association(new_member, existing_member)
        .build(scw_verifier=scw_verifier)
    )


def revoke_members_request(
    inbox_id: str,
    recovery_identifier: MemberIdentifier,
    members: Sequence[MemberIdentifier],
    *,
    client_timestamp_ns: int,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> SignatureRequest:
    """Revoke each member (duplicates once, order kept) in one update signed by the recovery identifier.

    ``ValueError`` for an empty list; :class:`LimitExceeded` (``too_many_actions``) beyond
    :data:`~pyxmtp.identity.limits.MAX_ACTIONS_PER_UPDATE` (no node stores a longer update)."""
    _check_recovery(recovery_identifier)
    unique = list(dict.fromkeys(members))
    if not unique:
        raise ValueError("nothing to revoke")
    if len(unique) > MAX_ACTIONS_PER_UPDATE:
        raise LimitExceeded(
            Rule.TOO_MANY_ACTIONS,
            f"revoking {len(unique)} members takes as many actions "
            f"(limit {MAX_ACTIONS_PER_UPDATE}, MAX_ACTIONS_PER_UPDATE)",
            in_update=True,
        )
    builder = IdentityUpdateBuilder(inbox_id, client_timestamp_ns=client_timestamp_ns)
    for member in unique:
        builder.revoke_association(recovery_identifier, member)
    return builder.build(scw_verifier=scw_verifier)


def revoke_installations_request(
    inbox_id: str,
    recovery_identifier: MemberIdentifier,
    installation_ids: Sequence[bytes],
    *,
    client_timestamp_ns: int,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> SignatureRequest:
    """Revoke installations by id (their 32-byte public keys), as libxmtp's ``revoke_installations``."""
    for installation_id in installation_ids:
        if len(installation_id) != INSTALLATION_ID_BYTES:
            raise ValueError(f"an installation id is 32 bytes, not {len(installation_id)}")
    return revoke_members_request(
        inbox_id,
        recovery_identifier,
        [MemberIdentifier(MemberKind.INSTALLATION, bytes(i)) for i in installation_ids],
        client_timestamp_ns=client_timestamp_ns,
        scw_verifier=scw_verifier,
    )


def change_recovery_request(
    inbox_id: str,
    recovery_identifier: MemberIdentifier,
    new_recovery_identifier: MemberIdentifier,
    *,
    client_timestamp_ns: int,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> SignatureRequest:
    """Make ``new_recovery_identifier`` the inbox's recovery identifier, signed by the current one."""
    _check_recovery(recovery_identifier)
    return (
        IdentityUpdateBuilder(inbox_id, client_timestamp_ns=client_timestamp_ns)
        .change_recovery_address(recovery_identifier, new_recovery_identifier)
        .build(scw_verifier=scw_verifier)
    )
