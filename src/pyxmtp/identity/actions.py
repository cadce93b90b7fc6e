"""Unsigned identity actions (XIP-46) and reading them out of ``IdentityUpdate`` protobufs.

An unsigned action is what the signers agree to: it and its siblings render into one signature text
(:mod:`pyxmtp.identity.signature_text`). :func:`parse_update` splits a wire update into its unsigned actions
plus, for each action, the signatures it carries, in libxmtp's order; nothing is verified here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message

from pyxmtp.identity.errors import MalformedUpdate, Rule
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2


@dataclass(frozen=True, slots=True)
class CreateInbox:
    """Create the inbox ``hash(identifier, nonce)``; signed by ``identifier``."""

    identifier: MemberIdentifier
    nonce: int


@dataclass(frozen=True, slots=True)
class AddAssociation:
    """Add ``new_member``; signed by the new member and by an existing member (or the recovery identifier)."""

    new_member: MemberIdentifier


@dataclass(frozen=True, slots=True)
class RevokeAssociation:
    """Remove ``member`` (and the installations it added); signed by the recovery identifier."""

    member: MemberIdentifier


@dataclass(frozen=True, slots=True)
class ChangeRecoveryAddress:
    """Make ``new_recovery`` the recovery identifier; signed by the current one."""

    new_recovery: MemberIdentifier


UnsignedAction = CreateInbox | AddAssociation | RevokeAssociation | ChangeRecoveryAddress


@dataclass(frozen=True, slots=True)
class UnsignedIdentityUpdate:
    inbox_id: str
    client_timestamp_ns: int
    actions: tuple[UnsignedAction, ...]


@dataclass(frozen=True, slots=True)
class ParsedAction:
    """One wire action: the unsigned part, and its signatures by role (field name), in verification order."""

    action: UnsignedAction
    signatures: tuple[tuple[str, signature_pb2.Signature], ...]


def decode_identity_update(data: bytes) -> association_pb2.IdentityUpdate:
    """Parse protobuf bytes as an ``IdentityUpdate``; raise :class:`MalformedUpdate` (``decode``) otherwise."""
    try:
        return association_pb2.IdentityUpdate.FromString(data)
    except ProtoDecodeError as exc:
        raise MalformedUpdate(Rule.DECODE, f"IdentityUpdate: {exc}") from exc


def _signature_field(msg: Message, name: str) -> signature_pb2.Signature:
    if not msg.HasField(name):
        raise MalformedUpdate(Rule.MISSING_FIELD, f"{msg.DESCRIPTOR.name}.{name}")
    sig = getattr(msg, name)
    if not isinstance(sig, signature_pb2.Signature):  # the schema makes every such field a Signature
        raise TypeError(f"{msg.DESCRIPTOR.name}.{name} is not a Signature")
    return sig


def parse_action(proto: association_pb2.IdentityAction) -> ParsedAction:
    """Read one ``IdentityAction`` as libxmtp does (identifier strings kept as carried)."""
    kind = proto.WhichOneof("kind")
    if kind == "create_inbox":
        c = proto.create_inbox
        rp = c.relying_party if c.HasField("relying_party") else None
        ident = MemberIdentifier.from_identifier_text(c.initial_identifier, c.initial_identifier_kind, rp)
        sig = _signature_field(c, "initial_identifier_signature")
        return ParsedAction(CreateInbox(ident, c.nonce), (("initial_identifier_signature", sig),))
    if kind == "add":
        a = proto.add
        # libxmtp reads new_member_signature, then existing_member_signature, then the identifier
        new_sig = _signature_field(a, "new_member_signature")
        existing_sig = _signature_field(a, "existing_member_signature")
        if not a.HasField("new_member_identifier"):
            raise MalformedUpdate(Rule.MISSING_FIELD, "AddAssociation.new_member_identifier")
        return ParsedAction(
            AddAssociation(MemberIdentifier.from_proto(a.new_member_identifier)),
            (("existing_member_signature", existing_sig), ("new_member_signature", new_sig)),
        )
    if kind == "revoke":
        r = proto.revoke
        sig = _signature_field(r, "recovery_identifier_signature")
        if not r.HasField("member_to_revoke"):
            raise MalformedUpdate(Rule.MISSING_FIELD, "RevokeAssociation.member_to_revoke")
        return ParsedAction(
            RevokeAssociation(MemberIdentifier.from_proto(r.member_to_revoke)),
            (("recovery_identifier_signature", sig),),
        )
    if kind == "change_recovery_address":
        ch = proto.change_recovery_address
        rp = ch.relying_party if ch.HasField("relying_party") else None
        new = MemberIdentifier.from_identifier_text(
            ch.new_recovery_identifier, ch.new_recovery_identifier_kind, rp
        )
        sig = _signature_field(ch, "existing_recovery_identifier_signature")
        return ParsedAction(ChangeRecoveryAddress(new), (("existing_recovery_identifier_signature", sig),))
    raise MalformedUpdate(Rule.MISSING_FIELD, "IdentityAction has no kind")


def parse_update(update: association_pb2.IdentityUpdate) -> tuple[UnsignedIdentityUpdate, list[ParsedAction]]:
    """Split a wire update into its unsigned form and its per-action signatures."""
    parsed = [parse_action(a) for a in update.actions]
    unsigned = UnsignedIdentityUpdate(
        update.inbox_id, update.client_timestamp_ns, tuple(p.action for p in parsed)
    )
    return unsigned, parsed


def wire_signatures(update: association_pb2.IdentityUpdate) -> Iterator[signature_pb2.Signature]:
    """Every signature ``update`` carries, action by action (absent ones as empty messages), unparsed."""
    for action in update.actions:
        kind = action.WhichOneof("kind")
        if kind == "create_inbox":
            yield action.create_inbox.initial_identifier_signature
        elif kind == "add":
            yield action.add.existing_member_signature
            yield action.add.new_member_signature
        elif kind == "revoke":
            yield action.revoke.recovery_identifier_signature
        elif kind == "change_recovery_address":
            yield action.change_recovery_address.existing_recovery_identifier_signature


def _identifier_fields(
    ident: MemberIdentifier,
) -> tuple[str, association_pb2.IdentifierKind.ValueType, str | None]:
    if ident.kind is MemberKind.INSTALLATION:
        raise MalformedUpdate(Rule.INVALID_IDENTIFIER, "an installation key cannot own or recover an inbox")
    rp = ident.relying_party if ident.kind is MemberKind.PASSKEY else None
    return str(ident), ident.identifier_kind(), rp


def action_to_proto(
    action: UnsignedAction, signatures: Sequence[signature_pb2.Signature]
) -> association_pb2.IdentityAction:
    """Wire form of ``action`` with its signatures (CreateInbox/Revoke/Change: 1; Add: existing, new)."""
    if isinstance(action, CreateInbox):
        text, kind, rp = _identifier_fields(action.identifier)
        create = association_pb2.CreateInbox(
            initial_identifier=text,
            nonce=action.nonce,
            initial_identifier_signature=signatures[0],
            initial_identifier_kind=kind,
        )
        if rp is not None:
            create.relying_party = rp
        return association_pb2.IdentityAction(create_inbox=create)
    if isinstance(action, AddAssociation):
        add = association_pb2.AddAssociation(
            new_member_identifier=action.new_member.to_proto(),
            existing_member_signature=signatures[0],
            new_member_signature=signatures[1],
        )
        if action.new_member.kind is MemberKind.PASSKEY and action.new_member.relying_party is not None:
            add.relying_party = action.new_member.relying_party
        return association_pb2.IdentityAction(add=add)
    if isinstance(action, RevokeAssociation):
        return association_pb2.IdentityAction(
            revoke=association_pb2.RevokeAssociation(
                member_to_revoke=action.member.to_proto(), recovery_identifier_signature=signatures[0]
            )
        )
    text, kind, rp = _identifier_fields(action.new_recovery)
    change = association_pb2.ChangeRecoveryAddress(
        new_recovery_identifier=text,
        existing_recovery_identifier_signature=signatures[0],
        new_recovery_identifier_kind=kind,
    )
    if rp is not None:
        change.relying_party = rp
    return association_pb2.IdentityAction(change_recovery_address=change)
