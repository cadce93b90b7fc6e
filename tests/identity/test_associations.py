"""The association state machine: every rule, accepted and rejected."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyxmtp.identity.actions import AddAssociation, ChangeRecoveryAddress, CreateInbox, RevokeAssociation
from pyxmtp.identity.associations import (
    AssociationState,
    Member,
    MemberIdentifier,
    StateDiff,
    VerifiedAction,
    VerifiedIdentityUpdate,
    apply_update,
    apply_verified,
    get_state,
)
from pyxmtp.identity.errors import AssociationError, IdentityError, MalformedUpdate, VerifierError
from pyxmtp.identity.inbox import generate_inbox_id, inbox_id_for
from pyxmtp.identity.members import MemberKind
from pyxmtp.identity.signatures import SignatureKind, VerifiedSignature
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2
from tests.identity.factories import (
    TS,
    OwnerScwVerifier,
    PasskeySigner,
    installation,
    legacy_key,
    make_update,
    register,
    scw_signature,
    wallet,
)

A, B, C = wallet(1), wallet(2), wallet(3)
I1, I2, I3 = installation(1), installation(2), installation(3)
INBOX_A = generate_inbox_id(A.address, 0)


def at(seconds: int) -> int:
    """A client timestamp ``seconds`` after the registration (texts only show whole seconds)."""
    return TS + seconds * 1_000_000_000


def registered() -> AssociationState:
    return apply_update(None, register(A, I1))


def rejects(
    state: AssociationState | None, update: association_pb2.IdentityUpdate, rule: str, **kw: object
) -> None:
    """``update`` fails with ``rule`` and leaves ``state`` exactly as it was."""
    before = None if state is None else state.to_proto().SerializeToString(deterministic=True)
    with pytest.raises(IdentityError) as err:
        apply_update(state, update, **kw)  # type: ignore[arg-type]
    assert err.value.rule == rule, err.value
    if state is not None:
        assert state.to_proto().SerializeToString(deterministic=True) == before


# CreateInbox ---------------------------------------------------------------------------------------------


def test_create_inbox_registration() -> None:
    state = registered()
    assert state.inbox_id == INBOX_A
    assert state.recovery_identifier == A.identifier
    assert state.ethereum_addresses() == [A.address]
    assert state.installations() == [I1.public_key]
    member = state.members[I1.identifier]
    assert member.added_by_entity == A.identifier and member.client_timestamp_ns == TS
    assert state.members[A.identifier] == Member(A.identifier, None, None, None)
    # one wallet signature served both actions; each distinct signature is remembered once
    assert len(state.seen_signatures) == 2


@pytest.mark.parametrize("nonce", [1, 2**64 - 1])
def test_create_inbox_any_nonce(nonce: int) -> None:
    state = apply_update(None, register(A, I1, nonce=nonce))
    assert state.inbox_id == generate_inbox_id(A.address, nonce)


def test_create_inbox_twice_rejected() -> None:
    update = make_update(INBOX_A, [(CreateInbox(A.identifier, 0), [A])], ts=at(1))
    rejects(registered(), update, "multiple_create")


def test_create_inbox_signed_by_someone_else_rejected() -> None:
    update = make_update(INBOX_A, [(CreateInbox(A.identifier, 0), [B])])
    rejects(None, update, "missing_existing_member")


def test_create_inbox_uppercase_identifier_never_matches_signer() -> None:
    upper = MemberIdentifier(MemberKind.ETHEREUM, "0x" + A.address[2:].upper())
    rejects(
        None, make_update(inbox_id_for(upper, 0), [(CreateInbox(upper, 0), [A])]), "missing_existing_member"
    )


def test_create_inbox_invalid_account_address() -> None:
    # reachable through a smart-contract wallet whose CAIP-10 address lacks 0x (libxmtp accepts it as signer)
    bare = "5c" * 20
    ident = MemberIdentifier(MemberKind.ETHEREUM, bare)
    verifier = OwnerScwVerifier({bare: B})
    update = make_update("x" * 64, [(CreateInbox(ident, 0), [lambda t: scw_signature(B, bare, 1, t)])])
    rejects(None, update, "invalid_account_address", scw_verifier=verifier)


def test_create_inbox_with_passkey() -> None:
    passkey = PasskeySigner(1)
    inbox = inbox_id_for(passkey.identifier, 0)
    update = make_update(
        inbox,
        [
            (CreateInbox(passkey.identifier, 0), [passkey.signature]),
            (AddAssociation(I1.identifier), [passkey.signature, I1]),
        ],
    )
    state = apply_update(None, update)
    assert state.recovery_identifier == passkey.identifier
    assert state.recovery_identifier.relying_party == passkey.origin
    assert state.installations() == [I1.public_key]
    assert update.actions[0].create_inbox.initial_identifier == passkey.public_key.hex()


def test_create_inbox_legacy_nonce_zero_only() -> None:
    legacy = legacy_key(A)
    ok = make_update(INBOX_A, [(CreateInbox(A.identifier, 0), [legacy.signature])])
    assert apply_update(None, ok).members.keys() == {A.identifier}
    inbox1 = generate_inbox_id(A.address, 1)
    rejects(
        None,
        make_update(inbox1, [(CreateInbox(A.identifier, 1), [legacy.signature])]),
        "legacy_signature_reuse",
    )


def test_update_without_create_rejected() -> None:
    rejects(None, make_update(INBOX_A, [(AddAssociation(I1.identifier), [A, I1])]), "not_created")
    rejects(None, make_update(INBOX_A, []), "not_created")


# AddAssociation ------------------------------------------------------------------------------------------


def test_wallet_adds_wallet_and_installation() -> None:
    state = apply_update(
        registered(),
        make_update(
            INBOX_A, [(AddAssociation(B.identifier), [A, B]), (AddAssociation(I2.identifier), [B, I2])], at(1)
        ),
    )
    assert state.ethereum_addresses() == [B.address, A.address]  # by timestamp; the creator has none
    assert state.members[B.identifier].added_by_entity == A.identifier
    assert state.members[I2.identifier].added_by_entity == B.identifier
    assert set(state.installations()) == {I1.public_key, I2.public_key}


def test_installation_adds_wallet() -> None:
    state = apply_update(registered(), make_update(INBOX_A, [(AddAssociation(B.identifier), [I1, B])], at(1)))
    assert state.members[B.identifier].added_by_entity == I1.identifier


def test_installation_cannot_add_installation() -> None:
    update = make_update(INBOX_A, [(AddAssociation(I2.identifier), [I1, I2])], at(1))
    rejects(registered(), update, "member_not_allowed")


def test_new_member_signature_must_match_new_member() -> None:
    update = make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I3])], at(1))
    rejects(registered(), update, "new_member_id_signature_mismatch")
    # mixed-case address in the wire identifier never equals the recovered signer
    upper = MemberIdentifier(MemberKind.ETHEREUM, "0x" + B.address[2:].upper())
    rejects(
        registered(),
        make_update(INBOX_A, [(AddAssociation(upper), [A, B])], at(1)),
        "new_member_id_signature_mismatch",
    )


def test_signature_kind_must_fit_member_kind() -> None:
    """A guard libxmtp keeps although real signatures always fit (a signer's kind follows from its signature):
    checked on hand-made verified signatures, as libxmtp's own tests do."""

    def add_b(existing_kind: SignatureKind, new_kind: SignatureKind) -> VerifiedIdentityUpdate:
        existing = VerifiedSignature(A.identifier, existing_kind, b"existing")
        new = VerifiedSignature(B.identifier, new_kind, b"new")
        return VerifiedIdentityUpdate(
            INBOX_A, at(1), (VerifiedAction(AddAssociation(B.identifier), (existing, new)),), ""
        )

    state = registered()
    for kind in (SignatureKind.ERC191, SignatureKind.ERC1271, SignatureKind.LEGACY_DELEGATED):
        assert B.identifier in apply_verified(state, add_b(SignatureKind.ERC191, kind)).members
    for existing_kind, new_kind in (
        (SignatureKind.ERC191, SignatureKind.P256),
        (SignatureKind.ERC191, SignatureKind.INSTALLATION_KEY),
        (SignatureKind.INSTALLATION_KEY, SignatureKind.ERC191),
        (SignatureKind.P256, SignatureKind.ERC191),
    ):
        with pytest.raises(AssociationError) as err:
            apply_verified(state, add_b(existing_kind, new_kind))
        assert err.value.rule == "signature_not_allowed"


def test_cannot_add_yourself() -> None:
    rejects(registered(), make_update(INBOX_A, [(AddAssociation(A.identifier), [A, A])], at(1)), "add_self")


def test_existing_signer_must_be_member_or_recovery() -> None:
    update = make_update(INBOX_A, [(AddAssociation(I2.identifier), [C, I2])], at(1))
    rejects(registered(), update, "missing_existing_member")


def test_recovery_identifier_that_is_not_a_member_can_add() -> None:
    state = apply_update(registered(), make_update(INBOX_A, [(RevokeAssociation(A.identifier), [A])], at(1)))
    assert A.identifier not in state.members and state.recovery_identifier == A.identifier
    assert state.installations() == []  # A's installation went with it
    state = apply_update(state, make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(2)))
    assert state.members[I2.identifier].added_by_entity == A.identifier


