"""Property tests: random, mutated and forged identity updates only ever raise typed errors.

Every property also checks that the state an update was applied to is unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pyxmtp.identity.actions import (
    AddAssociation,
    ChangeRecoveryAddress,
    CreateInbox,
    RevokeAssociation,
    UnsignedAction,
    decode_identity_update,
)
from pyxmtp.identity.associations import AssociationState, apply_update
from pyxmtp.identity.errors import IdentityError
from pyxmtp.identity.inbox import generate_inbox_id
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2
from tests.identity.factories import (
    TS,
    OwnerScwVerifier,
    PasskeySigner,
    SigSource,
    installation,
    legacy_key,
    make_update,
    register,
    scw_signature,
    wallet,
)

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

A, B, C = wallet(1), wallet(2), wallet(3)
I1, I2, I3 = installation(1), installation(2), installation(3)
P = PasskeySigner(1)
SCW = "0x" + "5c" * 20
SCW_ID = MemberIdentifier.ethereum(SCW)
VERIFIER = OwnerScwVerifier({SCW: C})
INBOX = generate_inbox_id(A.address, 0)


def at(seconds: int) -> int:
    return TS + seconds * 1_000_000_000


def scw(text: str) -> signature_pb2.Signature:
    return scw_signature(C, SCW, 1, text)


# A valid log touching every signature kind and action kind.
LOG = [
    register(A, I1),
    make_update(
        INBOX, [(AddAssociation(B.identifier), [A, B]), (AddAssociation(I2.identifier), [B, I2])], at(1)
    ),
    make_update(INBOX, [(AddAssociation(P.identifier), [A, P.signature])], at(2)),
    make_update(INBOX, [(AddAssociation(I3.identifier), [legacy_key(A).signature, I3])], at(3)),
    make_update(INBOX, [(AddAssociation(SCW_ID), [P.signature, scw])], at(4)),
    make_update(INBOX, [(RevokeAssociation(B.identifier), [A]), (ChangeRecoveryAddress(SCW_ID), [A])], at(5)),
]


def _states() -> list[AssociationState | None]:
    states: list[AssociationState | None] = [None]
    for update in LOG:
        states.append(apply_update(states[-1], update, scw_verifier=VERIFIER))
    return states


STATES = _states()


def snapshot(state: AssociationState | None) -> bytes | None:
    return None if state is None else state.to_proto().SerializeToString(deterministic=True)


def apply_checked(
    state: AssociationState | None, update: association_pb2.IdentityUpdate, *, note: bool = True
) -> AssociationState | None:
    """Apply; only IdentityError may escape, and ``state`` must be unchanged either way."""
    before = snapshot(state)
    try:
        result: AssociationState | None = apply_update(state, update, scw_verifier=VERIFIER)
        if note:
            event("accepted")
    except IdentityError as err:
        if note:
            event(f"rejected: {err.rule}")
        result = None
    assert snapshot(state) == before
    return result


def test_log_is_valid() -> None:
    final = STATES[-1]
    assert final is not None
    assert final.recovery_identifier == SCW_ID
    assert set(final.installations()) == {I1.public_key, I3.public_key}  # I2 went with B
    assert {m.kind for m in final.members.values()} == {
        MemberKind.ETHEREUM,
        MemberKind.INSTALLATION,
        MemberKind.PASSKEY,
    }


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=600), index=st.integers(0, len(LOG)))
def test_random_bytes(data: bytes, index: int) -> None:
    try:
        update = decode_identity_update(data)
    except IdentityError:
        return
    apply_checked(STATES[index], update)


def _signature_messages(update: association_pb2.IdentityUpdate) -> list[Message]:
    out: list[Message] = []
    for action in update.actions:
        kind = action.WhichOneof("kind")
        assert kind is not None
        inner = getattr(action, kind)
        for fd, value in inner.ListFields():
            if fd.message_type is not None and fd.message_type.name == "Signature":
                out.append(value)
    return out


def _leaf_fields(msg: Message) -> list[tuple[Message, str]]:
    """Every bytes / integer field under ``msg`` (signatures hold no repeated fields)."""
    out: list[tuple[Message, str]] = []
    for fd, value in msg.ListFields():
        if fd.message_type is not None:
            out.extend(_leaf_fields(value))
        elif fd.type in (fd.TYPE_BYTES, fd.TYPE_UINT32):
            out.append((msg, fd.name))
    return out


@PROPERTY_SETTINGS
@given(index=st.integers(0, len(LOG) - 1), data=st.data())
def test_bit_flips_in_signatures_are_rejected(index: int, data: st.DataObject) -> None:
    update = association_pb2.IdentityUpdate()
    update.CopyFrom(LOG[index])
    fields = [f for sig in _signature_messages(update) for f in _leaf_fields(sig)]
    msg, name = data.draw(st.sampled_from(fields))
    value = getattr(msg, name)
    if isinstance(value, bytes):
        position = data.draw(st.integers(0, len(value) * 8 - 1))
        flipped = bytearray(value)
        flipped[position // 8] ^= 1 << (position % 8)
        setattr(msg, name, bytes(flipped))
    else:  # the legacy key's recovery id
        setattr(msg, name, value ^ (1 << data.draw(st.integers(0, 31))))
    assert apply_checked(STATES[index], update) is None
    assert apply_checked(STATES[index], LOG[index], note=False) is not None  # the original still applies


def _mutations() -> list[Callable[[association_pb2.IdentityUpdate, st.DataObject], None]]:
    def inbox_id(u: association_pb2.IdentityUpdate, d: st.DataObject) -> None:
        u.inbox_id = d.draw(
            st.sampled_from([generate_inbox_id(B.address, 0), INBOX.upper(), "", INBOX + "0"])
        )

    def timestamp(u: association_pb2.IdentityUpdate, d: st.DataObject) -> None:
        u.client_timestamp_ns = (u.client_timestamp_ns + d.draw(st.integers(1, 10**6)) * 10**9) % 2**64

    def drop_action(u: association_pb2.IdentityUpdate, d: st.DataObject) -> None:
        del u.actions[d.draw(st.integers(0, len(u.actions) - 1))]

    def duplicate_action(u: association_pb2.IdentityUpdate, d: st.DataObject) -> None:
        u.actions.append(u.actions[d.draw(st.integers(0, len(u.actions) - 1))])

    def reverse_actions(u: association_pb2.IdentityUpdate, d: st.DataObject) -> None:
        actions = list(u.actions)
        if len(actions) < 2:
            del u.actions[:]
            return
        del u.actions[:]
        u.actions.extend(reversed(actions))

    def swap_signatures(u: association_pb2.IdentityUpdate, d: st.DataObject) -> None:
        sigs = _signature_messages(u)
        others = [s for s in _signature_messages(d.draw(st.sampled_from(LOG))) if s not in sigs]
        if not others:
            sigs[0].Clear()
            return
        d.draw(st.sampled_from(sigs)).CopyFrom(d.draw(st.sampled_from(others)))

    def clear_field(u: association_pb2.IdentityUpdate, d: st.DataObject) -> None:
        action = d.draw(st.sampled_from(list(u.actions)))
        kind = action.WhichOneof("kind")
        assert kind is not None
        inner = getattr(action, kind)
        # not covered by the signature text, and without effect when cleared: relying_party (carried, unread)
        # and an ETHEREUM identifier kind (UNSPECIFIED also means Ethereum)
        unsigned = {"relying_party", "initial_identifier_kind", "new_recovery_identifier_kind"}
        fields = [fd for fd, value in inner.ListFields() if fd.name not in unsigned or value == 2]
        inner.ClearField(d.draw(st.sampled_from(fields)).name)

    def identifier(u: association_pb2.IdentityUpdate, d: st.DataObject) -> None:
        action = d.draw(st.sampled_from(list(u.actions)))
        other = d.draw(st.sampled_from([C.address, "0x" + A.address[2:].upper(), SCW, "", "0x12"]))
        kind = action.WhichOneof("kind")
        if kind == "create_inbox":
            action.create_inbox.initial_identifier = other
            action.create_inbox.nonce += d.draw(st.integers(0, 1))
        elif kind == "add":
            action.add.new_member_identifier.CopyFrom(
                d.draw(
                    st.sampled_from([I3.identifier, MemberIdentifier(MemberKind.ETHEREUM, other)])
                ).to_proto()
            )
        elif kind == "revoke":
            action.revoke.member_to_revoke.CopyFrom(MemberIdentifier(MemberKind.ETHEREUM, other).to_proto())
        else:
            action.change_recovery_address.new_recovery_identifier = other

    return [
        inbox_id,
        timestamp,
        drop_action,
        duplicate_action,
        reverse_actions,
        swap_signatures,
        clear_field,
        identifier,
    ]


MUTATIONS = _mutations()


@PROPERTY_SETTINGS
@given(index=st.integers(0, len(LOG) - 1), mutation=st.sampled_from(MUTATIONS), data=st.data())
def test_field_mutations_are_rejected(
    index: int, mutation: Callable[[association_pb2.IdentityUpdate, st.DataObject], None], data: st.DataObject
) -> None:
    update = association_pb2.IdentityUpdate()
    update.CopyFrom(LOG[index])
    mutation(update, data)
    if update == LOG[index]:
        return
    result = apply_checked(STATES[index], update)
    if not update.actions and STATES[index] is not None and update.inbox_id == INBOX:
        assert result == STATES[index]  # an empty update is a no-op in libxmtp too
    else:
        assert result is None


# random but correctly signed updates: the state machine decides, and invariants hold ----------------------

MEMBERS: list[MemberIdentifier] = [
    A.identifier,
    B.identifier,
    C.identifier,
    I1.identifier,
    I2.identifier,
    I3.identifier,
    P.identifier,
]
SOURCES: dict[MemberIdentifier, SigSource] = {
    A.identifier: A,
    B.identifier: B,
    C.identifier: C,
    I1.identifier: I1,
    I2.identifier: I2,
    I3.identifier: I3,
    P.identifier: P.signature,
}
st_member = st.sampled_from(MEMBERS)
st_identifier = st.sampled_from([m for m in MEMBERS if m.is_identifier])


@st.composite
def st_action(draw: st.DrawFn) -> tuple[UnsignedAction, list[SigSource]]:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        ident = draw(st_identifier)
        return CreateInbox(ident, 0), [
            SOURCES[draw(st_identifier)] if draw(st.booleans()) else SOURCES[ident]
        ]
    if kind == 1:
        new = draw(st_member)
        signer = draw(st_member)
        return AddAssociation(new), [
            SOURCES[signer],
            SOURCES[new] if draw(st.integers(0, 4)) else SOURCES[draw(st_member)],
        ]
    if kind == 2:
        return RevokeAssociation(draw(st_member)), [SOURCES[draw(st_identifier)]]
    return ChangeRecoveryAddress(draw(st_identifier)), [SOURCES[draw(st_identifier)]]


@PROPERTY_SETTINGS
@given(
    index=st.integers(0, len(LOG)),
    actions=st.lists(st_action(), min_size=0, max_size=3),
    second=st.integers(10, 10**6),
)
def test_random_signed_updates_keep_invariants(
    index: int, actions: list[tuple[UnsignedAction, list[SigSource]]], second: int
) -> None:
    state = STATES[index]
    inbox = state.inbox_id if state is not None else INBOX
    update = make_update(inbox, actions, at(second))
    after = apply_checked(state, update)
    if after is None:
        return
    assert after.inbox_id == inbox
    if state is not None:
        assert state.seen_signatures < after.seen_signatures or not actions
        if not any(isinstance(a, ChangeRecoveryAddress) for a, _ in actions):
            assert after.recovery_identifier == state.recovery_identifier
    for member in after.members.values():
        if member.kind is MemberKind.INSTALLATION:
            assert member.added_by_entity is not None and member.client_timestamp_ns is not None
    # applying the same update again is always refused
    assert apply_checked(after, update) is None or not actions


@pytest.mark.parametrize("index", range(len(LOG)))
def test_every_log_entry_is_replay_protected(index: int) -> None:
    final = STATES[-1]
    assert apply_checked(final, LOG[index], note=False) is None


# structurally valid protobufs with random contents ---------------------------------------------------------

st_address = st.one_of(
    st.sampled_from([A.address, B.address, SCW, "0x" + A.address[2:].upper()]),
    st.text(max_size=44),
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
)


@st.composite
def st_random_signature(draw: st.DrawFn) -> signature_pb2.Signature:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return signature_pb2.Signature(
            erc_191=signature_pb2.RecoverableEcdsaSignature(bytes=draw(st.binary(min_size=63, max_size=66)))
        )
    if kind == 1:
        return signature_pb2.Signature(
            installation_key=signature_pb2.RecoverableEd25519Signature(
                bytes=draw(st.binary(min_size=63, max_size=65)),
                public_key=draw(
                    st.one_of(st.sampled_from([I1.public_key, I2.public_key]), st.binary(max_size=33))
                ),
            )
        )
    if kind == 2:
        return signature_pb2.Signature(
            erc_6492=signature_pb2.SmartContractWalletSignature(
                account_id=draw(st.one_of(st.just(f"eip155:1:{SCW}"), st.text(max_size=60))),
                block_number=draw(st.integers(0, 2**64 - 1)),
                signature=draw(st.binary(max_size=70)),
            )
        )
    if kind == 3:
        return signature_pb2.Signature(
            passkey=signature_pb2.RecoverablePasskeySignature(
                public_key=draw(st.one_of(st.just(P.public_key), st.binary(max_size=66))),
                signature=draw(st.binary(max_size=72)),
                authenticator_data=draw(st.binary(max_size=40)),
                client_data_json=draw(
                    st.one_of(st.binary(max_size=80), st.just(b'{"challenge": "", "origin": "o"}'))
                ),
            )
        )
    if kind == 4:
        legacy = legacy_key(A).signature("x")
        legacy.delegated_erc_191.signature.bytes = draw(st.binary(min_size=64, max_size=66))
        return legacy
    return signature_pb2.Signature()


@st.composite
def st_random_update(draw: st.DrawFn) -> association_pb2.IdentityUpdate:
    actions = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(0, 4))
        member = draw(
            st.one_of(st_member, st_address.map(lambda a: MemberIdentifier(MemberKind.ETHEREUM, a)))
        ).to_proto()
        if kind == 0:
            action = association_pb2.IdentityAction(
                create_inbox=association_pb2.CreateInbox(
                    initial_identifier=draw(st_address),
                    nonce=draw(st.integers(0, 2**64 - 1)),
                    initial_identifier_signature=draw(st_random_signature()),
                    initial_identifier_kind=draw(st.integers(0, 3)),
                )
            )
        elif kind == 1:
            action = association_pb2.IdentityAction(
                add=association_pb2.AddAssociation(
                    new_member_identifier=member,
                    existing_member_signature=draw(st_random_signature()),
                    new_member_signature=draw(st_random_signature()),
                )
            )
        elif kind == 2:
            action = association_pb2.IdentityAction(
                revoke=association_pb2.RevokeAssociation(
                    member_to_revoke=member, recovery_identifier_signature=draw(st_random_signature())
                )
            )
        elif kind == 3:
            action = association_pb2.IdentityAction(
                change_recovery_address=association_pb2.ChangeRecoveryAddress(
                    new_recovery_identifier=draw(st_address),
                    existing_recovery_identifier_signature=draw(st_random_signature()),
                    new_recovery_identifier_kind=draw(st.integers(0, 3)),
                )
            )
        else:
            action = association_pb2.IdentityAction()
        actions.append(action)
    return association_pb2.IdentityUpdate(
        inbox_id=draw(st.one_of(st.just(INBOX), st.text(max_size=70))),
        client_timestamp_ns=draw(st.integers(0, 2**64 - 1)),
        actions=actions,
    )


@PROPERTY_SETTINGS
@given(index=st.integers(0, len(LOG)), update=st_random_update())
def test_random_structured_updates(index: int, update: association_pb2.IdentityUpdate) -> None:
    result = apply_checked(STATES[index], update)
    if result is not None:  # only a no-op can get through with random signatures
        assert not update.actions and result == STATES[index]
