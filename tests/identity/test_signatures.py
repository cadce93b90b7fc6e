"""Verification of every signature kind an identity update can carry."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pyxmtp.identity.errors import IdentityError, InvalidSignature, MalformedUpdate, VerifierError
from pyxmtp.identity.eth import eip191_hash
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.signatures import (
    AccountId,
    SignatureKind,
    erc191_signature,
    installation_signature,
    verify_legacy_signed_public_key,
    verify_signature,
)
from pyxmtp.proto.identity.associations import signature_pb2
from pyxmtp.proto.message_contents import public_key_pb2
from tests.identity.factories import (
    OwnerScwVerifier,
    PasskeySigner,
    installation,
    legacy_key,
    scw_signature,
    wallet,
)

TEXT = "XMTP : Authenticate to inbox\n\nsomething to sign"

# libxmtp's verified_signature.rs test `validate_good_key_round_trip`: a v2 SignedPublicKey made by a wallet
LEGACY_KEY_KAT = bytes.fromhex(
    "0a4f08c0c3a5aecb99e7d5171a430a4104d854aefcc6e1dba8efa63ee9ce6c359b5784082b5b245b515dd543f145051f"
    "f9ba817790042c364cb95f3d17e74807a91246714fad520d2592c92baeb4217d2b124612440a40078864ac9bf7e6fffd"
    "f74e32d4e2294eefb788f77a589bf5dbb7d7ca2a59a28060607883114626e7021b5b1d426e808c012ad9b902b5d0648f"
    "8fdb9fae01e9bf1001"
)


def test_erc191() -> None:
    signer = wallet(1)
    sig = signer.sign(TEXT)
    verified = verify_signature(erc191_signature(sig), TEXT)
    assert verified.signer == signer.identifier
    assert verified.kind is SignatureKind.ERC191 and verified.raw_bytes == sig and verified.chain_id is None


def test_installation() -> None:
    key = installation(1)
    verified = verify_signature(installation_signature(key.sign(TEXT), key.public_key), TEXT)
    assert verified.signer == key.identifier and verified.kind is SignatureKind.INSTALLATION_KEY
    with pytest.raises(InvalidSignature):
        verify_signature(installation_signature(key.sign(TEXT), installation(2).public_key), TEXT)


def test_signature_without_kind() -> None:
    with pytest.raises(MalformedUpdate) as err:
        verify_signature(signature_pb2.Signature(), TEXT)
    assert err.value.rule == "missing_field"


# passkeys ------------------------------------------------------------------------------------------------


def test_passkey_verifies_locally() -> None:
    passkey = PasskeySigner(1)
    sig = passkey.signature(TEXT)
    verified = verify_signature(sig, TEXT)
    assert verified.signer == MemberIdentifier.passkey(passkey.public_key)
    assert verified.signer.relying_party == passkey.origin
    assert verified.kind is SignatureKind.P256
    r, s = decode_dss_signature(sig.passkey.signature)
    assert verified.raw_bytes == r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_passkey_wrong_challenge() -> None:
    passkey = PasskeySigner(1)
    with pytest.raises(InvalidSignature) as err:
        verify_signature(passkey.signature(TEXT, challenge="abc"), TEXT)
    assert err.value.rule == "invalid_client_data"
    # padded base64url is not the challenge either
    padded = base64.urlsafe_b64encode(TEXT.encode()).decode() + "="
    with pytest.raises(InvalidSignature):
        verify_signature(passkey.signature(TEXT, challenge=padded), TEXT)


@pytest.mark.parametrize(
    "client_data",
    [
        b"not json",
        b"[1, 2]",
        b'{"challenge": "x"}',
        b'{"challenge": 5, "origin": "o"}',
        b'{"challenge": "x", "challenge": "x", "origin": "o"}',
        b'{"challenge": "x", "origin": "o", "n": NaN}',
        "{}".encode("utf-16"),
    ],
)
def test_passkey_bad_client_data(client_data: bytes) -> None:
    sig = PasskeySigner(1).signature(TEXT)
    sig.passkey.client_data_json = client_data
    with pytest.raises(InvalidSignature) as err:
        verify_signature(sig, TEXT)
    assert err.value.rule == "invalid_client_data"


def test_passkey_forgeries() -> None:
    passkey = PasskeySigner(1)
    good = passkey.signature(TEXT)
    tampered = signature_pb2.Signature()
    tampered.CopyFrom(good)
    tampered.passkey.authenticator_data = good.passkey.authenticator_data[:-1] + b"\x02"
    with pytest.raises(InvalidSignature) as err:
        verify_signature(tampered, TEXT)
    assert err.value.rule == "invalid_signature"
    tampered.CopyFrom(good)
    tampered.passkey.public_key = PasskeySigner(2).public_key
    with pytest.raises(InvalidSignature):
        verify_signature(tampered, TEXT)
    tampered.CopyFrom(good)
    tampered.passkey.public_key = b"\x04" + b"\x01" * 64
    with pytest.raises(InvalidSignature) as err:
        verify_signature(tampered, TEXT)
    assert err.value.rule == "invalid_public_key"
    tampered.CopyFrom(good)
    tampered.passkey.signature = good.passkey.signature + b"\x00"
    with pytest.raises(InvalidSignature) as err:
        verify_signature(tampered, TEXT)
    assert err.value.rule == "malformed_signature"


def test_passkey_client_data_hash_is_bound() -> None:
    passkey = PasskeySigner(1)
    sig = passkey.signature(TEXT)
    data = json.loads(sig.passkey.client_data_json)
    data["origin"] = "https://evil.example"
    sig.passkey.client_data_json = json.dumps(data).encode()
    with pytest.raises(InvalidSignature) as err:
        verify_signature(sig, TEXT)
    assert err.value.rule == "invalid_signature"


# legacy delegated ------------------------------------------------------------------------------------------


def test_legacy_key_known_answer() -> None:
    key = verify_legacy_signed_public_key(public_key_pb2.SignedPublicKey.FromString(LEGACY_KEY_KAT))
    assert key.wallet_address == "0x220ca99fb7fafa18cb623d924794dde47b4bc2e9"
    assert len(key.public_key) == 65 and key.public_key[0] == 4


def test_legacy_delegated_signature() -> None:
    owner = wallet(7)
    legacy = legacy_key(owner)
    verified = verify_signature(legacy.signature(TEXT), TEXT)
    assert verified.signer == owner.identifier
    assert verified.kind is SignatureKind.LEGACY_DELEGATED
    # replay protection remembers the wallet's signature of the legacy key, the same in every update
    assert verified.raw_bytes == legacy.signed.signature.wallet_ecdsa_compact.bytes + bytes(
        [legacy.signed.signature.wallet_ecdsa_compact.recovery]
    )
    assert verify_signature(legacy.signature("other text"), "other text").raw_bytes == verified.raw_bytes


def test_legacy_signature_by_another_key() -> None:
    owner = wallet(7)
    sig = legacy_key(owner, 1).signature(TEXT)
    sig.delegated_erc_191.delegated_key.CopyFrom(legacy_key(owner, 2).signed)
    with pytest.raises(InvalidSignature) as err:
        verify_signature(sig, TEXT)
    assert err.value.rule == "invalid_signature"


def test_legacy_malformed() -> None:
    sig = legacy_key(wallet(7)).signature(TEXT)
    no_key = signature_pb2.Signature()
    no_key.CopyFrom(sig)
    no_key.delegated_erc_191.ClearField("delegated_key")
    with pytest.raises(MalformedUpdate):
        verify_signature(no_key, TEXT)
    no_wallet_sig = signature_pb2.Signature()
    no_wallet_sig.CopyFrom(sig)
    no_wallet_sig.delegated_erc_191.delegated_key.ClearField("signature")
    with pytest.raises(InvalidSignature) as err:
        verify_signature(no_wallet_sig, TEXT)
    assert err.value.rule == "malformed_signature"
    garbage_key = signature_pb2.Signature()
    garbage_key.CopyFrom(sig)
    garbage_key.delegated_erc_191.delegated_key.key_bytes = b"\xff\xff"
    with pytest.raises(IdentityError):
        verify_signature(garbage_key, TEXT)


# smart contract wallets ------------------------------------------------------------------------------------

SCW_ADDRESS = "0x" + "5c" * 20


def test_scw_needs_a_verifier() -> None:
    sig = scw_signature(wallet(8), SCW_ADDRESS, 1, TEXT)
    with pytest.raises(VerifierError) as err:
        verify_signature(sig, TEXT)
    assert err.value.rule == "no_scw_verifier"


def test_scw_verified_through_the_verifier() -> None:
    owner = wallet(8)
    verifier = OwnerScwVerifier({SCW_ADDRESS: owner})
    verified = verify_signature(scw_signature(owner, SCW_ADDRESS, 8453, TEXT), TEXT, scw_verifier=verifier)
    assert verified.signer == MemberIdentifier.ethereum(SCW_ADDRESS)
    assert verified.kind is SignatureKind.ERC1271 and verified.chain_id == 8453
    account_id, block, signature, digest = verifier.calls[0]
    assert account_id == f"eip155:8453:{SCW_ADDRESS}" and block == 12345 and digest == eip191_hash(TEXT)
    assert signature == owner.sign(TEXT)
    with pytest.raises(InvalidSignature) as err:
        verify_signature(scw_signature(wallet(9), SCW_ADDRESS, 1, TEXT), TEXT, scw_verifier=verifier)
    assert err.value.rule == "invalid_signature"


def test_scw_verifier_failure_is_typed() -> None:
    class Broken:
        def verify(self, account_id: str, block_number: int | None, signature: bytes, hash: bytes) -> bool:
            raise ConnectionError("rpc down")

    with pytest.raises(VerifierError) as err:
        verify_signature(scw_signature(wallet(8), SCW_ADDRESS, 1, TEXT), TEXT, scw_verifier=Broken())
    assert err.value.rule == "scw_verifier_failed"
    assert isinstance(err.value.__cause__, ConnectionError)


def test_scw_signer_is_the_lowercased_account() -> None:
    owner = wallet(8)
    mixed = "0x" + "5C" * 20
    verifier = OwnerScwVerifier({mixed: owner})
    verified = verify_signature(scw_signature(owner, mixed, 1, TEXT), TEXT, scw_verifier=verifier)
    assert verified.signer.kind is MemberKind.ETHEREUM and verified.signer.address == SCW_ADDRESS


@pytest.mark.parametrize(
    "account_id,chain",
    [("eip155:1:0xabc", 1), ("eip155:18446744073709551615:0xabc", 2**64 - 1), ("eip155:007:a", 7)],
)
def test_account_id_parse(account_id: str, chain: int) -> None:
    parsed = AccountId.parse(account_id)
    assert parsed.evm_chain_id() == chain and str(parsed) == account_id


@pytest.mark.parametrize(
    "account_id",
    [
        "eip155:1",
        "eip155:1:0xabc:extra",
        "EIP155:1:0xabc",
        "ei:1:0xabc",
        "eip155::0xabc",
        "eip155:1:0x abc",
        "eip155:1:" + "a" * 129,
    ],
)
def test_account_id_malformed(account_id: str) -> None:
    with pytest.raises(MalformedUpdate) as err:
        AccountId.parse(account_id)
    assert err.value.rule == "invalid_account_id"


@pytest.mark.parametrize(
    "account_id", ["cosmos:hub:0xabc", "eip155:18446744073709551616:0xabc", "eip155:x1:a"]
)
def test_account_id_not_an_evm_chain(account_id: str) -> None:
    with pytest.raises(MalformedUpdate):
        AccountId.parse(account_id).evm_chain_id()


def test_scw_account_address_must_be_an_address() -> None:
    sig = scw_signature(wallet(8), "notanaddress", 1, TEXT)
    with pytest.raises(MalformedUpdate) as err:
        verify_signature(sig, TEXT, scw_verifier=OwnerScwVerifier({}))
    assert err.value.rule == "invalid_identifier"
