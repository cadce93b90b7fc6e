"""Inbox ids and the MLS credential naming an inbox."""

from __future__ import annotations

import hashlib

import pytest

from pyxmtp.identity.errors import AssociationError, MalformedUpdate
from pyxmtp.identity.inbox import (
    generate_inbox_id,
    inbox_id_for,
    inbox_id_from_credential_identity,
    is_inbox_id,
    mls_credential_identity,
)
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from tests.conftest import require_xmtp_bindings


def test_inbox_id_vectors() -> None:
    assert generate_inbox_id("0x1234567890abcdef1234567890abcdef12345678", 0) == (
        "fcd18d86276d7a99fe522dba9660c420f03c8648785ada7c5daae232a3df77a9"
    )
    assert generate_inbox_id("0xacdc6b894cf8e0dfdf50c01e7c2ea1877a3ac857", 1) == (
        "32fa864b1d4ab7fbc8b64ef9cf6f47ae7a6f2648ccb5a93d3b5ded98d31de3ab"
    )


def test_generate_lowercases_and_validates() -> None:
    upper = "0xACDC6B894CF8E0DFDF50C01E7C2EA1877A3AC857"
    assert generate_inbox_id(upper, 1) == generate_inbox_id(upper.lower(), 1)
    for bad in ["0x1234", "acdc6b894cf8e0dfdf50c01e7c2ea1877a3ac85g", ""]:
        with pytest.raises(MalformedUpdate):
            generate_inbox_id(bad, 0)
    with pytest.raises(ValueError):
        generate_inbox_id(upper, -1)
    with pytest.raises(ValueError):
        generate_inbox_id(upper, 2**64)


def test_inbox_id_for_hashes_the_identifier_as_carried() -> None:
    mixed = MemberIdentifier(MemberKind.ETHEREUM, "0xACDC6B894CF8E0DFDF50C01E7C2EA1877A3AC857")
    # libxmtp accepts either case here and hashes the text as given
    assert inbox_id_for(mixed, 1) != generate_inbox_id(mixed.address, 1)
    with pytest.raises(AssociationError) as err:
        inbox_id_for(MemberIdentifier(MemberKind.ETHEREUM, "acdc6b894cf8e0dfdf50c01e7c2ea1877a3ac857"), 0)
    assert err.value.rule == "invalid_account_address"
    passkey = MemberIdentifier.passkey(bytes.fromhex("04aa"))
    assert inbox_id_for(passkey, 7) == hashlib.sha256(b"04aa7").hexdigest()
    with pytest.raises(MalformedUpdate):
        inbox_id_for(MemberIdentifier.installation(b"\x01" * 32), 0)


def test_inbox_id_matches_libxmtp_generator() -> None:
    v = require_xmtp_bindings()
    address = "0x40898bffd6884d11d8f6fe46ecf9c50b3c038387"
    ident = v.FfiIdentifier(identifier=address, identifier_kind=v.FfiIdentifierKind.ETHEREUM)
    for nonce in (0, 1, 2**64 - 1):
        assert v.generate_inbox_id(ident, nonce) == generate_inbox_id(address, nonce)


def test_mls_credential_identity_layout() -> None:
    inbox_id = "32fa864b1d4ab7fbc8b64ef9cf6f47ae7a6f2648ccb5a93d3b5ded98d31de3ab"
    identity = mls_credential_identity(inbox_id)
    assert identity == b"\x0a\x40" + inbox_id.encode()
    assert len(identity) == 66
    assert inbox_id_from_credential_identity(identity) == inbox_id
    assert is_inbox_id(inbox_id) and not is_inbox_id(inbox_id.upper())


@pytest.mark.parametrize("identity", [b"\x0a\x05hello", b"\xff\xff", b"", b"\x0a\x40" + b"G" * 64])
def test_credential_not_naming_an_inbox(identity: bytes) -> None:
    with pytest.raises(MalformedUpdate) as err:
        inbox_id_from_credential_identity(identity)
    assert err.value.rule == "decode"
