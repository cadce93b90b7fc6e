"""Building signed identity updates."""

from __future__ import annotations

import pytest

from pyxmtp.identity.associations import apply_update, verify_update
from pyxmtp.identity.builder import IdentityUpdateBuilder, add_installation_request, create_inbox_request
from pyxmtp.identity.errors import SignatureRequestError, VerifierError
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signatures import SignatureKind, erc191_signature, installation_signature
from pyxmtp.proto.identity.associations import association_pb2
from tests.identity.factories import TS, OwnerScwVerifier, PasskeySigner, installation, scw_signature, wallet
from tests.identity.test_installation import CAPTURED_INSTALLATION_SIGNATURE
from tests.identity.test_signature_text import (
    CAPTURED_ADDRESS,
    CAPTURED_INBOX_ID,
    CAPTURED_INSTALLATION_KEY,
    CAPTURED_TEXT,
    CAPTURED_TIMESTAMP_NS,
)

CAPTURED_WALLET_SIGNATURE = bytes.fromhex(
    "031f74abc105fb79908986b8620d75c26974b8d2c579c44f5267496101a7714048238cae7b84e102835d3f7c19766feace61a40c699ec7693a7a66968c9f2c661b"
)


def test_captured_libxmtp_registration_rebuilt() -> None:
    """Spec 2.7: the builder, fed libxmtp's two signatures, yields the update libxmtp published."""
    owner = MemberIdentifier.ethereum(CAPTURED_ADDRESS)
    request = create_inbox_request(
        owner, CAPTURED_INSTALLATION_KEY, nonce=1, client_timestamp_ns=CAPTURED_TIMESTAMP_NS
    )
    assert request.signature_text == CAPTURED_TEXT
    assert request.missing_signatures() == [owner, MemberIdentifier.installation(CAPTURED_INSTALLATION_KEY)]
    assert request.missing_address_signatures() == [owner]
    verified = request.add_signature(
        installation_signature(CAPTURED_INSTALLATION_SIGNATURE, CAPTURED_INSTALLATION_KEY)
    )
    assert verified.kind is SignatureKind.INSTALLATION_KEY
    verified = request.add_signature(erc191_signature(CAPTURED_WALLET_SIGNATURE))
    assert verified.signer == owner and request.is_ready()
    update = request.build_identity_update()
    assert update.inbox_id == CAPTURED_INBOX_ID and update.client_timestamp_ns == CAPTURED_TIMESTAMP_NS
    create, add = update.actions[0].create_inbox, update.actions[1].add
    assert create.initial_identifier == CAPTURED_ADDRESS and create.nonce == 1
    assert create.initial_identifier_kind == association_pb2.IDENTIFIER_KIND_ETHEREUM
    assert create.initial_identifier_signature.erc_191.bytes == CAPTURED_WALLET_SIGNATURE
    assert (
        add.existing_member_signature.erc_191.bytes == CAPTURED_WALLET_SIGNATURE
    )  # one signature, two actions
    assert add.new_member_identifier.installation_public_key == CAPTURED_INSTALLATION_KEY
    assert add.new_member_signature.installation_key.bytes == CAPTURED_INSTALLATION_SIGNATURE
    state = apply_update(None, update)
    assert state.installations() == [CAPTURED_INSTALLATION_KEY] and state.ethereum_addresses() == [
        CAPTURED_ADDRESS
    ]


def test_sign_with_local_signers() -> None:
    owner, inst = wallet(1), installation(1)
    request = create_inbox_request(owner.identifier, inst.public_key, nonce=0, client_timestamp_ns=TS)
    request.sign_with(inst)
    assert request.missing_signatures() == [owner.identifier]
    with pytest.raises(SignatureRequestError) as err:
        request.build_identity_update()
    assert err.value.rule == "missing_signer"
    request.sign_with(owner)
    verified = verify_update(request.build_identity_update())
    assert verified.signature_text == request.signature_text
    assert [s.signer for a in verified.actions for s in a.signatures] == [
        owner.identifier,
        owner.identifier,
        inst.identifier,
    ]


def test_unknown_and_duplicate_signers_refused() -> None:
    owner, inst = wallet(1), installation(1)
    request = add_installation_request("i" * 64, owner.identifier, inst.public_key, client_timestamp_ns=TS)
    with pytest.raises(SignatureRequestError) as err:
        request.sign_with(wallet(2))
    assert err.value.rule == "unknown_signer"
    request.sign_with(owner)
    with pytest.raises(SignatureRequestError):
        request.sign_with(owner)  # no longer missing


def test_passkey_and_scw_signatures_through_add_signature() -> None:
    passkey, owner = PasskeySigner(1), wallet(3)
    scw = MemberIdentifier.ethereum("0x" + "5c" * 20)
    request = (
        IdentityUpdateBuilder("i" * 64, client_timestamp_ns=TS)
        .add_association(passkey.identifier, scw)
        .build()
    )
    with pytest.raises(SignatureRequestError) as err:
        request.sign_with(_PasskeyAsSigner(passkey))
    assert err.value.rule == "unsupported_signer"
    request.add_signature(passkey.signature(request.signature_text))
    sig = scw_signature(owner, scw.address, 1, request.signature_text)
    with pytest.raises(VerifierError):
        request.add_signature(sig)
    request.add_signature(sig, scw_verifier=OwnerScwVerifier({scw.address: owner}))
    add = request.build_identity_update().actions[0].add
    assert add.relying_party == passkey.origin
    assert add.new_member_identifier.passkey.key == passkey.public_key


class _PasskeyAsSigner:
    def __init__(self, passkey: PasskeySigner) -> None:
        self.identifier = passkey.identifier

    def sign(self, text: str) -> bytes:
        return b""


def test_builder_argument_checks() -> None:
    inst = installation(1).identifier
    with pytest.raises(ValueError):
        IdentityUpdateBuilder("i", client_timestamp_ns=TS).create_inbox(inst, 0)
    with pytest.raises(ValueError):
        IdentityUpdateBuilder("i", client_timestamp_ns=TS).change_recovery_address(wallet(1).identifier, inst)
    with pytest.raises(ValueError):
        IdentityUpdateBuilder("i", client_timestamp_ns=-1)


def test_revoke_and_change_recovery_built() -> None:
    owner, new_recovery, inst = wallet(1), wallet(2), installation(1)
    request = (
        IdentityUpdateBuilder("i" * 64, client_timestamp_ns=TS)
        .revoke_association(owner.identifier, inst.identifier)
        .change_recovery_address(owner.identifier, new_recovery.identifier)
        .build()
    )
    assert request.required_signers() == [owner.identifier]
    request.sign_with(owner)
    update = request.build_identity_update()
    assert update.actions[0].revoke.member_to_revoke.installation_public_key == inst.public_key
    change = update.actions[1].change_recovery_address
    assert change.new_recovery_identifier == new_recovery.address
    assert change.new_recovery_identifier_kind == association_pb2.IDENTIFIER_KIND_ETHEREUM
    assert (
        change.existing_recovery_identifier_signature
        == update.actions[0].revoke.recovery_identifier_signature
    )