def test_recovery_identifier_not_member_cannot_use_legacy_key() -> None:
    state = apply_update(registered(), make_update(INBOX_A, [(RevokeAssociation(A.identifier), [A])], at(1)))
    update = make_update(INBOX_A, [(AddAssociation(I2.identifier), [legacy_key(A).signature, I2])], at(2))
    rejects(state, update, "legacy_signature_reuse")


def test_legacy_key_adds_on_nonce_zero_inbox_only() -> None:
    legacy = legacy_key(A)
    state = apply_update(
        registered(), make_update(INBOX_A, [(AddAssociation(I2.identifier), [legacy.signature, I2])], at(1))
    )
    assert I2.identifier in state.members
    inbox1 = generate_inbox_id(A.address, 1)
    state1 = apply_update(None, register(A, I1, nonce=1))
    update = make_update(inbox1, [(AddAssociation(I2.identifier), [legacy.signature, I2])], at(1))
    rejects(state1, update, "legacy_signature_reuse")


def test_legacy_key_is_single_use() -> None:
    legacy = legacy_key(A)
    state = apply_update(
        registered(), make_update(INBOX_A, [(AddAssociation(I2.identifier), [legacy.signature, I2])], at(1))
    )
    update = make_update(INBOX_A, [(AddAssociation(I3.identifier), [legacy.signature, I3])], at(2))
    rejects(state, update, "replay")


