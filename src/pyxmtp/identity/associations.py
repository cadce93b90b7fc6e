"""The XIP-46 association state machine: applying identity updates to an inbox's state.

An update is verified first (every signature over the update's one signature text, see
:func:`verify_update`), then its actions are applied in order (:func:`apply_verified`). The rules are
libxmtp's (``association_log.rs``), each failure an :class:`AssociationError` naming the rule:

- ``CreateInbox``: only when no state exists (``multiple_create``); the signer is the identifier
  (``missing_existing_member``); the signature kind fits the identifier (``signature_not_allowed``); legacy
  signatures only with nonce 0 (``legacy_signature_reuse``); the address is well formed
  (``invalid_account_address``).
- ``AddAssociation``: the new member's signature is by the new member (``new_member_id_signature_mismatch``);
  nobody adds itself (``add_self``); legacy signatures only on the signer's nonce-0 inbox
  (``legacy_signature_reuse``); signature kinds fit member kinds (``signature_not_allowed``); the existing
  signer is a member or the recovery identifier, which may not sign with a legacy key
  (``missing_existing_member``, ``legacy_signature_reuse``); an installation cannot add an installation
  (``member_not_allowed``); a smart-contract wallet signs from the chain it was added on (``chain_id_mismatch``).
- ``RevokeAssociation``: signed by the recovery identifier, not with a legacy key (``missing_existing_member``,
  ``signature_not_allowed``); removes the member and every installation it added.
- ``ChangeRecoveryAddress``: signed by the current recovery identifier, not with a legacy key.
- Every action after creation: no signature seen in an earlier update (``replay``). An update's signatures
  join ``seen_signatures`` only once all its actions succeeded, so one wallet signature may serve several
  actions of the same update. The resulting state must be the update's inbox (``wrong_inbox_id``).

Applying is linear: each update works on one :class:`~pyxmtp.identity.state.StateDraft`. The bounds on updates
and logs (:mod:`pyxmtp.identity.limits`) are not checked here: the node and the client hold new updates to them
(:class:`pyxmtp.identity.log.InboxLog`), while a log already stored is replayed by these rules alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyxmtp.identity.actions import (
    AddAssociation,
    ChangeRecoveryAddress,
    CreateInbox,
    RevokeAssociation,
    UnsignedAction,
    parse_update,
)
from pyxmtp.identity.errors import AssociationError, Rule
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.signature_text import build_signature_text
from pyxmtp.identity.signatures import (
    SignatureKind,
    SmartContractWalletVerifier,
    VerifiedSignature,
    check_signature_shape,
    verify_signature,
)
from pyxmtp.identity.state import AssociationState, Member, StateDiff, StateDraft
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2

__all__ = [
    "AssociationState",
    "Member",
    "MemberIdentifier",
    "MemberKind",
    "StateDiff",
    "VerifiedAction",
    "VerifiedIdentityUpdate",
    "apply_update",
    "apply_verified",
    "get_state",
    "verify_update",
]

_ALLOWED_SIGNATURES: dict[MemberKind, frozenset[SignatureKind]] = {
    MemberKind.ETHEREUM: frozenset(
        {SignatureKind.ERC191, SignatureKind.ERC1271, SignatureKind.LEGACY_DELEGATED}
    ),
    MemberKind.INSTALLATION: frozenset({SignatureKind.INSTALLATION_KEY}),
    MemberKind.PASSKEY: frozenset({SignatureKind.P256}),
}


@dataclass(frozen=True, slots=True)
class VerifiedAction:
    """An action whose signatures verified; ``signatures`` in wire order (Add: existing, then new)."""

    action: UnsignedAction
    signatures: tuple[VerifiedSignature, ...]


@dataclass(frozen=True, slots=True)
class VerifiedIdentityUpdate:
    inbox_id: str
    client_timestamp_ns: int
    actions: tuple[VerifiedAction, ...]
    signature_text: str

    def signer_bytes(self) -> list[bytes]:
        return [sig.raw_bytes for action in self.actions for sig in action.signatures]


def verify_update(
    update: association_pb2.IdentityUpdate, *, scw_verifier: SmartContractWalletVerifier | None = None
) -> VerifiedIdentityUpdate:
    """Check every signature of ``update`` over its signature text (no state needed)."""
    unsigned, parsed = parse_update(update)
    for p in parsed:
        for _, sig in p.signatures:
            check_signature_shape(sig)
    text = build_signature_text(unsigned.inbox_id, unsigned.client_timestamp_ns, unsigned.actions)
    # one wallet signature usually serves several actions: verify each distinct signature once
    cache: dict[bytes, VerifiedSignature] = {}

    def verified(sig: signature_pb2.Signature) -> VerifiedSignature:
        key = sig.SerializeToString(deterministic=True)
        result = cache.get(key)
        if result is None:
            result = cache[key] = verify_signature(sig, text, scw_verifier=scw_verifier)
        return result

    actions = tuple(VerifiedAction(p.action, tuple(verified(sig) for _, sig in p.signatures)) for p in parsed)
    return VerifiedIdentityUpdate(unsigned.inbox_id, unsigned.client_timestamp_ns, actions, text)


# rules ---------------------------------------------------------------------------------------------------------


def _require_state(state: StateDraft | None) -> StateDraft:
    if state is None:
        raise AssociationError(Rule.NOT_CREATED, "the inbox has no CreateInbox yet")
    return state


def _replay_check(state: StateDraft, signatures: Sequence[VerifiedSignature]) -> None:
    for sig in signatures:
        if state.has_seen(sig.raw_bytes):
            raise AssociationError(Rule.REPLAY, f"signature by {sig.signer!r} was used by an earlier update")


def _allowed_signature_for_kind(kind: MemberKind, signature: VerifiedSignature) -> None:
    if signature.kind not in _ALLOWED_SIGNATURES[kind]:
        raise AssociationError(
            Rule.SIGNATURE_NOT_ALLOWED, f"a {kind.value} member cannot sign with {signature.kind.value}"
        )


def _chain_id_matches(member: Member, signature: VerifiedSignature) -> None:
    if member.added_on_chain_id != signature.chain_id:
        raise AssociationError(
            Rule.CHAIN_ID_MISMATCH,
            f"added on chain {member.added_on_chain_id or 0}, now signing from {signature.chain_id or 0}",
        )


def _is_legacy(signature: VerifiedSignature) -> bool:
    return signature.kind is SignatureKind.LEGACY_DELEGATED


def _create_inbox(state: StateDraft | None, action: CreateInbox, sig: VerifiedSignature) -> StateDraft:
    if state is not None:
        raise AssociationError(Rule.MULTIPLE_CREATE, "the inbox already exists")
    if sig.signer != action.identifier:
        raise AssociationError(
            Rule.MISSING_EXISTING_MEMBER, f"CreateInbox for {action.identifier!r} signed by {sig.signer!r}"
        )
    _allowed_signature_for_kind(action.identifier.kind, sig)
    if _is_legacy(sig) and action.nonce != 0:
        raise AssociationError(Rule.LEGACY_SIGNATURE_REUSE, "a legacy key may only create the nonce-0 inbox")
    return StateDraft.new(inbox_id_for(action.identifier, action.nonce), action.identifier, sig.chain_id)


def _add_association(
    state: StateDraft | None,
    action: AddAssociation,
    existing: VerifiedSignature,
    new: VerifiedSignature,
    client_timestamp_ns: int,
) -> StateDraft:
    state = _require_state(state)
    _replay_check(state, (existing, new))
    if new.signer != action.new_member:
        raise AssociationError(
            Rule.NEW_MEMBER_ID_SIGNATURE_MISMATCH, f"{action.new_member!r} signed by {new.signer!r}"
        )
    if new.signer == existing.signer:
        raise AssociationError(Rule.ADD_SELF, f"{new.signer!r} tried to add itself")
    if (
        existing.signer.is_identifier
        and (_is_legacy(new) or _is_legacy(existing))
        and state.inbox_id != inbox_id_for(existing.signer, 0)
    ):
        raise AssociationError(Rule.LEGACY_SIGNATURE_REUSE, "legacy signatures only act on the nonce-0 inbox")
    _allowed_signature_for_kind(action.new_member.kind, new)
    member = state.get(existing.signer)
    if member is not None:
        _chain_id_matches(member, existing)
        existing_entity = member.identifier
    else:
        if existing.signer != state.recovery_identifier:
            raise AssociationError(
                Rule.MISSING_EXISTING_MEMBER,
                f"{existing.signer!r} is neither a member nor the recovery identifier",
            )
        if _is_legacy(existing):
            raise AssociationError(
                Rule.LEGACY_SIGNATURE_REUSE, "the recovery identifier cannot sign with a legacy key"
            )
        existing_entity = state.recovery_identifier
    _allowed_signature_for_kind(existing_entity.kind, existing)
    if existing.signer.kind is MemberKind.INSTALLATION and action.new_member.kind is MemberKind.INSTALLATION:
        raise AssociationError(Rule.MEMBER_NOT_ALLOWED, "an installation cannot add an installation")
    state.add(Member(new.signer, existing_entity, client_timestamp_ns, new.chain_id))
    return state


def _recovery_signed(state: StateDraft, sig: VerifiedSignature) -> None:
    member = state.get(sig.signer)
    if member is not None:
        _chain_id_matches(member, sig)
    if _is_legacy(sig):
        raise AssociationError(
            Rule.SIGNATURE_NOT_ALLOWED, "the recovery identifier cannot sign with a legacy key"
        )
    if sig.signer != state.recovery_identifier:
        raise AssociationError(
            Rule.MISSING_EXISTING_MEMBER, f"signed by {sig.signer!r}, not the recovery identifier"
        )


def _revoke_association(
    state: StateDraft | None, action: RevokeAssociation, sig: VerifiedSignature
) -> StateDraft:
    state = _require_state(state)
    _replay_check(state, (sig,))
    _recovery_signed(state, sig)
    children = [
        m.identifier for m in state.members_by_parent(action.member) if m.kind is MemberKind.INSTALLATION
    ]
    state.remove([action.member, *children])
    return state


def _change_recovery_address(
    state: StateDraft | None, action: ChangeRecoveryAddress, sig: VerifiedSignature
) -> StateDraft:
    state = _require_state(state)
    _replay_check(state, (sig,))
    _recovery_signed(state, sig)
    state.recovery_identifier = action.new_recovery
    return state


def _apply_action(state: StateDraft | None, verified: VerifiedAction, client_timestamp_ns: int) -> StateDraft:
    action, sigs = verified.action, verified.signatures
    if isinstance(action, CreateInbox):
        return _create_inbox(state, action, sigs[0])
    if isinstance(action, AddAssociation):
        return _add_association(state, action, sigs[0], sigs[1], client_timestamp_ns)
    if isinstance(action, RevokeAssociation):
        return _revoke_association(state, action, sigs[0])
    return _change_recovery_address(state, action, sigs[0])


def apply_verified(state: AssociationState | None, update: VerifiedIdentityUpdate) -> AssociationState:
    """Apply an already verified update (see :func:`verify_update`); pure, ``state`` is left unchanged."""
    draft = None if state is None else state.edit()
    for action in update.actions:
        draft = _apply_action(draft, action, update.client_timestamp_ns)
    draft = _require_state(draft)
    if draft.inbox_id != update.inbox_id:
        raise AssociationError(
            Rule.WRONG_INBOX_ID, f"update names inbox {update.inbox_id[:80]!r}, state is {draft.inbox_id}"
        )
    return draft.freeze(update.signer_bytes())


def apply_update(
    state: AssociationState | None,
    update: association_pb2.IdentityUpdate,
    *,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> AssociationState:
    """Verify ``update`` and apply it to ``state`` (``None``: the inbox does not exist yet).

    Pure: returns the new state and never mutates ``state``. Raises an :class:`~pyxmtp.identity.errors.IdentityError`
    subclass naming the rule on any malformed, forged or disallowed update.
    """
    return apply_verified(state, verify_update(update, scw_verifier=scw_verifier))


def get_state(
    updates: Sequence[association_pb2.IdentityUpdate],
    *,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> AssociationState:
    """The state after applying ``updates`` (in log order) from nothing; any failing update fails the whole."""
    state: AssociationState | None = None
    for update in updates:
        state = apply_update(state, update, scw_verifier=scw_verifier)
    if state is None:
        raise AssociationError(Rule.NOT_CREATED, "the inbox has no CreateInbox yet")
    return state
