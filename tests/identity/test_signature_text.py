"""Signature text, byte for byte with libxmtp (its unit-test text and a captured registration)."""

from __future__ import annotations

import hashlib

import pytest

from pyxmtp.identity.actions import (
    AddAssociation,
    ChangeRecoveryAddress,
    CreateInbox,
    RevokeAssociation,
    UnsignedIdentityUpdate,
)
from pyxmtp.identity.errors import MalformedUpdate
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signature_text import pretty_timestamp, signature_text
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2

CAPTURED_ADDRESS = "0xacdc6b894cf8e0dfdf50c01e7c2ea1877a3ac857"
CAPTURED_INBOX_ID = "32fa864b1d4ab7fbc8b64ef9cf6f47ae7a6f2648ccb5a93d3b5ded98d31de3ab"
CAPTURED_TIMESTAMP_NS = 1795658044741576729
CAPTURED_INSTALLATION_KEY = bytes.fromhex("673bab87a7242f417ef001e524d8cbf96aa5b0155b00a6be2087cce9a343ddcd")
CAPTURED_TEXT = (
    "XMTP : Authenticate to inbox\n"
    "\n"
    f"Inbox ID: {CAPTURED_INBOX_ID}\n"
    "Current time: 2026-11-26T01:54:04Z\n"
    "\n"
    "- Create inbox\n"
    f"  (Owner: {CAPTURED_ADDRESS})\n"
    "- Grant messaging access to app\n"
    f"  (ID: {CAPTURED_INSTALLATION_KEY.hex()})\n"
    "\n"
    "For more info: https://xmtp.org/signatures"
)


def test_captured_registration_text_reproduces() -> None:
    owner = MemberIdentifier.ethereum(CAPTURED_ADDRESS)
    update = UnsignedIdentityUpdate(
        inbox_id_for(owner, 1),
        CAPTURED_TIMESTAMP_NS,
        (CreateInbox(owner, 1), AddAssociation(MemberIdentifier.installation(CAPTURED_INSTALLATION_KEY))),
    )
    text = signature_text(update)
    assert text == CAPTURED_TEXT
    assert len(text.encode()) == 358
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "9c6e00605f2f85664689acb6ae83c22d334862de84261cd71c3f88a4e8f9cc02"
    )


def test_libxmtp_create_signatures_text() -> None:
    """libxmtp's ``unsigned_actions.rs`` test: every action kind in one update, timestamp 12 ns."""
    owner = MemberIdentifier.ethereum("0x1234567890abcdef1234567890abcdef12345678")
    new_address = MemberIdentifier.ethereum("0x4567890abcdef1234567890abcdef12345678123")
    new_installation = MemberIdentifier.installation(bytes([1, 2, 3]))
    new_recovery = MemberIdentifier.ethereum("0x7890abcdef1234567890abcdef12345678123456")
    update = UnsignedIdentityUpdate(
        inbox_id_for(owner, 0),
        12,
        (
            CreateInbox(owner, 0),
            AddAssociation(new_address),
            AddAssociation(new_installation),
            RevokeAssociation(new_address),
            RevokeAssociation(new_installation),
            ChangeRecoveryAddress(new_recovery),
        ),
    )
    assert signature_text(update) == (
        "XMTP : Authenticate to inbox\n"
        "\n"
        "Inbox ID: fcd18d86276d7a99fe522dba9660c420f03c8648785ada7c5daae232a3df77a9\n"
        "Current time: 1970-01-01T00:00:00Z\n"
        "\n"
        "- Create inbox\n"
        "  (Owner: 0x1234567890abcdef1234567890abcdef12345678)\n"
        "- Link address to inbox\n"
        "  (Address: 0x4567890abcdef1234567890abcdef12345678123)\n"
        "- Grant messaging access to app\n"
        "  (ID: 010203)\n"
        "- Unlink address from inbox\n"
        "  (Address: 0x4567890abcdef1234567890abcdef12345678123)\n"
        "- Revoke messaging access from app\n"
        "  (ID: 010203)\n"
        "- Change inbox recovery address\n"
        "  (Address: 0x7890abcdef1234567890abcdef12345678123456)\n"
        "\n"
        "For more info: https://xmtp.org/signatures"
    )


def test_passkey_lines() -> None:
    key = bytes.fromhex("04" + "ab" * 64)
    update = UnsignedIdentityUpdate(
        "i",
        0,
        (
            AddAssociation(MemberIdentifier.passkey(key, "https://rp")),
            RevokeAssociation(MemberIdentifier.passkey(key)),
            ChangeRecoveryAddress(MemberIdentifier.passkey(key)),
        ),
    )
    body = signature_text(update).split("\n\n")[2]
    assert body == (
        f"- Link passkey to inbox\n  (Passkey: {key.hex()})\n"
        f"- Unlink passkey from inbox\n  (Passkey: {key.hex()})\n"
        f"- Change inbox recovery address\n  (Address: {key.hex()})"
    )


@pytest.mark.parametrize(
    "ns,text",
    [
        (0, "1970-01-01T00:00:00Z"),
        (999_999_999, "1970-01-01T00:00:00Z"),
        (1_000_000_000, "1970-01-01T00:00:01Z"),
        (CAPTURED_TIMESTAMP_NS, "2026-11-26T01:54:04Z"),
        (2**63 - 1, "2262-04-11T23:47:16Z"),
        # chrono reads the u64 as i64: the top half of the range is before 1970, floored to seconds
        (2**63, "1677-09-21T00:12:43Z"),
        (2**64 - 1, "1969-12-31T23:59:59Z"),
    ],
)
def test_timestamp_formatting(ns: int, text: str) -> None:
    assert pretty_timestamp(ns) == text


def test_text_of_wire_update_keeps_identifiers_as_carried() -> None:
    update = association_pb2.IdentityUpdate(
        inbox_id="abc",
        client_timestamp_ns=0,
        actions=[
            association_pb2.IdentityAction(
                add=association_pb2.AddAssociation(
                    new_member_identifier=association_pb2.MemberIdentifier(ethereum_address="0xABCDEF"),
                    existing_member_signature=signature_pb2.Signature(),
                    new_member_signature=signature_pb2.Signature(),
                )
            ),
            association_pb2.IdentityAction(
                create_inbox=association_pb2.CreateInbox(
                    initial_identifier="ABCD",
                    initial_identifier_kind=association_pb2.IDENTIFIER_KIND_PASSKEY,
                    initial_identifier_signature=signature_pb2.Signature(),
                )
            ),
        ],
    )
    # addresses as carried; passkey identifiers are hex-decoded and printed lowercase (libxmtp Display)
    assert "(Address: 0xABCDEF)" in signature_text(update)
    assert "(Owner: abcd)" in signature_text(update)


def test_text_of_wire_update_with_bad_passkey_hex() -> None:
    update = association_pb2.IdentityUpdate(
        actions=[
            association_pb2.IdentityAction(
                create_inbox=association_pb2.CreateInbox(
                    initial_identifier="0xab",
                    initial_identifier_kind=association_pb2.IDENTIFIER_KIND_PASSKEY,
                    initial_identifier_signature=signature_pb2.Signature(),
                )
            )
        ]
    )
    with pytest.raises(MalformedUpdate) as err:
        signature_text(update)
    assert err.value.rule == "invalid_identifier"