def test_passkey_member_added_and_signs() -> None:
    passkey = PasskeySigner(2)
    state = apply_update(
        registered(),
        make_update(INBOX_A, [(AddAssociation(passkey.identifier), [A, passkey.signature])], at(1)),
    )
    assert state.members[passkey.identifier].kind is MemberKind.PASSKEY
    state = apply_update(
        state, make_update(INBOX_A, [(AddAssociation(I2.identifier), [passkey.signature, I2])], at(2))
    )
    assert state.members[I2.identifier].added_by_entity == passkey.identifier


def test_replayed_update_rejected() -> None:
    update = make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(1))
    state = apply_update(registered(), update)
    rejects(state, update, "replay")


def test_replay_of_one_signature_in_a_new_update() -> None:
    first = make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(1))
    state = apply_update(registered(), first)
    # re-signing the same text (same second) gives the same deterministic signatures: a replay
    rejects(state, make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(1) + 1), "replay")
    # a later text with I2's old signature copied in does not verify
    reused = make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(2))
    reused.actions[0].add.new_member_signature.CopyFrom(first.actions[0].add.new_member_signature)
    rejects(state, reused, "invalid_signature")


def test_replay_protection_keys_on_the_signature_bytes_as_libxmtp_does() -> None:
    """libxmtp remembers ECDSA signatures as low-s bytes with ``v`` as sent, so the same signature re-encoded
    with ``v`` = 0/1 instead of 27/28 is not a replay. libxmtp 1.10.0 accepts such a re-encoded copy of an
    AddAssociation after the member was revoked (checked live); this state machine matches it on purpose."""
    add = make_update(INBOX_A, [(AddAssociation(B.identifier), [A, B])], at(1))
    state = apply_update(registered(), add)
    state = apply_update(state, make_update(INBOX_A, [(RevokeAssociation(B.identifier), [A])], at(2)))
    rejects(state, add, "replay")
    reencoded = association_pb2.IdentityUpdate()
    reencoded.CopyFrom(add)
    for sig in (
        reencoded.actions[0].add.existing_member_signature,
        reencoded.actions[0].add.new_member_signature,
    ):
        sig.erc_191.bytes = sig.erc_191.bytes[:64] + bytes([sig.erc_191.bytes[64] - 27])
    assert B.identifier in apply_update(state, reencoded).members


