"""Encoding-independent replay fingerprints (the node's hardening beyond libxmtp's replay rule)."""

from __future__ import annotations

import pytest

from pyxmtp.identity.actions import AddAssociation
from pyxmtp.identity.errors import AssociationError
from pyxmtp.identity.inbox import generate_inbox_id
from pyxmtp.identity.replay import check_no_reencoded_replay, signature_fingerprints
from pyxmtp.proto.identity.associations import association_pb2
from tests.identity.factories import TS, make_update, wallet

A, B = wallet(1), wallet(2)
INBOX_A = generate_inbox_id(A.address, 0)


def at(seconds: int) -> int:
    return TS + seconds * 1_000_000_000


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _add_b(t: int = 1) -> association_pb2.IdentityUpdate:
    return make_update(INBOX_A, [(AddAssociation(B.identifier), [A, B])], at(t))


def _mutate_sigs(update: association_pb2.IdentityUpdate, fn: object) -> association_pb2.IdentityUpdate:
    assert callable(fn)
    copy = association_pb2.IdentityUpdate()
    copy.CopyFrom(update)
    for sig in (copy.actions[0].add.existing_member_signature, copy.actions[0].add.new_member_signature):
        sig.erc_191.bytes = fn(sig.erc_191.bytes)
    return copy


def _flip_v(b: bytes) -> bytes:
    return b[:64] + bytes([b[64] - 27 if b[64] >= 27 else b[64] + 27])


def _high_s(b: bytes) -> bytes:
    s = int.from_bytes(b[32:64], "big")
    return b[:32] + (SECP256K1_N - s).to_bytes(32, "big") + b[64:]


@pytest.mark.parametrize("reencode", [_flip_v, _high_s], ids=["v", "s"])
def test_reencoded_signatures_have_the_same_fingerprints(reencode: object) -> None:
    add = _add_b()
    again = _mutate_sigs(add, reencode)
    assert again.SerializeToString() != add.SerializeToString()
    assert signature_fingerprints(again) == signature_fingerprints(add)
    with pytest.raises(AssociationError, match="replay"):
        check_no_reencoded_replay([add], again)


def test_fresh_signatures_pass() -> None:
    check_no_reencoded_replay([_add_b(1)], _add_b(2))
    check_no_reencoded_replay([], _add_b(1))


def test_one_signature_may_serve_several_actions_of_the_same_update() -> None:
    update = _add_b()
    assert len(signature_fingerprints(update)) == 2  # A's and B's
    check_no_reencoded_replay([], update)
