"""The update and signature text of every identity change (libxmtp's actions, signers and text), the ways to sign
a request, and the public-context installation signatures."""

from __future__ import annotations

import pytest

from pyxmtp.identity.associations import apply_update
from pyxmtp.identity.builder import (
    add_account_request,
    add_installation_request,
    change_recovery_request,
    revoke_installations_request,
    revoke_members_request,
)
from pyxmtp.identity.errors import AssociationError, InvalidSignature, LimitExceeded, SignatureRequestError
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.installation import verify_installation_signature, verify_public_signature
from pyxmtp.identity.limits import MAX_ACTIONS_PER_UPDATE
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signature_request import WireSigner
from pyxmtp.identity.signatures import SignatureKind
from pyxmtp.identity.state import AssociationState
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2
from tests.identity.factories import TS, OwnerScwVerifier, PasskeySigner, installation, register, wallet

INBOX = "ab" * 32
HEAD = f"XMTP : Authenticate to inbox\n\nInbox ID: {INBOX}\nCurrent time: 2023-11-14T22:13:20Z\n\n"
FOOT = "\n\nFor more info: https://xmtp.org/signatures"


class PasskeyWireSigner:
    """A passkey as a :class:`WireSigner` (what an app wraps its WebAuthn authenticator in)."""

    def __init__(self, passkey: PasskeySigner) -> None:
        self.passkey = passkey

    @property
    def identifier(self) -> MemberIdentifier:
        return self.passkey.identifier

    def wire_signature(self, text: str) -> signature_pb2.Signature:
        return self.passkey.signature(text)


def test_every_change_renders_libxmtps_text() -> None:
    """Section 2.3's table, one request per change, at a fixed time (TS is 2023-11-14T22:13:20.123Z)."""
    owner, other, inst = wallet(1), wallet(2), installation(1)
    passkey = PasskeySigner(1)
    a, b = installation(2).public_key, installation(3).public_key

    request = add_account_request(INBOX, other.identifier, inst.identifier, client_timestamp_ns=TS)
    assert request.signature_text == f"{HEAD}- Link address to inbox\n  (Address: {other.address}){FOOT}"
    assert request.required_signers() == [inst.identifier, other.identifier]

    request = add_account_request(INBOX, passkey.identifier, inst.identifier, client_timestamp_ns=TS)
    assert request.signature_text == (
        f"{HEAD}- Link passkey to inbox\n  (Passkey: {passkey.public_key.hex()}){FOOT}"
    )

    request = revoke_members_request(INBOX, owner.identifier, [other.identifier], client_timestamp_ns=TS)
    assert request.signature_text == f"{HEAD}- Unlink address from inbox\n  (Address: {other.address}){FOOT}"
    assert request.required_signers() == [owner.identifier]

    request = revoke_installations_request(INBOX, owner.identifier, [a, b, a], client_timestamp_ns=TS)
    assert request.signature_text == (
        f"{HEAD}- Revoke messaging access from app\n  (ID: {a.hex()})\n"
        f"- Revoke messaging access from app\n  (ID: {b.hex()}){FOOT}"
    )  # a duplicate id is revoked once
    assert request.required_signers() == [owner.identifier]  # one signature for every action

    request = change_recovery_request(INBOX, owner.identifier, other.identifier, client_timestamp_ns=TS)
    assert request.signature_text == (
        f"{HEAD}- Change inbox recovery address\n  (Address: {other.address}){FOOT}"
    )
    request = change_recovery_request(INBOX, owner.identifier, passkey.identifier, client_timestamp_ns=TS)
    assert request.signature_text.endswith(f"(Address: {passkey.public_key.hex()}){FOOT}")  # always "Address"


