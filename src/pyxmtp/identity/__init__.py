"""XMTP identity (XIP-46): wallets, inboxes, identity updates and association state.

Modules: :mod:`~pyxmtp.identity.eth` (EIP-191 wallets), :mod:`~pyxmtp.identity.installation` (Ed25519
installation keys, Ed25519ph), :mod:`~pyxmtp.identity.inbox` (inbox ids, MLS credential), ``members``,
``actions`` and :mod:`~pyxmtp.identity.signature_text` (what signers sign), :mod:`~pyxmtp.identity.signatures`
(verification, ``Signer`` and ``SmartContractWalletVerifier``), :mod:`~pyxmtp.identity.builder` (the update of
each identity change), :mod:`~pyxmtp.identity.signature_request` (collecting its signatures), ``state`` and
:mod:`~pyxmtp.identity.associations` (the state machine), :mod:`~pyxmtp.identity.limits` (bounds on updates and
logs), :mod:`~pyxmtp.identity.inbox_log` (a log admitting its next update under all of them), ``errors``.
"""

from pyxmtp.identity.associations import (
    AssociationState,
    Member,
    StateDiff,
    apply_update,
    get_state,
    verify_update,
)
from pyxmtp.identity.builder import IdentityUpdateBuilder
from pyxmtp.identity.errors import AssociationError, IdentityError, LimitExceeded
from pyxmtp.identity.eth import LocalWalletSigner, eip191_hash
from pyxmtp.identity.inbox import generate_inbox_id
from pyxmtp.identity.inbox_log import InboxLog
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.limits import MAX_INBOX_LOG_ENTRIES, MAX_INSTALLATIONS_PER_INBOX, check_log_capacity
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.signature_request import SignatureRequest, WireSigner
from pyxmtp.identity.signatures import Signer, SmartContractWalletVerifier

__all__ = [
    "MAX_INBOX_LOG_ENTRIES",
    "MAX_INSTALLATIONS_PER_INBOX",
    "AssociationError",
    "AssociationState",
    "IdentityError",
    "IdentityUpdateBuilder",
    "InboxLog",
    "InstallationKey",
    "LimitExceeded",
    "LocalWalletSigner",
    "Member",
    "MemberIdentifier",
    "MemberKind",
    "SignatureRequest",
    "Signer",
    "SmartContractWalletVerifier",
    "StateDiff",
    "WireSigner",
    "apply_update",
    "check_log_capacity",
    "eip191_hash",
    "generate_inbox_id",
    "get_state",
    "verify_update",
]