def test_same_signature_serves_several_actions_of_one_update() -> None:
    update = make_update(
        INBOX_A, [(AddAssociation(I2.identifier), [A, I2]), (AddAssociation(I3.identifier), [A, I3])], at(1)
    )
    assert update.actions[0].add.existing_member_signature == update.actions[1].add.existing_member_signature
    state = apply_update(registered(), update)
    assert set(state.installations()) == {I1.public_key, I2.public_key, I3.public_key}


def test_seen_signatures_added_only_when_the_whole_update_succeeds() -> None:
    update = make_update(
        INBOX_A, [(AddAssociation(I2.identifier), [A, I2]), (AddAssociation(I3.identifier), [C, I3])], at(5)
    )
    state = registered()
    rejects(state, update, "missing_existing_member")  # C is not a member yet
    state = apply_update(state, make_update(INBOX_A, [(AddAssociation(C.identifier), [A, C])], at(1)))
    # the very same update now succeeds: its signatures were not remembered when it failed
    after = apply_update(state, update)
    assert {I2.identifier, I3.identifier} <= after.members.keys()
    rejects(after, update, "replay")


# smart contract wallets and chain ids ----------------------------------------------------------------------

SCW = "0x" + "5c" * 20
SCW_ID = MemberIdentifier.ethereum(SCW)


def scw_sig(chain: int) -> Callable[[str], signature_pb2.Signature]:
    return lambda text: scw_signature(B, SCW, chain, text)


def test_scw_member_keeps_its_chain() -> None:
    verifier = OwnerScwVerifier({SCW: B})
    state = apply_update(
        registered(),
        make_update(INBOX_A, [(AddAssociation(SCW_ID), [A, scw_sig(8453)])], at(1)),
        scw_verifier=verifier,
    )
    assert state.members[SCW_ID].added_on_chain_id == 8453
    same_chain = make_update(INBOX_A, [(AddAssociation(I2.identifier), [scw_sig(8453), I2])], at(2))
    assert I2.identifier in apply_update(state, same_chain, scw_verifier=verifier).members
    other_chain = make_update(INBOX_A, [(AddAssociation(I2.identifier), [scw_sig(1), I2])], at(2))
    rejects(state, other_chain, "chain_id_mismatch", scw_verifier=verifier)


def test_scw_inbox_created_and_recovery_checks_chain() -> None:
    verifier = OwnerScwVerifier({SCW: B})
    inbox = generate_inbox_id(SCW, 0)
    state = apply_update(
        None,
        make_update(
            inbox,
            [(CreateInbox(SCW_ID, 0), [scw_sig(10)]), (AddAssociation(I1.identifier), [scw_sig(10), I1])],
        ),
        scw_verifier=verifier,
    )
    assert state.members[SCW_ID].added_on_chain_id == 10
    revoke = make_update(inbox, [(RevokeAssociation(I1.identifier), [scw_sig(11)])], at(1))
    rejects(state, revoke, "chain_id_mismatch", scw_verifier=verifier)
    ok = make_update(inbox, [(RevokeAssociation(I1.identifier), [scw_sig(10)])], at(1))
    assert apply_update(state, ok, scw_verifier=verifier).installations() == []