def test_requests_refuse_what_can_never_apply() -> None:
    owner, inst = wallet(1), installation(1)
    with pytest.raises(ValueError, match="nothing to revoke"):
        revoke_installations_request(INBOX, owner.identifier, [], client_timestamp_ns=TS)
    with pytest.raises(ValueError, match="32 bytes"):
        revoke_installations_request(INBOX, owner.identifier, [b"\x01" * 31], client_timestamp_ns=TS)
    with pytest.raises(ValueError, match="not an installation"):
        revoke_installations_request(INBOX, inst.identifier, [inst.public_key], client_timestamp_ns=TS)
    with pytest.raises(ValueError, match="not an installation"):
        change_recovery_request(INBOX, inst.identifier, owner.identifier, client_timestamp_ns=TS)
    with pytest.raises(ValueError):
        add_account_request(INBOX, installation(2).identifier, inst.identifier, client_timestamp_ns=TS)
    many = [installation(100 + i).public_key for i in range(MAX_ACTIONS_PER_UPDATE + 1)]
    with pytest.raises(LimitExceeded) as err:
        revoke_installations_request(INBOX, owner.identifier, many, client_timestamp_ns=TS)
    assert err.value.rule == "too_many_actions" and err.value.in_update


def _registered() -> tuple[AssociationState, str]:
    owner, inst = wallet(1), installation(1)
    state = apply_update(None, register(owner, inst))
    return state, inbox_id_for(owner.identifier, 0)


def test_link_unlink_and_recover_through_the_state_machine() -> None:
    """Each request, signed as libxmtp signs it, applies; the account's installations go with it."""
    state, inbox_id = _registered()
    owner, inst, other = wallet(1), installation(1), wallet(2)

    request = add_account_request(inbox_id, other.identifier, inst.identifier, client_timestamp_ns=TS + 1)
    assert request.missing_address_signatures() == [other.identifier]
    request.sign_with(inst)
    request.sign_with(other)
    state = apply_update(state, request.build_identity_update())
    assert state.ethereum_addresses() == [other.address, owner.address]
    assert state.get(other.identifier).added_by_entity == inst.identifier  # type: ignore[union-attr]

    # the new account registers a second installation, then is unlinked: the installation goes with it
    laptop = installation(2)
    request = add_installation_request(
        inbox_id, other.identifier, laptop.public_key, client_timestamp_ns=TS + 2
    )
    request.sign_with(other)
    request.sign_with(laptop)
    state = apply_update(state, request.build_identity_update())
    assert laptop.public_key in state.installations()
    request = revoke_members_request(
        inbox_id, owner.identifier, [other.identifier], client_timestamp_ns=TS + 3
    )
    request.sign_with(owner)
    state = apply_update(state, request.build_identity_update())
    assert state.installations() == [inst.public_key] and state.ethereum_addresses() == [owner.address]

    request = change_recovery_request(
        inbox_id, owner.identifier, other.identifier, client_timestamp_ns=TS + 4
    )
    request.sign_with(owner)
    state = apply_update(state, request.build_identity_update())
    assert state.recovery_identifier == other.identifier

    # the old recovery identifier can no longer revoke (the rule the node reports too)
    request = revoke_installations_request(
        inbox_id, owner.identifier, [inst.public_key], client_timestamp_ns=TS + 5
    )
    request.sign_with(owner)
    with pytest.raises(AssociationError) as err:
        apply_update(state, request.build_identity_update())
    assert err.value.rule == "missing_existing_member"
    request = revoke_installations_request(
        inbox_id, other.identifier, [inst.public_key], client_timestamp_ns=TS + 6
    )
    request.sign_with(other)
    assert apply_update(state, request.build_identity_update()).installations() == []


def test_a_revoke_signed_by_a_member_that_is_not_the_recovery_identifier_is_refused() -> None:
    state, inbox_id = _registered()
    inst, other = installation(1), wallet(2)
    request = add_account_request(inbox_id, other.identifier, inst.identifier, client_timestamp_ns=TS + 1)
    request.sign_with(inst)
    request.sign_with(other)
    state = apply_update(state, request.build_identity_update())
    request = revoke_installations_request(
        inbox_id, other.identifier, [inst.public_key], client_timestamp_ns=TS + 2
    )
    request.sign_with(other)  # a member, and it signed what it was asked: still not the recovery identifier
    with pytest.raises(AssociationError) as err:
        apply_update(state, request.build_identity_update())
    assert err.value.rule == "missing_existing_member"
    assert "not the recovery identifier" in err.value.detail


