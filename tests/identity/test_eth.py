"""Wallet signing: Keccak-256, EIP-191, recovery, low-s, recovery ids."""

from __future__ import annotations

import pytest

from pyxmtp.identity.errors import InvalidSignature
from pyxmtp.identity.eth import (
    SECP256K1_N,
    LocalWalletSigner,
    address_from_public_key,
    eip191_hash,
    keccak256,
    normalize_signature,
    recover_address,
    sign_personal,
    verify_personal_signature,
)
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signatures import Signer
from tests.conftest import require_xmtp_bindings
from tests.identity.factories import wallet

KEY_ONE = (1).to_bytes(32, "big")


def test_keccak256_known_answers() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


def test_eip191_hash_of_hello() -> None:
    # keccak256("\x19Ethereum Signed Message:\n5hello")
    assert eip191_hash("hello").hex() == "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
    assert eip191_hash("hello") == eip191_hash(b"hello")


def test_eip191_length_is_utf8_bytes() -> None:
    text = "π"  # 2 bytes in UTF-8
    assert eip191_hash(text) == keccak256(b"\x19Ethereum Signed Message:\n2" + text.encode())


def test_address_of_private_key_one() -> None:
    signer = LocalWalletSigner(KEY_ONE)
    assert signer.address == "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"
    generator = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    assert address_from_public_key(generator) == signer.address
    with pytest.raises(InvalidSignature) as err:
        address_from_public_key(b"\x04" + b"\x00" * 64)
    assert err.value.rule == "invalid_public_key"


def test_sign_and_recover_round_trip() -> None:
    signer = wallet(1)
    sig = signer.sign("hello world")
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_N // 2  # libsecp256k1 signs low-s
    assert recover_address("hello world", sig) == signer.address
    verify_personal_signature("hello world", sig, "0x" + signer.address[2:].upper())  # any case
    assert recover_address("hello world!", sig) != signer.address
    with pytest.raises(InvalidSignature):
        verify_personal_signature("hello world!", sig, signer.address)


def test_signer_protocol() -> None:
    signer = wallet(2)
    assert isinstance(signer, Signer)
    assert signer.identifier == MemberIdentifier.ethereum(signer.address)
    assert sign_personal(signer.private_key, "x") == signer.sign("x")


@pytest.mark.parametrize("v_offset", [0, 27])
def test_recovery_id_zero_one_and_27_28_accepted(v_offset: int) -> None:
    signer = wallet(3)
    sig = signer.sign("text")
    parity = sig[64] - 27
    assert recover_address("text", sig[:64] + bytes([parity + v_offset])) == signer.address


@pytest.mark.parametrize("v", [2, 3, 26, 29, 35, 36, 255])
def test_other_recovery_ids_rejected(v: int) -> None:
    sig = wallet(4).sign("text")
    with pytest.raises(InvalidSignature) as err:
        recover_address("text", sig[:64] + bytes([v]))
    assert err.value.rule == "invalid_recovery_id"


def test_high_s_is_normalised_keeping_v() -> None:
    signer = wallet(5)
    sig = signer.sign("text")
    s = int.from_bytes(sig[32:64], "big")
    high = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + sig[64:]
    assert normalize_signature(high) == sig
    # libxmtp lowers s but keeps v, so the high-s twin recovers the same key as the original ...
    assert recover_address("text", high) == signer.address
    # ... while the classic malleated form (high s, flipped parity) recovers a different key: rejected.
    malleated = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])  # 27 <-> 28
    assert recover_address("text", malleated) != signer.address


@pytest.mark.parametrize(
    "r,s",
    [(0, 1), (1, 0), (SECP256K1_N, 1), (1, SECP256K1_N), (2**256 - 1, 5)],
)
def test_out_of_range_r_s_rejected(r: int, s: int) -> None:
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + b"\x1b"
    with pytest.raises(InvalidSignature) as err:
        recover_address("text", sig)
    assert err.value.rule == "malformed_signature"


@pytest.mark.parametrize("length", [0, 64, 66])
def test_wrong_length_rejected(length: int) -> None:
    with pytest.raises(InvalidSignature) as err:
        recover_address("text", b"\x01" * length)
    assert err.value.rule == "malformed_signature"


def test_r_not_on_curve_rejected() -> None:
    # x = 5 has no point on secp256k1 (5^3 + 7 = 132 is a non-residue mod p)
    sig = (5).to_bytes(32, "big") + (7).to_bytes(32, "big") + b"\x1b"
    with pytest.raises(InvalidSignature) as err:
        recover_address("text", sig)
    assert err.value.rule == "invalid_signature"


def test_local_signer_validates_key() -> None:
    with pytest.raises(ValueError):
        LocalWalletSigner(b"\x00" * 32)
    with pytest.raises(ValueError):
        LocalWalletSigner(b"\x01" * 31)
    generated = LocalWalletSigner.generate(lambda n: b"\x07" * n)
    assert generated.private_key == b"\x07" * 32


def test_matches_libxmtp_signer() -> None:
    """Byte-identical to libxmtp's own EIP-191 signer and address derivation (offline oracle)."""
    v = require_xmtp_bindings()
    signer = wallet(6)
    text = "XMTP : Authenticate to inbox\n\nInbox ID: x"
    assert signer.sign(text) == v.ethereum_sign_recoverable(text.encode(), signer.private_key, True)
    assert v.ethereum_hash_personal(text) == eip191_hash(text)
    public = v.ethereum_generate_public_key(signer.private_key)
    assert v.ethereum_address_from_pubkey(public) == signer.address == address_from_public_key(public)