def test_scw_without_verifier_is_a_typed_rejection() -> None:
    update = make_update(INBOX_A, [(AddAssociation(SCW_ID), [A, scw_sig(1)])], at(1))
    state = registered()
    with pytest.raises(VerifierError) as err:
        apply_update(state, update)
    assert err.value.rule == "no_scw_verifier"
    assert SCW_ID not in state.members


# RevokeAssociation -----------------------------------------------------------------------------------------


def test_revoke_cascades_to_installations_of_the_revoked_member() -> None:
    state = apply_update(
        registered(),
        make_update(
            INBOX_A,
            [
                (AddAssociation(B.identifier), [A, B]),
                (AddAssociation(I2.identifier), [B, I2]),
                (AddAssociation(C.identifier), [B, C]),
            ],
            at(1),
        ),
    )
    after = apply_update(state, make_update(INBOX_A, [(RevokeAssociation(B.identifier), [A])], at(2)))
    assert after.installations() == [I1.public_key]  # I2 (added by B) is gone, I1 (added by A) stays
    assert set(after.ethereum_addresses()) == {A.address, C.address}  # wallets B added are not cascaded
    diff = state.diff(after)
    assert set(diff.removed_members) == {B.identifier, I2.identifier} and diff.new_members == ()
    assert diff.removed_installations() == [I2.public_key]


def test_revoke_needs_the_recovery_identifier() -> None:
    state = apply_update(registered(), make_update(INBOX_A, [(AddAssociation(B.identifier), [A, B])], at(1)))
    rejects(
        state,
        make_update(INBOX_A, [(RevokeAssociation(I1.identifier), [B])], at(2)),
        "missing_existing_member",
    )
    rejects(
        state,
        make_update(INBOX_A, [(RevokeAssociation(I1.identifier), [I1])], at(2)),
        "missing_existing_member",
    )


def test_revoke_with_legacy_key_rejected() -> None:
    update = make_update(INBOX_A, [(RevokeAssociation(I1.identifier), [legacy_key(A).signature])], at(1))
    rejects(registered(), update, "signature_not_allowed")


def test_revoke_of_a_non_member_is_a_no_op() -> None:
    state = registered()
    after = apply_update(state, make_update(INBOX_A, [(RevokeAssociation(I3.identifier), [A])], at(1)))
    assert dict(after.members) == dict(state.members)
    assert len(after.seen_signatures) == len(state.seen_signatures) + 1


# ChangeRecoveryAddress -------------------------------------------------------------------------------------


def test_change_recovery_address_moves_revocation_rights() -> None:
    state = apply_update(
        registered(), make_update(INBOX_A, [(ChangeRecoveryAddress(B.identifier), [A])], at(1))
    )
    assert state.recovery_identifier == B.identifier
    assert B.identifier not in state.members  # the new recovery identifier need not be a member
    rejects(
        state,
        make_update(INBOX_A, [(RevokeAssociation(I1.identifier), [A])], at(2)),
        "missing_existing_member",
    )
    after = apply_update(state, make_update(INBOX_A, [(RevokeAssociation(I1.identifier), [B])], at(2)))
    assert after.installations() == []


def test_change_recovery_address_needs_the_recovery_identifier() -> None:
    state = apply_update(registered(), make_update(INBOX_A, [(AddAssociation(B.identifier), [A, B])], at(1)))
    rejects(
        state,
        make_update(INBOX_A, [(ChangeRecoveryAddress(B.identifier), [B])], at(2)),
        "missing_existing_member",
    )