def test_every_way_to_add_a_signature() -> None:
    inst, owner, scw_owner = installation(1), wallet(1), wallet(9)
    passkey = PasskeySigner(1)
    assert isinstance(PasskeyWireSigner(passkey), WireSigner) and not isinstance(owner, WireSigner)

    request = add_account_request(INBOX, passkey.identifier, owner.identifier, client_timestamp_ns=TS)
    text = request.signature_text
    assert request.add_ecdsa_signature(owner.sign(text)).kind is SignatureKind.ERC191
    assert request.sign_with(PasskeyWireSigner(passkey)).kind is SignatureKind.P256
    assert request.is_ready()
    add = request.build_identity_update().actions[0].add
    assert add.relying_party == passkey.origin and add.new_member_signature.HasField("passkey")

    request = add_account_request(INBOX, passkey.identifier, inst.identifier, client_timestamp_ns=TS)
    sig = passkey.signature(request.signature_text).passkey
    request.add_passkey_signature(sig.public_key, sig.signature, sig.authenticator_data, sig.client_data_json)
    request.add_installation_signature(inst.public_key, inst.sign(request.signature_text))
    assert request.is_ready()

    scw = MemberIdentifier.ethereum("0x" + "5c" * 20)
    request = add_account_request(
        INBOX,
        scw,
        inst.identifier,
        client_timestamp_ns=TS,
        scw_verifier=OwnerScwVerifier({scw.address: scw_owner}),
    )
    verified = request.add_scw_signature(scw.address, scw_owner.sign(request.signature_text), 8453, 12)
    assert verified.kind is SignatureKind.ERC1271 and verified.chain_id == 8453
    assert request.missing_signatures() == [inst.identifier]


def test_a_refused_signature_changes_nothing() -> None:
    owner, other = wallet(1), wallet(2)
    request = revoke_members_request(INBOX, owner.identifier, [other.identifier], client_timestamp_ns=TS)
    with pytest.raises(SignatureRequestError) as err:
        request.sign_with(other)
    assert err.value.rule == "unknown_signer" and owner.address in err.value.detail
    with pytest.raises(InvalidSignature):
        request.add_ecdsa_signature(b"\x01" * 64)
    with pytest.raises(SignatureRequestError) as err:
        request.build_identity_update()
    assert err.value.rule == "missing_signer"
    assert request.missing_signatures() == [owner.identifier]
    request.sign_with(owner)
    revoke = request.build_identity_update().actions[0].revoke
    assert revoke.member_to_revoke == association_pb2.MemberIdentifier(ethereum_address=other.address)


def test_public_context_signatures_are_not_identity_signatures() -> None:
    """``sign_with_installation_key``: Ed25519ph with context ``PUBLIC SIGNATURE CONTEXT``; it never verifies as
    an identity-update signature, nor the other way round, nor for another text or key."""
    inst = installation(1)
    text = "gm from an app"
    public = inst.sign_public(text)
    assert len(public) == 64
    verify_public_signature(inst.public_key, text, public)
    with pytest.raises(InvalidSignature):
        verify_installation_signature(inst.public_key, text, public)
    with pytest.raises(InvalidSignature):
        verify_public_signature(inst.public_key, text, inst.sign(text))
    with pytest.raises(InvalidSignature):
        verify_public_signature(inst.public_key, text + ".", public)
    with pytest.raises(InvalidSignature):
        verify_public_signature(installation(2).public_key, text, public)
    with pytest.raises(InvalidSignature) as err:
        verify_public_signature(inst.public_key[:31], text, public)
    assert err.value.rule == "invalid_public_key"
