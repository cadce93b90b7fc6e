"""Typed errors of the identity layer.

Every error carries ``rule``: a short, stable name of the rule that was broken (one of :class:`Rule`), so a
node can report it and tests can assert it. Families:

- :class:`MalformedUpdate`: bytes or fields that do not form an identity update (missing signature, bad hex,
  undecodable protobuf).
- :class:`InvalidSignature`: a signature that does not verify, or whose bytes cannot be a signature of its kind.
- :class:`VerifierError`: a smart-contract-wallet signature that needs an on-chain check nobody can do here.
- :class:`AssociationError`: a well-formed, correctly signed update that breaks an XIP-46 state-machine rule.
- :class:`LimitExceeded`: an update or an inbox log beyond one of the bounds of :mod:`pyxmtp.identity.limits`
  (empty or oversized update, too many actions, signatures, installations or members, a full log).
- :class:`SignatureRequestError`: misuse while building an update (a signer nobody asked for, a missing one).

States are immutable values, so a failed update leaves the input state as it was.
"""

from __future__ import annotations

from enum import StrEnum


class Rule(StrEnum):
    """Names of the rules an identity update can break (libxmtp's error variants, in snake case)."""

    # decoding
    DECODE = "decode"
    MISSING_FIELD = "missing_field"
    INVALID_IDENTIFIER = "invalid_identifier"
    # signatures
    INVALID_SIGNATURE = "invalid_signature"
    MALFORMED_SIGNATURE = "malformed_signature"
    INVALID_RECOVERY_ID = "invalid_recovery_id"
    INVALID_PUBLIC_KEY = "invalid_public_key"
    INVALID_CLIENT_DATA = "invalid_client_data"
    INVALID_ACCOUNT_ID = "invalid_account_id"
    NO_SCW_VERIFIER = "no_scw_verifier"
    SCW_VERIFIER_FAILED = "scw_verifier_failed"
    # association state machine (libxmtp AssociationError)
    MULTIPLE_CREATE = "multiple_create"
    NOT_CREATED = "not_created"
    MISSING_EXISTING_MEMBER = "missing_existing_member"
    MEMBER_NOT_ALLOWED = "member_not_allowed"
    LEGACY_SIGNATURE_REUSE = "legacy_signature_reuse"
    NEW_MEMBER_ID_SIGNATURE_MISMATCH = "new_member_id_signature_mismatch"
    ADD_SELF = "add_self"
    WRONG_INBOX_ID = "wrong_inbox_id"
    SIGNATURE_NOT_ALLOWED = "signature_not_allowed"
    REPLAY = "replay"
    CHAIN_ID_MISMATCH = "chain_id_mismatch"
    INVALID_ACCOUNT_ADDRESS = "invalid_account_address"
    # bounds (pyxmtp.identity.limits)
    INBOX_LOG_FULL = "inbox_log_full"
    NO_ACTIONS = "no_actions"
    TOO_MANY_ACTIONS = "too_many_actions"
    TOO_MANY_SIGNATURES = "too_many_signatures"
    UPDATE_TOO_LARGE = "update_too_large"
    TOO_MANY_INSTALLATIONS = "too_many_installations"
    TOO_MANY_MEMBERS = "too_many_members"
    # building updates
    UNKNOWN_SIGNER = "unknown_signer"
    MISSING_SIGNER = "missing_signer"
    UNSUPPORTED_SIGNER = "unsupported_signer"


class IdentityError(Exception):
    """Base of every error raised by :mod:`pyxmtp.identity`; ``rule`` names the broken rule."""

    def __init__(self, rule: Rule | str, detail: str = "") -> None:
        self.rule: str = str(rule)
        self.detail = detail
        super().__init__(f"{rule}: {detail}" if detail else str(rule))


class MalformedUpdate(IdentityError):
    """An identity update (or a part of it) does not decode: protobuf, missing field, bad identifier text."""


class InvalidSignature(IdentityError):
    """A signature does not verify, or its bytes cannot be a signature of its kind."""


class VerifierError(IdentityError):
    """A smart-contract-wallet signature could not be checked (no verifier configured, or the verifier failed)."""


class AssociationError(IdentityError):
    """A verified update breaks an XIP-46 association rule; ``rule`` says which."""


class LimitExceeded(IdentityError):
    """An update, or the log it would join, is beyond a bound of :mod:`pyxmtp.identity.limits`; ``rule`` says
    which. ``in_update`` tells the update's own faults (empty, too large, too many actions) from those of the
    inbox it would change (full log, too many installations or members)."""

    def __init__(self, rule: Rule | str, detail: str = "", *, in_update: bool) -> None:
        super().__init__(rule, detail)
        self.in_update = in_update


class SignatureRequestError(IdentityError):
    """Misuse while collecting signatures for an update (unknown or missing signer)."""