def test_change_recovery_address_with_legacy_key_rejected() -> None:
    update = make_update(INBOX_A, [(ChangeRecoveryAddress(B.identifier), [legacy_key(A).signature])], at(1))
    rejects(registered(), update, "signature_not_allowed")


def test_change_recovery_to_passkey() -> None:
    passkey = PasskeySigner(3)
    state = apply_update(
        registered(), make_update(INBOX_A, [(ChangeRecoveryAddress(passkey.identifier), [A])], at(1))
    )
    assert state.recovery_identifier == passkey.identifier
    assert state.to_proto().recovery_identifier_kind == association_pb2.IDENTIFIER_KIND_PASSKEY
    after = apply_update(
        state, make_update(INBOX_A, [(RevokeAssociation(A.identifier), [passkey.signature])], at(2))
    )
    assert A.identifier not in after.members


# update-level rules ----------------------------------------------------------------------------------------


def test_inbox_id_must_match() -> None:
    rejects(
        None,
        make_update(generate_inbox_id(A.address, 1), [(CreateInbox(A.identifier, 0), [A])]),
        "wrong_inbox_id",
    )
    other = generate_inbox_id(B.address, 0)
    rejects(
        registered(), make_update(other, [(AddAssociation(I2.identifier), [A, I2])], at(1)), "wrong_inbox_id"
    )


def test_empty_update_on_existing_inbox_is_accepted() -> None:
    state = registered()
    assert apply_update(state, make_update(INBOX_A, [], at(1))) == state


def test_malformed_updates() -> None:
    state = registered()
    no_kind = association_pb2.IdentityUpdate(inbox_id=INBOX_A, actions=[association_pb2.IdentityAction()])
    rejects(state, no_kind, "missing_field")
    missing_sig = make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(1))
    missing_sig.actions[0].add.ClearField("existing_member_signature")
    rejects(state, missing_sig, "missing_field")
    missing_member = make_update(INBOX_A, [(RevokeAssociation(I2.identifier), [A])], at(1))
    missing_member.actions[0].revoke.ClearField("member_to_revoke")
    rejects(state, missing_member, "missing_field")
    short_key = make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(1))
    short_key.actions[0].add.new_member_signature.installation_key.public_key = b"\x01" * 31
    with pytest.raises(MalformedUpdate):
        apply_update(state, short_key)


def test_get_state_over_a_log() -> None:
    log = [
        register(A, I1),
        make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(1)),
        make_update(INBOX_A, [(RevokeAssociation(I1.identifier), [A])], at(2)),
    ]
    state = get_state(log)
    assert state.installations() == [I2.public_key]
    with pytest.raises(AssociationError) as err:
        get_state([])
    assert err.value.rule == "not_created"
    with pytest.raises(AssociationError):
        get_state([log[1]])


def test_state_diff_and_wire_form() -> None:
    before = registered()
    after = apply_update(before, make_update(INBOX_A, [(AddAssociation(B.identifier), [A, B])], at(1)))
    assert before.diff(after) == StateDiff((B.identifier,), ())
    assert after.diff(before) == StateDiff((), (B.identifier,))
    assert before.as_diff().new_members == (A.identifier, I1.identifier)
    assert before.diff(after).to_proto().new_members[0].ethereum_address == B.address
    round_tripped = AssociationState.from_proto(
        association_pb2.AssociationState.FromString(after.to_proto().SerializeToString())
    )
    assert round_tripped == after
    proto = after.to_proto()
    assert (
        proto.recovery_identifier == A.address
        and proto.recovery_identifier_kind == association_pb2.IDENTIFIER_KIND_ETHEREUM
    )
    assert list(proto.seen_signatures) == sorted(after.seen_signatures)


def test_states_are_immutable_values() -> None:
    state = registered()
    with pytest.raises(TypeError):
        state.members[B.identifier] = Member(B.identifier)  # type: ignore[index]
    with pytest.raises(AttributeError):
        state.inbox_id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(state)
    assert state == registered() and state != apply_update(
        state, make_update(INBOX_A, [(AddAssociation(I2.identifier), [A, I2])], at(1))
    )
